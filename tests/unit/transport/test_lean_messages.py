"""The lean client's prebuilt PSRP messages, framing and parsing, against psrpcore's server
side as the peer (no sockets)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psrpcore
import pytest
import spnego
from psrpcore.types import ErrorCategory, ErrorCategoryInfo, NETException, PSInt, PSInt64, PSObject, PSString
from pypsrp.exceptions import WinRMError, WSManFaultError

from toolkit.checks.probe import AUDIT_STATEMENTS
from toolkit.transport.lean import psrp, soap
from toolkit.transport.lean.http import Target, WinRMConnection
from toolkit.transport.model import Command, PSObj, PSValue


def server_pool(rpid: uuid.UUID) -> psrpcore.ServerRunspacePool:
    pool = psrpcore.ServerRunspacePool()
    pool.receive_data(
        psrpcore.PSRPPayload(psrp.frame(psrp.open_messages(), rpid, None), psrpcore.StreamType.default, None)
    )
    while pool.next_event() is not None:
        pass
    return pool


def drain(pool: psrpcore.ServerRunspacePool) -> list[bytes]:
    out = []
    while (payload := pool.data_to_send()) is not None:
        out.append(payload.data)
    return out


def test_open_messages_open_a_psrpcore_pool_with_our_pool_id() -> None:
    rpid = uuid.uuid4()
    pool = server_pool(rpid)
    assert pool.runspace_pool_id == rpid
    assert pool.state == psrpcore.types.RunspacePoolState.Opened
    # ...and the client reads the Opened state from the server's answer.
    assert psrp.pool_state(drain(pool), {}) == psrp.POOL_OPENED


def test_pipeline_message_is_built_once_and_carries_the_audit_statements() -> None:
    assert psrp.pipeline_message(AUDIT_STATEMENTS) is psrp.pipeline_message(AUDIT_STATEMENTS)
    rpid, pid = uuid.uuid4(), uuid.uuid4()
    pool = server_pool(rpid)
    pipeline = psrpcore.ServerPipeline(pool, pid)
    framed = psrp.frame(
        [(psrp.CREATE_PIPELINE, psrp.pipeline_message(AUDIT_STATEMENTS))], rpid, pid, first_object_id=3
    )
    pool.receive_data(psrpcore.PSRPPayload(framed, psrpcore.StreamType.default, pid))
    event = pool.next_event()
    assert isinstance(event, psrpcore.CreatePipelineEvent)
    assert event.pipeline_id == pid
    commands = [(c.command_text, list(c.parameters)) for c in pipeline.metadata.commands]
    expected = [(s[0].name, [(p.name, p.value) for p in s[0].params]) for s in AUDIT_STATEMENTS]
    assert commands == expected
    assert [c.end_of_statement for c in pipeline.metadata.commands] == [True, True, True]


def test_switches_and_positional_arguments_reach_the_server() -> None:
    statement = (Command.of("Set-ItemProperty", r"HKLM:\X", "Name", Type="DWord", switches=("Force",)),)
    rpid, pid = uuid.uuid4(), uuid.uuid4()
    pool = server_pool(rpid)
    pipeline = psrpcore.ServerPipeline(pool, pid)
    framed = psrp.frame([(psrp.CREATE_PIPELINE, psrp.pipeline_message([statement]))], rpid, pid)
    pool.receive_data(psrpcore.PSRPPayload(framed, psrpcore.StreamType.default, pid))
    pool.next_event()
    assert list(pipeline.metadata.commands[0].parameters) == [
        (None, r"HKLM:\X"),
        (None, "Name"),
        ("Type", "DWord"),
        ("Force", True),
    ]


@pytest.mark.parametrize("max_fragment", [64, 1000, 32 * 1024])
def test_frame_and_reassemble_round_trip_any_fragment_size(max_fragment: int) -> None:
    data = b"<Obj>" + b"x" * 5000 + b"</Obj>"
    rpid = uuid.uuid4()
    framed = psrp.frame(
        [(psrp.PIPELINE_OUTPUT, data), (psrp.PIPELINE_STATE, b"<s/>")], rpid, None, max_fragment=max_fragment
    )
    # One fragment per stream: a message may span Receive streams (fragments never do).
    streams = []
    offset = 0
    while offset < len(framed):
        length = psrp.FRAGMENT_HEADER.unpack_from(framed, offset)[3]
        end = offset + psrp.FRAGMENT_HEADER.size + length
        streams.append(framed[offset:end])
        offset = end
    partial: dict[int, bytearray] = {}
    messages = [m for stream in streams for m in psrp.reassemble([stream], partial)]
    assert [m[0] for m in messages] == [1, 2]
    assert messages[0][1][40:] == data
    assert messages[0][1][8:24] == rpid.bytes_le
    assert partial == {}


def test_reassemble_rejects_a_fragment_without_its_start() -> None:
    framed = psrp.frame([(psrp.PIPELINE_OUTPUT, b"y" * 300)], uuid.uuid4(), None, max_fragment=100)
    header = psrp.FRAGMENT_HEADER.size
    second = framed[header + 100 :]
    with pytest.raises(psrp.PSRPProtocolError):
        list(psrp.reassemble([second]))


def answer_from(pipeline_actions: list[str]) -> psrp.PipelineAnswer:
    rpid, pid = uuid.uuid4(), uuid.uuid4()
    pool = server_pool(rpid)
    drain(pool)
    pipeline = psrpcore.ServerPipeline(pool, pid)
    framed = psrp.frame([(psrp.CREATE_PIPELINE, psrp.pipeline_message(AUDIT_STATEMENTS))], rpid, pid)
    pool.receive_data(psrpcore.PSRPPayload(framed, psrpcore.StreamType.default, pid))
    pool.next_event()
    pipeline.start()
    for action in pipeline_actions:
        if action == "output":
            obj = PSObject()
            obj.PSObject.type_names = ["System.Management.Automation.PSCustomObject", "System.Object"]
            psrpcore.types.add_note_property(obj, "RequireSecureNegotiate", PSInt(0))
            psrpcore.types.add_note_property(obj, "Legacy", PSString("0"))
            psrpcore.types.add_note_property(obj, "Big", PSInt64(1))
            pipeline.write_output(obj)
        elif action == "error":
            pipeline.write_error(
                NETException("Cannot find path 'HKLM:\\X' because it does not exist."),
                category_info=ErrorCategoryInfo(
                    Category=ErrorCategory.ObjectNotFound,
                    Reason="ItemNotFoundException",
                    TargetName="HKLM:\\X",
                ),
                fully_qualified_error_id="PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
            )
        elif action == "complete":
            pipeline.complete()
    answer = psrp.PipelineAnswer()
    answer.feed(drain(pool))
    return answer


def test_output_keeps_dotnet_types_and_errors_are_data() -> None:
    answer = answer_from(["output", "error", "complete"])
    assert answer.finished
    result = answer.result()
    (obj,) = result.output
    assert isinstance(obj, PSObj)
    assert obj.get("RequireSecureNegotiate") == PSValue("Int32", 0)
    assert obj.get("Legacy") == PSValue("String", "0")  # a REG_SZ "0" is not a DWORD 0
    assert obj.get("Big") == PSValue("Int64", 1)
    (error,) = result.errors
    assert error.fully_qualified_error_id.startswith("PathNotFound,")
    assert error.category == "ObjectNotFound"
    assert error.message == "Cannot find path 'HKLM:\\X' because it does not exist."
    assert result.had_errors and not result.extra


def test_a_running_pipeline_is_not_finished() -> None:
    answer = answer_from(["output"])
    assert not answer.finished


ENVELOPE_EP = soap.Endpoint(url="http://10.0.0.5:5985/wsman", session_id="S", operation_timeout=20)


def test_envelopes_carry_action_selector_and_a_fresh_message_id() -> None:
    mid1, create = soap.create(ENVELOPE_EP, "SHELL-1", b"\x00\x01")
    mid2, receive = soap.receive(ENVELOPE_EP, "SHELL-1", "CMD-1")
    assert mid1 != mid2 and mid1.startswith("uuid:")
    root = soap.ET.fromstring(receive)
    ns = {"wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd", **soap.NS}
    assert root.findtext("s:Header/wsa:Action", namespaces=ns) == soap.SHELL + "Receive"
    assert root.findtext("s:Header/wsman:SelectorSet/wsman:Selector", namespaces=ns) == "SHELL-1"
    assert root.find("s:Body/rsp:Receive/rsp:DesiredStream", ns).get("CommandId") == "CMD-1"  # type: ignore[union-attr]
    assert b"<wsman:OperationTimeout>PT20S</wsman:OperationTimeout>" in create
    assert b"AAE=" in create  # base64 creationXml


def reply(relates_to: str, body: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
        f"<s:Header><a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def test_receive_response_gives_streams_and_done_only_for_our_command() -> None:
    body = (
        '<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C1">AAE=</rsp:Stream>'
        '<rsp:CommandState CommandId="C1" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/'
        'CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>'
    )
    root = soap.parse_response(reply("uuid:M", body), "uuid:M")
    assert soap.parse_receive(root, "C1") == soap.ReceiveData([b"\x00\x01"], True)
    assert soap.parse_receive(root, "C2").done is False


def test_a_reply_to_another_message_is_refused() -> None:
    with pytest.raises(WinRMError, match="related id does not match"):
        soap.parse_response(reply("uuid:OTHER", ""), "uuid:M")


def test_faults_become_pypsrp_wsman_fault_errors() -> None:
    body = (
        '<s:Fault><s:Reason><s:Text xml:lang="en-US">busy</s:Text></s:Reason><s:Detail>'
        '<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" '
        'Machine="h"><f:Message>The operation timed out.</f:Message></f:WSManFault></s:Detail></s:Fault>'
    )
    error = soap.fault(reply("uuid:M", body).decode())
    assert isinstance(error, WSManFaultError)
    assert error.code == soap.OPERATION_TIMED_OUT
    assert error.reason == "The operation timed out."


@pytest.fixture
def ntlm_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, object]]:
    users = tmp_path / "users"
    users.write_text("LAB:admin:Pa55-word\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    options = spnego.NegotiateOptions.wrapping_winrm
    client = spnego.client("LAB\\admin", "Pa55-word", protocol="ntlm", options=options)
    server = spnego.server(protocol="ntlm", options=options)
    challenge = server.step(client.step())
    server.step(client.step(challenge))
    yield client, server


def test_winrm_encryption_round_trip(ntlm_pair: tuple[object, object]) -> None:
    client, server = ntlm_pair
    target = Target("http", "127.0.0.1", 5985, "wsman", "ntlm")
    sender = WinRMConnection(target, username="LAB\\admin", password="x")
    receiver = WinRMConnection(target, username="LAB\\admin", password="x")
    sender._ctx, receiver._ctx = client, server
    soap_text = b"<s:Envelope>" + b"z" * 3000 + b"</s:Envelope>"
    wrapped = sender._wrap(soap_text)
    assert soap_text not in wrapped
    assert f"Length={len(soap_text)}".encode() in wrapped
    assert receiver._unwrap(wrapped) == soap_text


def custom_object(**members: object) -> PSObject:
    obj = PSObject()
    obj.PSObject.type_names = ["System.Management.Automation.PSCustomObject", "System.Object"]
    for name, value in members.items():
        psrpcore.types.add_note_property(obj, name, value)
    return obj


def clixml(value: object) -> bytes:
    from xml.etree import ElementTree as ET

    return b"\xef\xbb\xbf" + ET.tostring(psrpcore.types.serialize(value, None), encoding="utf-8")


OUTPUTS = {
    "registry key": custom_object(
        UBR=PSInt(-1),
        Name=PSString("a_x000A_b\n"),
        Big=PSInt64(2**40),
        Flag=True,
        Blob=b"\x00\xff",
        Nothing=None,
    ),
    "multi string": custom_object(NullSessionPipes=["a", "b"], Empty=[]),
    "odd name": custom_object(**{"x y": PSString("1")}),
    "not a custom object": PSString("plain"),
    "nested object": custom_object(Inner=custom_object(A=PSInt(1))),
    "mixed list": custom_object(L=[PSInt(1), PSString("x")]),
    "unsigned": custom_object(U=psrpcore.types.PSUInt(7)),
}


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_direct_output_parsing_matches_psrpcore(name: str) -> None:
    from xml.etree import ElementTree as ET

    from toolkit.transport.values import _NoCipher, convert

    data = clixml(OUTPUTS[name])
    expected = convert(
        psrpcore.types.deserialize(ET.fromstring(data.decode("utf-8").lstrip("\ufeff")), _NoCipher())
    )
    assert psrp.output_value(data) == expected


def test_a_failed_pipeline_keeps_its_terminating_error_so_permission_denied_stays_access_denied() -> None:
    from xml.etree import ElementTree as ET

    from toolkit.checks.probe import ProbeError, parse_facts
    from toolkit.results import ErrorKind

    record = psrpcore.types.ErrorRecord(
        Exception=NETException("Requested registry access is not allowed."),
        CategoryInfo=ErrorCategoryInfo(
            Category=ErrorCategory.PermissionDenied, Reason="SecurityException", TargetName="HKLM:\\X"
        ),
        FullyQualifiedErrorId="System.Security.SecurityException,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
    )
    state = psrpcore.types.PipelineState(
        PipelineState=psrpcore.types.PSInvocationState.Failed, ExceptionAsErrorRecord=record
    )
    data = ET.tostring(psrpcore.types.serialize(state, None), encoding="utf-8")
    answer = psrp.PipelineAnswer()
    answer.feed([psrp.frame([(psrp.PIPELINE_STATE, data)], uuid.uuid4(), uuid.uuid4())])
    result = answer.result()
    assert answer.finished and result.extra == {"failed": "pipeline failed"}
    (error,) = result.errors
    assert (error.category, error.reason) == ("PermissionDenied", "SecurityException")
    assert error.fully_qualified_error_id.startswith("System.Security.SecurityException,")
    with pytest.raises(ProbeError) as caught:
        parse_facts(result)
    assert caught.value.kind is ErrorKind.ACCESS_DENIED
