"""The lab answers SMB: each lab host's own SMB responder, probed over TCP like a real server,
agrees with its OS profile (dialects by build) and its registry (signing, SMB1), and names
itself in the NTLM challenge."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.integration.smb.cli_helpers import SRV, WS, hosts_by_name
from tests.support.cli import run_cli
from tests.support.labfleet import lab_fleet_fixtures
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import SERVER_KEY
from toolkit.smb.probe import probe_smb

SPEC = f"""users:
  - {{name: admin, password: 'Adm1n-Lab!', admin: true}}
hosts:
  - {{name: old-win7, profile: win7}}
  - {{name: fs-2012, profile: server2012}}
  - {{name: fs-2012r2, profile: server2012r2}}
  - {{name: ws-win10, profile: win10}}
  - name: dc-2022
    profile: server2022
    registry:
      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}, SMB1: {{kind: DWord, value: 1}}}}
      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
  - name: legacy-off
    profile: server2008r2
    registry:
      '{SRV}': {{SMB1: {{kind: DWord, value: 0}}}}
"""


fleet, inventory = lab_fleet_fixtures(SPEC, "smb-lab")


def _probe(fleet: Fleet, name: str, **kw: object):  # type: ignore[no-untyped-def]
    host = next(h for h in fleet.hosts if h.name == name)
    assert host.smb_port, "the fleet should report each host's SMB port"
    return probe_smb(host.address, host.smb_port, timeout=10, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "dialect", "dialects"),
    [
        ("old-win7", "2.1", ("2.0.2", "2.1")),
        ("fs-2012", "3.0", ("2.0.2", "2.1", "3.0")),
        ("fs-2012r2", "3.0.2", ("2.0.2", "2.1", "3.0", "3.0.2")),
        ("ws-win10", "3.1.1", ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1")),
    ],
)
def test_highest_dialect_follows_the_os_build(
    fleet: Fleet, name: str, dialect: str, dialects: tuple[str, ...]
) -> None:
    probe = _probe(fleet, name)

    assert probe.ok, probe.error
    assert probe.dialect == dialect
    assert probe.server_dialects == dialects


def test_signing_and_smb1_follow_the_registry(fleet: Fleet) -> None:
    dc = _probe(fleet, "dc-2022")
    win10 = _probe(fleet, "ws-win10")
    win7 = _probe(fleet, "old-win7")
    legacy_off = _probe(fleet, "legacy-off")

    assert dc.signing_required is True and dc.signing_text == "Message signing enabled and required"
    assert dc.relay_target is False
    # SMB1 = 1 turns SMB1 on even on a build that has it off by default; its signing is required too.
    assert dc.smb1 is not None and dc.smb1.accepted is True and dc.smb1.signing_required is True
    assert win10.signing_text == "Message signing enabled but not required" and win10.relay_target
    assert win10.smb1 is not None and win10.smb1.accepted is False  # off by default from 1709
    assert win7.smb1 is not None and win7.smb1.accepted is True  # on by default before 1709
    assert legacy_off.smb1 is not None and legacy_off.smb1.accepted is False


def test_a_registry_change_shows_on_the_wire_at_once(fleet: Fleet) -> None:
    registry = fleet.sim("fs-2012r2").registry
    registry.set(SERVER_KEY, "RequireSecuritySignature", "DWord", 1)
    try:
        probe = _probe(fleet, "fs-2012r2", per_dialect=())
    finally:
        registry.set(SERVER_KEY, "RequireSecuritySignature", "DWord", 0)

    assert probe.signing_required is True
    assert _probe(fleet, "fs-2012r2", per_dialect=()).signing_required is False


def test_each_host_names_itself_in_the_ntlm_challenge(fleet: Fleet) -> None:
    probe = _probe(fleet, "fs-2012r2", per_dialect=(), smb1=False)

    assert probe.identity is not None, probe.identity_note
    assert probe.identity.netbios_computer == "FS-2012R2"
    assert probe.identity.netbios_domain == "LAB"
    assert probe.identity.dns_computer == "fs-2012r2.lab.psfleet.test"
    assert probe.identity.os_version == "6.3.9600"


def test_the_lab_responder_drops_a_non_smb_client_and_keeps_serving(fleet: Fleet) -> None:
    host = next(h for h in fleet.hosts if h.name == "ws-win10")
    assert host.smb_port
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\xff\xff\xff" + b"A" * 1000):
        with socket.create_connection((host.address, host.smb_port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            assert s.recv(100) == b"", "the responder should close the connection without answering"

    assert _probe(fleet, "ws-win10", per_dialect=()).dialect == "3.1.1"


def test_probe_smb_cli_on_a_lab_fleet(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["probe", "smb", "-i", str(inventory), "--format", "json"], capsys)

    assert code == 0, err
    hosts = hosts_by_name(json.loads(out))
    assert hosts["dc-2022"]["signing_required"] is True
    assert hosts["dc-2022"]["identity"]["netbios_computer"] == "DC-2022"
    assert hosts["old-win7"]["smb1_accepted"] is True
    assert hosts["ws-win10"]["probe"]["server_dialects"][-1] == "3.1.1"


def test_relay_list_names_the_hosts_that_do_not_require_signing(
    inventory: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["probe", "smb", "-i", str(inventory), "--format", "relay-list", "--no-per-dialect"]
    code, out, err = run_cli(args, capsys)

    assert code == 0, err
    ports = {h.name: h.smb_port for h in fleet.hosts}
    expected = [
        f"127.0.0.1:{ports[n]}" for n in ("old-win7", "fs-2012", "fs-2012r2", "ws-win10", "legacy-off")
    ]
    assert out.splitlines() == expected


def test_audit_with_probe_compares_the_lab_wire_with_its_registry(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["audit", "-i", str(inventory), "--with-probe", "--format", "json", "--limit", "dc-2022,ws-win10"]
    _, out, _ = run_cli(args, capsys)

    hosts = hosts_by_name(json.loads(out))
    assert hosts["dc-2022"]["probe"]["status"] == "match"
    assert hosts["dc-2022"]["probe"]["wire_required"] is True
    assert hosts["ws-win10"]["probe"]["status"] == "match"
    assert hosts["ws-win10"]["probe"]["wire_required"] is False


def test_set_smbserverconfiguration_shows_on_the_wire(fleet: Fleet) -> None:
    # What an admin runs on the host (the lab's cmdlet writes LanmanServer SMB1 and
    # RequireSecuritySignature, as Windows does); the SMB responder reads them live.
    sim = fleet.sim("fs-2012")
    admin = fleet.spec.users[0]
    before = _probe(fleet, "fs-2012", per_dialect=())
    sim.run_script(
        "Set-SmbServerConfiguration -EnableSMB1Protocol $false -RequireSecuritySignature $true -Force",
        user=admin,
    )
    try:
        after = _probe(fleet, "fs-2012", per_dialect=())
    finally:
        sim.registry.delete(SERVER_KEY, "SMB1")
        sim.registry.set(SERVER_KEY, "RequireSecuritySignature", "DWord", 0)

    assert before.smb1 is not None and before.smb1.accepted is True  # build 9200: on by default
    assert before.signing_required is False
    assert after.smb1 is not None and after.smb1.accepted is False
    assert after.signing_required is True


def _read_message(s: socket.socket) -> bytes:
    header = b""
    while len(header) < 4:
        chunk = s.recv(4 - len(header))
        if not chunk:
            return b""
        header += chunk
    length = int.from_bytes(header[1:], "big")
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        assert chunk, "closed in the middle of an answer"
        body += chunk
    return body


def test_the_lab_answers_pipelined_messages_in_order_and_at_most_16_a_connection(fleet: Fleet) -> None:
    from toolkit.lab.smb import MAX_MESSAGES
    from toolkit.smb.aio import requests
    from toolkit.smb.frames import parse_negotiate_response

    host = next(h for h in fleet.hosts if h.name == "ws-win10")
    assert host.smb_port
    wire = requests()
    # Seventeen NEGOTIATEs in one write, each offering one dialect in turn.
    order = ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"]
    asked = [order[i % len(order)] for i in range(MAX_MESSAGES + 1)]
    with socket.create_connection((host.address, host.smb_port), timeout=5) as s:
        s.sendall(b"".join(wire.negotiate_one[d] for d in asked))
        answers = []
        while body := _read_message(s):
            answers.append(parse_negotiate_response(body).dialect)
    dialects = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}
    assert [dialects[a] for a in answers] == asked[:MAX_MESSAGES]  # then the connection closes


def test_a_lab_host_holds_at_most_128_connections_and_serves_again_after(fleet: Fleet) -> None:
    from toolkit.lab.smb import MAX_CONNECTIONS
    from toolkit.smb.aio import requests

    host = next(h for h in fleet.hosts if h.name == "fs-2012")
    assert host.smb_port
    held = [
        socket.create_connection((host.address, host.smb_port), timeout=5) for _ in range(MAX_CONNECTIONS)
    ]
    try:
        # Each held connection has been answered once, so the responder counts all of them.
        for s in held:
            s.sendall(requests().negotiate_all)
            assert _read_message(s)
        with socket.create_connection((host.address, host.smb_port), timeout=5) as extra:
            extra.settimeout(5)
            assert extra.recv(100) == b"", "one connection too many is closed without an answer"
    finally:
        for s in held:
            s.close()
    assert _probe(fleet, "fs-2012", per_dialect=()).dialect == "3.0"
