"""The probe's fleet loop keeps going when one host's probe fails with an unexpected exception
(a bug, no thread left to resolve a name): that host is ``error`` "internal error: ...", as the
threaded fan-out reported a task that raised, and every other host is still probed."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolkit.smb.aio
from toolkit.fanout.task import FanoutOptions
from toolkit.inventory.loader import load_inventory
from toolkit.smb.fleet import ProbeStatus, probe_fleet
from toolkit.smb.probe import SmbProbeResult


def test_one_host_raising_is_an_internal_error_and_the_others_are_probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "inv.yml"
    hosts = "".join(f"  h{i}:\n    address: 192.0.2.{i + 1}\n" for i in range(4))
    path.write_text(f"psfleet: 1\nhosts:\n{hosts}", encoding="utf-8")

    async def fake_probe(address: str, port: int = 445, **_: object) -> SmbProbeResult:
        if address == "192.0.2.2":
            raise RuntimeError("can't start new thread")
        return SmbProbeResult(address, port)

    monkeypatch.setattr(toolkit.smb.aio, "probe_smb_async", fake_probe)
    run = probe_fleet(load_inventory(path), options=FanoutOptions(forks=2, timeout=5))

    statuses = {h.name: h.status for h in run.hosts}
    assert statuses == {
        "h0": ProbeStatus.PROBED,
        "h1": ProbeStatus.ERROR,
        "h2": ProbeStatus.PROBED,
        "h3": ProbeStatus.PROBED,
    }
    failed = run.hosts[1]
    assert failed.error is not None
    assert failed.error.message == "internal error: RuntimeError: can't start new thread"
    assert not run.interrupted and run.exit_code == 8
