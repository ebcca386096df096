"""The probe's event-loop path (toolkit.smb.aio, what ``probe smb`` and ``toolkit.api.probe``
run): the same answers as the threaded probe_smb for lab hosts and hostile peers, each host's
own deadline against a trickling peer, a thousand hosts in flight on one loop, and Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.smb.cli_helpers import write_probe_inventory
from tests.integration.smb.listeners import listener
from tests.integration.smb.test_smb_hostile import (
    _http,
    _huge_length,
    _negotiate_then_http,
    _negotiate_then_stall,
    _trickle,
)
from tests.support.labfleet import lab_fleet_fixtures
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.task import FanoutOptions
from toolkit.inventory.loader import load_inventory
from toolkit.inventory.model import Host
from toolkit.lab.fleet import Fleet
from toolkit.smb.aio import probe_smb_async
from toolkit.smb.fleet import ProbeHost, ProbeStatus, probe_fleet
from toolkit.smb.probe import SmbProbeResult, probe_smb

ROOT = Path(__file__).resolve().parents[3]
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"

SPEC = f"""users:
  - {{name: admin, password: 'Adm1n-Lab!', admin: true}}
hosts:
  - {{name: as-2022, profile: server2022}}
  - name: as-2012r2
    profile: server2012r2
    registry:
      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
  - {{name: as-2008r2, profile: server2008r2}}
  - {{name: as-win10, profile: win10}}
