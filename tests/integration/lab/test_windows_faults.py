"""What recorded Windows does and the lab now does too, end to end over TCP: the pool opening
answered over two Receives, Windows' fault for an unknown CommandId, and Windows' "Access is
denied" fault for an account that may not use the PowerShell endpoint, each as pypsrp and
psfleet (its classification, its CLI) see it.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from psrpcore._payload import unpack_fragment, unpack_message
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool

from tests.integration.lab.conftest import PASSWORD, WS, start_fleet, wsman_for
from tests.support.cli import run_cli
from toolkit.lab.fleet import Fleet, FleetHost
from toolkit.results import ErrorKind
from toolkit.transport.classify import ACCESS_DENIED_FIX, classify
from toolkit.transport.lean.soap import fault as lean_fault

SPEC = f"""
users:
  - {{name: admin, password: "{PASSWORD}", admin: true}}
  - {{name: outsider, password: "{PASSWORD}", admin: false, remoting: false}}
hosts:
  - {{name: win, profile: server2016}}
"""
S = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
RSP = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
UNKNOWN_COMMAND = (
    "The Windows Remote Shell received a request to perform an operation on a command identifier that does "
    "not exist. Either the command has completed execution or the client specified an invalid command "
    "identifier."
)


@pytest.fixture(scope="module")
def lab() -> Iterator[Fleet]:
    fleet = start_fleet(SPEC)
    yield fleet
    fleet.stop()


@pytest.fixture
def exchanges(lab: Fleet) -> Iterator[list[tuple[ET.Element, ET.Element, bytes]]]:
    """(request, reply, raw reply) of every exchange while the test runs."""
    seen: list[tuple[ET.Element, ET.Element, bytes]] = []
    lab.server.on_exchange = lambda req, reply: seen.append((ET.fromstring(req), ET.fromstring(reply), reply))
    yield seen
    lab.server.on_exchange = None


def _host(lab: Fleet) -> FleetHost:
    return lab.hosts[0]


def _action(envelope: ET.Element) -> str:
    return (envelope.findtext(f"{{{S}}}Header/{{{WSA}}}Action") or "").rsplit("/", 1)[-1]


def _message_types(envelope: ET.Element) -> list[str]:
    types: list[str] = []
    for stream in envelope.iter(f"{{{RSP}}}Stream"):
        data = bytearray(base64.b64decode(stream.text or ""))
        while data:
            fragment = unpack_fragment(data)
            data = data[21 + len(fragment.data) :]
            if fragment.start and fragment.end:
                types.append(unpack_message(bytearray(fragment.data)).message_type.name)
    return types


def test_pool_opening_arrives_over_two_receives_and_clients_still_open(
    lab: Fleet, exchanges: list[tuple[ET.Element, ET.Element, bytes]]
) -> None:
    with RunspacePool(wsman_for(_host(lab))) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Test-Path").add_argument(WS)
        assert ps.invoke() == [True]
    receives = [reply for req, reply, _ in exchanges if _action(req) == "Receive"]
    pool_receives = [r for r in receives if not any(s.get("CommandId") for s in r.iter(f"{{{RSP}}}Stream"))]
    # Windows Server 2016's split (pypsrp's recorded test_psrp_open_runspace).
    assert [_message_types(r) for r in pool_receives] == [
        ["SessionCapability", "ApplicationPrivateData"],
        ["RunspacePoolState"],
    ]


def test_psfleet_audits_through_the_split_opening(
    lab: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "lab.yml"
    lab.write_inventory(inventory)
    code, out, _ = run_cli(["audit", "-i", str(inventory), "--format", "json"], capsys)
    (host,) = json.loads(out)["hosts"]
    assert host["status"] == "drift", host  # server2016 as shipped is not the desired state
    assert code == 4


def _receive_unknown_command(pool: RunspacePool) -> None:
    """A Receive on the open pool for a CommandId it never had (pypsrp's test_psrp_receive_failure)."""
    ps = PowerShell(pool)
    ps.state = PSInvocationState.RUNNING
    ps._command_id = ps.id
    pool.pipelines[ps.id] = ps
    ps.end_invoke()


def test_receive_for_an_unknown_command_id_gets_windows_fault(
    lab: Fleet, exchanges: list[tuple[ET.Element, ET.Element, bytes]]
) -> None:
    wsman = wsman_for(_host(lab))
    with RunspacePool(wsman) as pool, pytest.raises(WSManFaultError) as info:
        _receive_unknown_command(pool)
    # pypsrp reads the WSManFault message, as its own test against the recording expects.
    assert info.value.code == 2150858843
    assert str(info.value.reason) == UNKNOWN_COMMAND
    (reply, raw) = next((reply, raw) for _, reply, raw in exchanges if _action(reply) == "fault")
    assert reply.findtext(f".//{{{S}}}Subcode/{{{S}}}Value") == "w:InvalidSelectors"
    assert reply.findtext(f".//{{{S}}}Reason/{{{S}}}Text") == (
        "The WS-Management service cannot process the request because the request contained invalid selectors "
        "for the resource. "
    )
    assert reply.findtext(f".//{{{WSMAN}}}FaultDetail") == (
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"
    )
    # psfleet's classification, from pypsrp's exception and from the lean client's own parse
    # of the same bytes: a protocol error that carries Windows' words, never access denied.
    for exc in (info.value, lean_fault(raw.decode("utf-8"))):
        error = classify(exc, endpoint="win:5985", sent=True)
        assert error.kind is ErrorKind.PROTOCOL_ERROR
        assert "2150858843" in error.message and "command identifier that does not exist" in error.message


def test_an_account_without_remoting_rights_gets_windows_access_denied(
    lab: Fleet, exchanges: list[tuple[ET.Element, ET.Element, bytes]]
) -> None:
    pool = RunspacePool(wsman_for(_host(lab), username="outsider", password=PASSWORD))
    with pytest.raises(WSManFaultError) as info:
        pool.open()
    assert info.value.code == 5
    assert str(info.value.reason) == "Access is denied."
    ((request, reply, _),) = [x for x in exchanges if _action(x[1]) == "fault"]
    assert _action(request) == "Create"  # the logon worked; the shell was refused
    assert reply.findtext(f".//{{{S}}}Subcode/{{{S}}}Value") == "w:AccessDenied"
    assert reply.find(f".//{{{FAULT}}}WSManFault").get("Code") == "5"  # type: ignore[union-attr]
    error = classify(info.value, endpoint="win:5985", sent=True)
    assert error.kind is ErrorKind.ACCESS_DENIED
    assert ACCESS_DENIED_FIX in error.message


def test_psfleet_reports_the_refused_account_as_access_denied_with_the_fix(
    lab: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outsider = next(u for u in lab.spec.users if u.name == "outsider")
    inventory = tmp_path / "outsider.yml"
    lab.write_inventory(inventory, user=outsider)
    code, out, _ = run_cli(["audit", "-i", str(inventory), "--format", "json"], capsys)
    (host,) = json.loads(out)["hosts"]
    assert host["status"] == "access_denied", host
    assert "Remote Management Users or Administrators" in json.dumps(host["error"])
    assert code == 8  # not assessed
