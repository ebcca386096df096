"""The probe's table and Markdown show each cell as psfleet wrote it: a fleet whose every host
chose SMB 3.0 (or 2.1) reads "3.0", not the number 3 right-aligned (tabulate parses numeric
text unless told not to), and a host named with digits stays text."""

from __future__ import annotations

import pytest

from toolkit.report.probe import render_probe_run
from toolkit.smb.fleet import ProbeHost, ProbeRun, ProbeStatus
from toolkit.smb.probe import NegotiateInfo, SmbProbeResult

GUID = "766d0000-0000-0000-0000-000000000000"


def _host(name: str, address: str, dialect: str) -> ProbeHost:
    probe = SmbProbeResult(address, 445, ("2.0.2", "3.1.1"), NegotiateInfo(dialect, 0x07, 0x01, GUID))
    return ProbeHost(name, address, 445, ProbeStatus.PROBED, probe)


def _run(*hosts: ProbeHost) -> ProbeRun:
    return ProbeRun(hosts, "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00", "inv.yml", "0.1.0")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_dialects_that_look_like_numbers_stay_as_written(fmt: str) -> None:
    text = render_probe_run(_run(_host("fs01", "10.0.0.1", "3.0"), _host("fs02", "10.0.0.2", "2.1")), fmt)
    lines = [line for line in text.splitlines() if "fs0" in line]
    assert len(lines) == 2
    assert " 3.0 " in lines[0] and " 2.1 " in lines[1], text


def test_a_host_named_with_digits_is_text_at_the_left() -> None:
    text = render_probe_run(_run(_host("1001", "10.0.0.1", "3.0"), _host("12", "10.0.0.2", "3.0")), "table")
    rows = [line for line in text.splitlines() if "10.0.0." in line]
    assert [row.split()[0] for row in rows] == ["1001", "12"]
    assert rows[1].startswith("12 ")  # left-aligned like every name, not padded on the left