"""

fleet, _inventory = lab_fleet_fixtures(SPEC, "async")


def _fixed_garbage(conn: socket.socket, stop: threading.Event) -> None:
    # A type byte of 0 and a length of 0x20 bytes, then fewer bytes than that.
    conn.recv(4096)
    conn.sendall(b"\x00\x00\x00\x20" + b"\xab" * 8)


def _same(result: SmbProbeResult) -> dict[str, Any]:
    """The result as JSON, without what is a measurement: the duration, and the time a
    connection had left when it started (``no answer within 0.486s``)."""
    out = result.to_dict()
    del out["duration_s"]
    return json.loads(re.sub(r"within [0-9.]+s", "within Ns", json.dumps(out)))


def _both(address: str, port: int, timeout: float = 1.5) -> tuple[dict[str, Any], dict[str, Any]]:
    threaded = probe_smb(address, port, timeout=timeout)
    on_loop = asyncio.run(probe_smb_async(address, port, timeout=timeout))
    return _same(threaded), _same(on_loop)


def test_the_loop_gives_the_threaded_probes_answers_for_lab_hosts(fleet: Fleet) -> None:
    seen = set()
    for host in fleet.hosts:
        threaded, on_loop = _both(host.address, host.smb_port or 0)
        assert on_loop == threaded, host.name
        seen.add((on_loop["dialect"], on_loop["signing_required"], on_loop["smb1_accepted"]))
        assert on_loop["identity"]["netbios_computer"] == host.name.upper()
    # The fleet covers several answers: different dialects, signing required or not, SMB1 on/off.
    assert {("3.1.1", False, False), ("3.0.2", True, True), ("2.1", False, True)} <= seen


def test_the_loop_gives_the_threaded_probes_answers_for_hostile_peers(closed_port: int) -> None:
    answers = {}
    for behaviour in (_http, _fixed_garbage, _huge_length, _negotiate_then_http, _negotiate_then_stall):
        with listener(behaviour) as port:
            threaded, on_loop = _both("127.0.0.1", port, timeout=1.0)
        assert on_loop == threaded, behaviour.__name__
        answers[behaviour.__name__] = on_loop
    threaded, on_loop = _both("127.0.0.1", closed_port)
    assert on_loop == threaded

    assert on_loop["error"]["kind"] == "unreachable" and "Connection refused" in on_loop["error"]["message"]
    assert "HTTP server" in answers["_http"]["error"]["message"]
    # A sane header announcing 32 bytes, then 8: the body never completes.
    assert answers["_fixed_garbage"]["error"]["kind"] == "timeout"
    assert "16777215 bytes announced" in answers["_huge_length"]["error"]["message"]
    assert answers["_negotiate_then_http"]["identity_note"].startswith("session setup: protocol_error")
    assert answers["_negotiate_then_stall"]["identity_note"].startswith("session setup: timeout")


def test_a_trickling_peer_times_out_at_its_own_deadline_and_the_lab_hosts_are_probed(
    fleet: Fleet, tmp_path: Path
) -> None:
    with listener(_trickle) as trickle:
        ports = {f"trickle-{i}": trickle for i in range(8)}
        ports.update({h.name: h.smb_port or 0 for h in fleet.hosts})
        inventory = load_inventory(write_probe_inventory(tmp_path / "inv.yml", ports))
        run = probe_fleet(inventory, options=FanoutOptions(forks=16, timeout=1.25, retries=0))

    by_name = {h.name: h for h in run.hosts}
    for i in range(8):
        host = by_name[f"trickle-{i}"]
        assert host.status is ProbeStatus.TIMEOUT
        # The probe's budget is the host's deadline less the margin: 1.25 - 0.25 s.
        assert host.error is not None and host.error.message.endswith("no answer within 1s")
        # A trickle never completes a message: only the deadline can end it.
        assert host.probe is not None and host.probe.duration_s >= 1.0
    for h in fleet.hosts:
        assert by_name[h.name].status is ProbeStatus.PROBED, by_name[h.name].error
    assert run.exit_code == 8 and not run.interrupted


def test_a_thousand_hosts_on_one_loop(fleet: Fleet, tmp_path: Path) -> None:
    lab = list(fleet.hosts)
    # 1,000 inventory hosts over the lab's four SMB listeners, 200 in flight (50 per listener:
    # a lab host's listen backlog is 100).
    ports = {f"many-{i:04d}": lab[i % len(lab)].smb_port or 0 for i in range(1000)}
    inventory = load_inventory(write_probe_inventory(tmp_path / "inv.yml", ports))
    started: list[str] = []
    finished: list[str] = []
    done: list[tuple[list[str], bool]] = []
    hooks: Hooks[ProbeHost] = Hooks(
        on_start=lambda host: started.append(host.name),
        on_result=lambda result: finished.append(result.name),
        on_done=lambda results, interrupted: done.append(([r.name for r in results], interrupted)),
    )

    run = probe_fleet(
        inventory,
        options=FanoutOptions(forks=200, timeout=30, retries=0),
        hooks=hooks,
        per_dialect=(),
        smb1=False,
        identify=False,
    )

    names = list(ports)
    assert [h.name for h in run.hosts] == names  # inventory order, each host once
    assert run.summary["probed"] == 1000, [h.error for h in run.hosts if h.error][:3]
    expected = {h.smb_port: h for h in lab}
    for host in run.hosts:
        assert host.probe is not None and host.probe.dialect is not None
        assert host.probe.identity is None  # --no-identify
        assert host.port in expected
    assert sorted(started) == names and sorted(finished) == names
    assert done == [(names, False)]


def test_a_stop_event_starts_no_more_hosts(fleet: Fleet, tmp_path: Path) -> None:
    ports = {f"stop-{i:02d}": fleet.hosts[0].smb_port or 0 for i in range(40)}
    inventory = load_inventory(write_probe_inventory(tmp_path / "inv.yml", ports))
    stop = threading.Event()

    def on_start(host: Host) -> None:
        if host.name == "stop-09":
            stop.set()

    run = probe_fleet(
        inventory, options=FanoutOptions(forks=2, timeout=10), hooks=Hooks(on_start=on_start), stop=stop
    )

    assert run.interrupted and run.exit_code == 8
    statuses = [h.status for h in run.hosts]
    assert statuses[:10] == [ProbeStatus.PROBED] * 10  # running hosts finish
    assert statuses[-20:] == [ProbeStatus.ERROR] * 20
    assert run.hosts[-1].error is not None and run.hosts[-1].error.message == "not run: interrupted"


def _accept_and_count(accepted: list[int]) -> Any:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        accepted.append(1)
        stop.wait()

    return behaviour


def test_ctrl_c_stops_the_running_hosts_and_reports_every_host(tmp_path: Path) -> None:
    accepted: list[int] = []
    with listener(_accept_and_count(accepted)) as silent:
        inventory = write_probe_inventory(tmp_path / "inv.yml", {f"mute-{i:02d}": silent for i in range(20)})
        argv = [sys.executable, "-c", "from toolkit.cli import main; main()", "probe", "smb"]
        argv += ["-i", str(inventory), "--format", "json", "--forks", "5", "--timeout", "60", "--no-record"]
        env = {**os.environ, "PSFLEET_NO_PROGRESS": "1"}
        # A background job inherits SIGINT ignored; give the child Python's default handling.
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            give_up = time.monotonic() + 30
            while len(accepted) < 5 and time.monotonic() < give_up and proc.poll() is None:
                time.sleep(0.05)
            assert len(accepted) == 5, "the probe did not connect to its first five hosts"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)  # far less than the 60 s deadline
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["run"]["interrupted"] is True
    messages = [h["error"]["message"] for h in doc["hosts"]]
    assert messages == ["interrupted while running"] * 5 + ["not run: interrupted"] * 15
    assert [h["status"] for h in doc["hosts"]] == ["error"] * 20


def test_probe_fleet_works_when_called_from_a_running_event_loop(fleet: Fleet, tmp_path: Path) -> None:
    # A notebook or an async application calls the library from inside its own loop.
    inventory = load_inventory(
        write_probe_inventory(tmp_path / "inv.yml", {h.name: h.smb_port or 0 for h in fleet.hosts})
    )

    threads: set[str] = set()
    seen: list[str] = []

    def on_result(result: object) -> None:
        threads.add(threading.current_thread().name)
        seen.append(getattr(result, "name", ""))

    async def application() -> list[ProbeStatus]:
        run = probe_fleet(
            inventory,
            options=FanoutOptions(forks=4, timeout=10),
            per_dialect=(),
            hooks=Hooks(on_start=lambda h: threads.add(threading.current_thread().name), on_result=on_result),
        )
        return [h.status for h in run.hosts]

    assert asyncio.run(application()) == [ProbeStatus.PROBED] * len(fleet.hosts)
    # The hooks protocol promises the caller's thread, even when the loop runs on another.
    assert threads == {threading.current_thread().name}
    assert sorted(seen) == sorted(h.name for h in inventory.hosts)


def test_an_unknown_dialect_is_refused_before_any_host_is_probed(tmp_path: Path) -> None:
    inventory = load_inventory(write_probe_inventory(tmp_path / "inv.yml", {"h": 9}))
    started: list[str] = []

    with pytest.raises(ValueError, match=re.escape("unknown SMB2 dialect '3.1'")):
        probe_fleet(inventory, per_dialect=("3.1",), hooks=Hooks(on_start=lambda h: started.append(h.name)))
    assert started == []


def test_a_host_by_name_is_looked_up_once_and_answers_as_by_address(fleet: Fleet) -> None:
    host = fleet.hosts[0]
    by_name = asyncio.run(probe_smb_async("localhost", host.smb_port or 0, timeout=5))
    by_address = asyncio.run(probe_smb_async(host.address, host.smb_port or 0, timeout=5))

    assert by_name.ok and by_name.dialect == by_address.dialect
    assert [d.to_dict() for d in by_name.per_dialect] == [d.to_dict() for d in by_address.per_dialect]
    assert by_name.identity == by_address.identity
    assert by_name.smb1 is not None and by_address.smb1 is not None
    assert by_name.smb1.accepted == by_address.smb1.accepted  # the note names the target as given


def test_a_name_that_does_not_resolve_is_unreachable_as_in_the_threaded_probe() -> None:
    threaded, on_loop = _both("no-such-host.invalid", 445)

    assert on_loop == threaded
    assert on_loop["error"]["kind"] == "unreachable" and "TCP connect failed" in on_loop["error"]["message"]


def test_a_peer_that_never_reads_times_out_a_send_at_the_deadline() -> None:
    # A listener that accepts and never reads: once both buffers are full, a request can only
    # be sent in part, and the rest waits on the loop until the connection's deadline.
    with listener(lambda conn, stop: stop.wait()) as port:

        async def stalled() -> str:
            from toolkit.smb.aio import connect
            from toolkit.smb.stream import StreamError

            loop = asyncio.get_running_loop()
            conn = await connect("127.0.0.1", port, deadline=loop.time() + 1.0)
            assert conn.sock is not None
            with contextlib.suppress(BlockingIOError):
                while True:
                    conn.sock.send(b"\0" * 65536)
            try:
                await conn.exchange(b"\0\0\0\x04abcd" * 1024)
            except StreamError as exc:
                assert conn.sock is None  # closed, nothing left registered on the loop
                return f"{exc.error.kind.value}: {exc.error.message}"
            return "answered"

        outcome = asyncio.run(stalled())

    assert outcome.startswith("timeout: 127.0.0.1:") and "no answer within" in outcome
