"""A probe's memory must not depend on what a host sends: hostile listeners on 127.0.0.1 (an
HTTP server, garbage, a 16 MiB length, a slow trickle) in the same probe run as healthy lab
hosts. The probe's peak allocation (tracemalloc, every thread of this process) stays small,
each hostile host gets its own classified error, and the healthy hosts are still reported."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.integration.smb.cli_helpers import write_probe_inventory
from tests.integration.smb.listeners import listener
from tests.support.labfleet import lab_fleet_fixtures
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.loader import load_inventory
from toolkit.lab.fleet import Fleet
from toolkit.smb.diagnose import DiagnosisResult, DiagnosisStatus, diagnose_validate_negotiate
from toolkit.smb.fleet import ProbeStatus, probe_fleet
from toolkit.smb.frames import negotiate_response
from toolkit.smb.probe import probe_smb

#: The probe reads at most 64 KiB per message; a few MiB covers threads, sockets and results.
#: smbprotocol allocated 1.2 GB for an HTTP answer.
PEAK_LIMIT = 8 * 1024 * 1024

T = TypeVar("T")


def _http(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request")


def _garbage(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(4096)
    conn.sendall(b"\x00" + os.urandom(3) + os.urandom(8192))


def _huge_length(conn: socket.socket, stop: threading.Event) -> None:
    # A valid session-message type byte and the largest 24-bit length, then endless data.
    conn.recv(4096)
    conn.sendall(b"\x00\xff\xff\xff")
    chunk = b"\0" * 65536
    with contextlib.suppress(OSError):
        while not stop.is_set():
            conn.sendall(chunk)


def _trickle(conn: socket.socket, stop: threading.Event) -> None:
    # A sane header (1 KiB) and then one byte every 200 ms.
    conn.recv(4096)
    conn.sendall(b"\x00\x00\x04\x00")
    with contextlib.suppress(OSError):
        while not stop.is_set():
            conn.sendall(b"\xfe")
            time.sleep(0.2)


SPEC = """users:
  - {name: admin, password: 'Adm1n-Lab!', admin: true}
hosts:
  - {name: ok-1, profile: server2022}
  - {name: ok-2, profile: server2012r2}
  - {name: ok-3, profile: win10}
"""


fleet, _inventory = lab_fleet_fixtures(SPEC, "hostile")


def peak_while(fn: Callable[[], T]) -> tuple[T, int]:
    """``fn()``'s result and the peak of Python allocations while it ran (all threads)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def diagnose(port: int) -> DiagnosisResult:
    return diagnose_validate_negotiate("127.0.0.1", port, username="u", password="p", timeout=5)


def test_hostile_listeners_cost_bounded_memory_and_healthy_hosts_are_still_reported(
    fleet: Fleet, tmp_path: Path
) -> None:
    with (
        listener(_http) as http,
        listener(_garbage) as garbage,
        listener(_huge_length) as huge,
        listener(_trickle) as trickle,
    ):
        ports = {"http": http, "garbage": garbage, "huge": huge, "trickle": trickle}
        ports.update({h.name: h.smb_port or 0 for h in fleet.hosts})
        inventory = load_inventory(write_probe_inventory(tmp_path / "inv.yml", ports))

        options = FanoutOptions(forks=8, timeout=3.0, retries=0)
        run, peak = peak_while(lambda: probe_fleet(inventory, options=options))

    by_name = {h.name: h for h in run.hosts}
    assert peak < PEAK_LIMIT, f"probe peak {peak} bytes"
    assert by_name["http"].status is ProbeStatus.PROTOCOL_ERROR
    assert by_name["http"].error is not None and "HTTP server" in by_name["http"].error.message
    assert by_name["garbage"].status is ProbeStatus.PROTOCOL_ERROR
    assert by_name["huge"].status is ProbeStatus.PROTOCOL_ERROR
    assert by_name["huge"].error is not None and "16777215 bytes announced" in by_name["huge"].error.message
    assert by_name["trickle"].status is ProbeStatus.TIMEOUT
    for name, dialect in (("ok-1", "3.1.1"), ("ok-2", "3.0.2"), ("ok-3", "3.1.1")):
        host = by_name[name]
        assert host.status is ProbeStatus.PROBED, host.error
        assert host.probe is not None and host.probe.dialect == dialect
        assert host.probe.identity is not None and host.probe.identity.netbios_computer == name.upper()


def test_diagnose_checks_the_header_before_smbprotocol_reads() -> None:
    with listener(_http) as port:
        result, peak = peak_while(lambda: diagnose(port))

    assert result.status is DiagnosisStatus.ERROR
    assert result.error is not None and result.error.kind.value == "protocol_error"
    assert "HTTP server" in result.error.message
    assert peak < PEAK_LIMIT, f"diagnosis peak {peak} bytes"


def _answer_negotiate(conn: socket.socket) -> None:
    """Read one message; answer an SMB2 NEGOTIATE with a sane SMB 3.0.2 response."""
    header = conn.recv(4)
    length = int.from_bytes(header[1:], "big")
    request = b""
    while len(request) < length:
        request += conn.recv(length - len(request))
    if request[:4] != b"\xfeSMB":
        return
    (message_id,) = struct.unpack_from("<Q", request, 24)
    reply = negotiate_response(
        dialect=0x0302, security_mode=0x01, capabilities=0x07, server_guid=bytes(16), message_id=message_id
    )
    conn.sendall(len(reply).to_bytes(4, "big") + reply)


def _negotiate_then_http(conn: socket.socket, stop: threading.Event) -> None:
    # A sane NEGOTIATE answer, then "HTTP/1.1 ..." to whatever comes next: what a device in
    # the path that is not SMB could send once the session setup starts.
    _answer_negotiate(conn)
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def _negotiate_then_stall(conn: socket.socket, stop: threading.Event) -> None:
    _answer_negotiate(conn)
    stop.wait()


def test_a_stalled_session_setup_leaves_time_for_the_other_negotiates() -> None:
    with listener(_negotiate_then_stall) as port:
        probe = probe_smb("127.0.0.1", port, timeout=2.0, per_dialect=("3.0.2",))

    assert probe.ok and probe.dialect == "3.0.2"
    assert probe.identity is None and "timeout" in probe.identity_note
    assert [(d.dialect, d.supported) for d in probe.per_dialect] == [("3.0.2", True)]
    assert probe.smb1 is not None and probe.smb1.accepted is None  # no answer in time: unknown


def test_diagnose_bounds_smbprotocol_reads_after_the_negotiate() -> None:
    with listener(_negotiate_then_http) as port:
        result, peak = peak_while(lambda: diagnose(port))

    assert peak < PEAK_LIMIT, f"diagnosis peak {peak} bytes"
    assert result.status is DiagnosisStatus.ERROR
    assert result.stage is not None and result.stage.value == "session_setup"
    assert result.dialect == "3.0.2"
