"""WS-Man / PSRP protocol behaviour: Receive long-poll and TimedOut, stopping a pipeline,
is_alive, faults for bad requests (never a crash), and MaxEnvelopeSize."""

from __future__ import annotations

import base64
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell
from pypsrp.wsman import NAMESPACES, WSMan

from tests.integration.lab.conftest import SMB_CLIENT_CHANNELS, WS, host_of, invoke, open_pool, props
from toolkit.lab.fleet import Fleet

SHELL_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
TIMED_OUT = 2150858793


@pytest.fixture
def exchanges(fleet: Fleet) -> Iterator[list[tuple[bytes, bytes]]]:
    """Every (request, reply) SOAP pair the lab handles during the test."""
    seen: list[tuple[bytes, bytes]] = []
    fleet.server.on_exchange = lambda request, reply: seen.append((request, reply))
    yield seen
    fleet.server.on_exchange = None


def _actions(pairs: list[tuple[bytes, bytes]]) -> list[str]:
    out = []
    for _, reply in pairs:
        action = ET.fromstring(reply).find("s:Header/wsa:Action", NAMESPACES)
        out.append("" if action is None or action.text is None else action.text.rsplit("/", 1)[-1])
    return out


def _fault_codes(pairs: list[tuple[bytes, bytes]]) -> list[str]:
    codes = []
    for _, reply in pairs:
        fault = ET.fromstring(reply).find(
            ".//{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}WSManFault"
        )
        if fault is not None:
            codes.append(fault.get("Code", ""))
    return codes


# -- long-poll ------------------------------------------------------------------------------
def test_long_pipeline_survives_operation_timeouts(
    fleet: Fleet, exchanges: list[tuple[bytes, bytes]]
) -> None:
    host = host_of(fleet, "cmd-05")
    start = time.monotonic()
    with open_pool(host, operation_timeout=1, read_timeout=4) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 3)
        ps.add_statement()
        ps.add_cmdlet("Test-Path").add_argument(WS)
        out = invoke(ps)
    elapsed = time.monotonic() - start
    assert ps.state == PSInvocationState.COMPLETED
    assert 2.5 < elapsed < 15
    # The lab answered w:TimedOut at least once and pypsrp polled again (docs/windows-facts.md#wsman-receive-timeout).
    assert _fault_codes(exchanges).count(str(TIMED_OUT)) >= 2
    assert out == [True]


def test_begin_invoke_then_stop_stops_the_pipeline(fleet: Fleet) -> None:
    host = host_of(fleet, "cmd-05")
    with open_pool(host, operation_timeout=1, read_timeout=4) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 30)
        ps.begin_invoke()
        assert ps.state == PSInvocationState.RUNNING
        shell = fleet.endpoint(host.name).shells[str(rp.id).upper()]
        assert shell.pipeline_running(uuid.UUID(ps.id))
        start = time.monotonic()
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        assert not shell.pipeline_running(uuid.UUID(ps.id))
        assert time.monotonic() - start < 5
        # The pool is still usable after the stop.
        ps2 = PowerShell(rp)
        ps2.add_cmdlet("Test-Path").add_argument(WS)
        assert invoke(ps2) == [True]


# -- shell state and bad requests -----------------------------------------------------------
def test_is_alive_while_open(fleet: Fleet) -> None:
    rp = open_pool(host_of(fleet, "cmd-05"))
    try:
        assert rp.is_alive() is True
    finally:
        rp.close()


def _invoke_raw(wsman: WSMan, action: str, shell_id: str | None = None) -> ET.Element:
    from pypsrp.wsman import SelectorSet

    selectors = None
    if shell_id is not None:
        selectors = SelectorSet()
        selectors.add_option("ShellId", shell_id)
    return wsman.invoke(action, SHELL_URI, None, selector_set=selectors)


def _still_serves(fleet: Fleet) -> None:
    with open_pool(host_of(fleet, "cmd-05")) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Test-Path").add_argument(WS)
        assert invoke(ps) == [True]


def test_unknown_shell_id_is_a_wsman_fault(fleet: Fleet) -> None:
    wsman = WSMan(**_wsman_kwargs(fleet))
    with pytest.raises(WSManFaultError) as info:
        _invoke_raw(
            wsman, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive", str(uuid.uuid4())
        )
    assert info.value.code == 0x8033805B
    assert "shell was not found" in str(info.value.reason)
    _still_serves(fleet)


def test_bad_action_is_a_wsman_fault(fleet: Fleet) -> None:
    with open_pool(host_of(fleet, "cmd-05")) as rp:
        with pytest.raises(WSManFaultError) as info:
            _invoke_raw(
                rp.connection, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Bogus", str(rp.id)
            )
        assert info.value.code == 0x80338005
        # The same connection and pool go on working.
        ps = PowerShell(rp)
        ps.add_cmdlet("Test-Path").add_argument(WS)
        assert invoke(ps) == [True]


def _wsman_kwargs(fleet: Fleet) -> dict[str, object]:
    host = host_of(fleet, "cmd-05")
    return {
        "server": host.address,
        "port": host.port,
        "ssl": False,
        "auth": "ntlm",
        "username": host.username,
        "password": host.password,
        "connection_timeout": 5,
        "read_timeout": 10,
        "operation_timeout": 5,
    }


@pytest.mark.parametrize(
    "payload",
    [
        b"not xml at all <",
        b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body/></s:Envelope>",
        b"<Envelope/>",
        b"\x00\xff" * 50,
    ],
    ids=["not-xml", "no-header", "wrong-root", "binary"],
)
def test_malformed_envelopes_get_a_fault_and_the_server_keeps_serving(fleet: Fleet, payload: bytes) -> None:
    wsman = WSMan(**_wsman_kwargs(fleet))
    with pytest.raises(WinRMTransportError) as info:
        wsman.transport.send(payload)  # authenticated and encrypted by pypsrp's transport
    assert info.value.code == 400
    assert "XML is invalid" in info.value.response_text
    _still_serves(fleet)


def _command_with_arguments(wsman: WSMan, shell_id: str, arguments: str) -> ET.Element:
    from pypsrp.wsman import SelectorSet

    selectors = SelectorSet()
    selectors.add_option("ShellId", shell_id)
    rsp = NAMESPACES["rsp"]
    cmd = ET.Element(f"{{{rsp}}}CommandLine", CommandId=str(uuid.uuid4()).upper())
    ET.SubElement(cmd, f"{{{rsp}}}Command")
    ET.SubElement(cmd, f"{{{rsp}}}Arguments").text = arguments
    return wsman.invoke(
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
        SHELL_URI,
        cmd,
        selector_set=selectors,
    )


@pytest.mark.parametrize(
    "arguments",
    [
        "!!! not base64 !!!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(b"\x00" * 21 + b"\x10" + b"\xff" * 40).decode(),
    ],
    ids=["bad-base64", "short-fragment", "garbage-psrp"],
)
def test_garbage_psrp_is_a_fault_not_a_crash(fleet: Fleet, arguments: str) -> None:
    with open_pool(host_of(fleet, "cmd-05")) as rp:
        with pytest.raises(WSManFaultError) as info:
            _command_with_arguments(rp.connection, str(rp.id).upper(), arguments)
        assert "XML is invalid" in str(info.value.reason)
        assert "The command is not a valid PSRP CreatePipeline" in str(info.value.reason)
        ps = PowerShell(rp)
        ps.add_cmdlet("Test-Path").add_argument(WS)
        assert invoke(ps) == [True]
    _still_serves(fleet)


# -- MaxEnvelopeSize ------------------------------------------------------------------------
@pytest.mark.parametrize("max_envelope_size", [8192, 32768, 153600])
def test_responses_respect_max_envelope_size(
    fleet: Fleet, exchanges: list[tuple[bytes, bytes]], max_envelope_size: int
) -> None:
    host = host_of(fleet, "big")
    rp = open_pool(host)
    rp.connection.max_envelope_size = max_envelope_size
    try:
        ps = PowerShell(rp)
        ps.add_cmdlet("Get-WinEvent").add_parameter("LogName", list(SMB_CLIENT_CHANNELS))
        out = invoke(ps)
    finally:
        rp.close()
    assert len(out) == 300
    assert {props(e)["Id"] for e in out} == {31012}
    receives = [reply for request, reply in exchanges if b"/windows/shell/Receive<" in request]
    assert len(receives) > 1 if max_envelope_size < 153600 else len(receives) >= 1
    assert max(len(r) for r in receives) <= max_envelope_size


def test_long_multistring_arrives_whole_under_a_small_envelope(
    fleet: Fleet, exchanges: list[tuple[bytes, bytes]]
) -> None:
    values = [f"share-{i:04d}-" + "x" * 40 for i in range(400)]  # ~20 KB of strings
    host = host_of(fleet, "cmd-06")
    rp = open_pool(host)
    rp.connection.max_envelope_size = 8192
    try:
        ps = PowerShell(rp)
        ps.add_cmdlet("Set-ItemProperty").add_parameter("Path", WS).add_parameter("Name", "LabLongList")
        ps.add_parameter("Value", values).add_parameter("Type", "MultiString")
        ps.add_statement()
        ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter("Name", "LabLongList")
        (obj,) = invoke(ps)
    finally:
        rp.close()
    assert list(props(obj)["LabLongList"]) == values
    receives = [reply for request, reply in exchanges if b"/windows/shell/Receive<" in request]
    assert max(len(r) for r in receives) <= 8192
