"""Recorded Windows traffic through the lean client: what it reads equals what pypsrp reads.

pypsrp's sdist ships 66 recordings of real exchanges with Windows Server
(tests/tests_pypsrp/responses/*.yml, fetched by tests/support/pypsrp_sdist.py). Each is fed
through the lean client twice:

* message level, every recorded exchange of every recording: faults through the lean
  client's fault parser against pypsrp's (code, machine, reason, provider; the classified
  error); PowerShell Receive responses through the lean client's PSRP reader against pypsrp's
  Fragmenter and serializer (every message's type; outputs with their .NET types; error
  records, and the ExceptionAsErrorRecord of a failed pipeline, with FullyQualifiedErrorId,
  category and reason; pipeline and pool states), with fragments carried from one Receive to
  the next as both clients do; every other reply through the lean client's envelope reader
  (it must accept Windows' RelatesTo);
* session level, a :class:`LeanSession` whose connection answers with the recorded responses
  in order (HTTP 500 for pypsrp's ``transport_error`` entries): the pool opened (over two or
  three Receives), each pipeline's outputs and error records, or the classified failure, equal
  what pypsrp's reader makes of the same responses.

Which recordings cannot be replayed at session level, and why, is :data:`NOT_A_LEAN_SESSION`
(asserted: the reason must hold for the recording's requests). At message level every
exchange is replayed; the WinRS (cmd.exe) recordings' streams are plain bytes, not PSRP, and
are compared as such.
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pypsrp.exceptions import WinRMError
from pypsrp.messages import MessageType
from pypsrp.powershell import Fragmenter
from pypsrp.wsman import WSMan

from tests.support import pypsrp_sdist
from toolkit.inventory.model import Host, Transport
from toolkit.results import HostError
from toolkit.transport.classify import classify
from toolkit.transport.lean import psrp, soap
from toolkit.transport.lean import session as lean_session
from toolkit.transport.model import ErrorRecordData, InvocationResult
from toolkit.transport.protocol import TransportError
from toolkit.transport.values import TypedSerializer, convert, error_from_pypsrp

S = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
RSP = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#: Every PowerShell session configuration (Microsoft.PowerShell, a JEA endpoint...).
PS_RESOURCE = "http://schemas.microsoft.com/powershell/"
EP = "fs01:5985"

#: Requests the lean client never sends, and why a recording that needs them is not a lean
#: session (message level still replays every one of their exchanges).
LEAN_NEVER_SENDS = {
    "Send": "pypsrp sends PSRP messages after the pool opened (pipeline input, host-call answers, "
    "SetMaxRunspaces, ResetRunspaceState, key exchange) or fragments a large pipeline; the lean "
    "client sends one CreatePipeline per Command and nothing else",
    "Get": "a WS-Man Get of the shell or of the WinRM config (is_alive, max envelope size); the lean "
    "client has no such step",
    "Disconnect": "disconnected sessions (Disconnect, Reconnect, Enumerate, Connect) are pypsrp features",
    "Reconnect": "disconnected sessions",
    "Connect": "disconnected sessions",
    "Enumerate": "disconnected sessions",
}


#: Recordings whose request sequence looks like a lean session but is not one.
SPECIFIC = {
    "test_psrp_receive_failure": "pypsrp's test polls the pool with a Receive after it opened, to provoke "
    "the fault it records; the lean client never polls an opened pool",
}
_NAMES: dict[int, str] = {}


def name_of(messages: list[dict[str, Any]]) -> str:
    return _NAMES.get(id(messages), "")


def action(envelope: str) -> str:
    m = re.search(r"<(?:\w+:)?Action[^>]*>([^<]*)</(?:\w+:)?Action>", envelope)
    return m.group(1).rsplit("/", 1)[-1] if m else ""


def is_powershell(messages: list[dict[str, Any]]) -> bool:
    return all(PS_RESOURCE in m["request"] for m in messages if action(m["request"]) == "Create")


def session_refusal(messages: list[dict[str, Any]]) -> str | None:
    """Why a recording is not something a lean session does, or None when it is."""
    if not is_powershell(messages):
        return "a WinRS (cmd.exe) shell, not PowerShell remoting: psfleet never opens one"
    actions = [action(m["request"]) for m in messages]
    for name, reason in LEAN_NEVER_SENDS.items():
        if name in actions:
            return reason
    flow = " ".join(a for a in actions if a != "Signal")
    if re.fullmatch(r"Create( Receive)+( Command( Receive)+)* Delete( Delete)*", flow) is None:
        return f"the request sequence ({flow}) nests pipelines (a Command while another runs)"
    if any(m.get("http_error") or m.get("auth_error") for m in messages):
        return "pypsrp's own test raised a connection error in place of a recorded response"
    return SPECIFIC.get(name_of(messages))


@pytest.fixture(scope="module")
def recorded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    found = pypsrp_sdist.recordings(pypsrp_sdist.sdist(request.config, tmp_path_factory))
    found.pop("_template", None)
    _NAMES.update({id(messages): name for name, messages in found.items()})
    assert len(found) == 66  # the 0.9.1 sdist: 67 files, one a template
    return found


def names() -> list[str]:
    """Recording names for parametrization, read from the cached sdist when there is one."""
    return RECORDING_NAMES


RECORDING_NAMES = sorted(
    [
        "test_client_copy_expand_vars",
        "test_client_copy_file",
        "test_client_copy_file_empty",
        "test_client_copy_file_failure",
        "test_client_copy_file_really_large",
        "test_client_copy_file_warning",
        "test_client_execute_cmd",
        "test_client_execute_cmd_environment",
        "test_client_execute_ps",
        "test_client_execute_ps_environment",
        "test_client_execute_ps_failure",
        "test_client_fetch_file",
        "test_client_fetch_file_expand_vars",
        "test_client_fetch_file_fail_dir",
        "test_client_fetch_file_fail_missing",
        "test_client_fetch_file_hash_mismatch",
        "test_psrp_application_args",
        "test_psrp_clear_commands",
        "test_psrp_disconnect_runspaces",
        "test_psrp_disconnected_commands",
        "test_psrp_error_failed",
        "test_psrp_get_command_metadata",
        "test_psrp_is_alive_http_error",
        "test_psrp_is_alive_invalid_selectors",
        "test_psrp_is_alive_other_wsman_error",
        "test_psrp_is_alive_state_disconnected",
        "test_psrp_key_exchange_timeout",
        "test_psrp_long_running_cmdlet",
        "test_psrp_merge_commands",
        "test_psrp_multiple_commands",
        "test_psrp_multiple_invocations",
        "test_psrp_nested_command",
        "test_psrp_no_profile",
        "test_psrp_open_runspace",
        "test_psrp_pshost_methods",
        "test_psrp_pshost_raw_ui_mocked_methods",
        "test_psrp_pshost_ui_mocked_methods",
        "test_psrp_receive_failure",
        "test_psrp_reset_runspace_state",
        "test_psrp_reset_runspace_state_fail",
        "test_psrp_run_protocol_version_2.1",
        "test_psrp_run_protocol_version_2.2",
        "test_psrp_run_protocol_version_2.3",
        "test_psrp_set_runspaces",
        "test_psrp_small_msg_size",
        "test_psrp_stream_no_output_invocation",
        "test_psrp_stream_output_invocation",
        "test_psrp_with_history",
        "test_psrp_with_input",
        "test_psrp_with_jea_configuration",
        "test_psrp_with_no_history",
        "test_winrs_bad_cmd_id",
        "test_winrs_environment",
        "test_winrs_extra_opts",
        "test_winrs_fail_poll_process",
        "test_winrs_no_cmd_shell",
        "test_winrs_noprofile",
        "test_winrs_open_already_opened",
        "test_winrs_operation_timeout",
        "test_winrs_send",
        "test_winrs_standard",
        "test_winrs_stderr_rc",
        "test_winrs_unicode",
        "test_wsman_update_envelope_size_150",
        "test_wsman_update_envelope_size_4096",
        "test_wsman_update_envelope_size_500",
    ]
)

#: The recordings a lean session replays end to end (every other one: see session_refusal).
LEAN_SESSIONS = {
    "test_client_execute_ps",
    "test_client_execute_ps_environment",
    "test_client_execute_ps_failure",
    "test_client_fetch_file",
    "test_client_fetch_file_expand_vars",
    "test_client_fetch_file_fail_dir",
    "test_client_fetch_file_fail_missing",
    "test_client_fetch_file_hash_mismatch",
    "test_psrp_application_args",
    "test_psrp_clear_commands",
    "test_psrp_error_failed",
    "test_psrp_get_command_metadata",
    "test_psrp_long_running_cmdlet",
    "test_psrp_merge_commands",
    "test_psrp_multiple_invocations",
    "test_psrp_no_profile",
    "test_psrp_open_runspace",
    "test_psrp_pshost_methods",
    "test_psrp_stream_no_output_invocation",
    "test_psrp_stream_output_invocation",
    "test_psrp_with_history",
    "test_psrp_with_jea_configuration",
    "test_psrp_with_no_history",
}


def test_the_recordings_are_the_known_ones(recorded: dict[str, list[dict[str, Any]]]) -> None:
    assert sorted(recorded) == RECORDING_NAMES
    assert {n for n, m in recorded.items() if session_refusal(m) is None} == LEAN_SESSIONS


# -- what each client reads ---------------------------------------------------------------------
@dataclass
class Reading:
    """What one client read from one command's (or the pool's) PSRP messages."""

    types: list[int] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    errors: list[ErrorRecordData] = field(default_factory=list)
    states: list[int] = field(default_factory=list)


def streams(response: str) -> Iterator[tuple[str, bytes]]:
    """(CommandId or "", decoded bytes) of every Stream of a ReceiveResponse."""
    root = ET.fromstring(response)
    for el in root.iter(f"{{{RSP}}}Stream"):
        if el.text:
            yield (el.get("CommandId") or "").upper(), base64.b64decode(el.text)


class PypsrpReader:
    """pypsrp's reading: its Fragmenter and serializer (output with psrpcore's types, as psfleet's
    pypsrp session reads it), per command."""

    def __init__(self) -> None:
        self.fragmenters: dict[str, Fragmenter] = {}
        self.read: dict[str, Reading] = {}

    def feed(self, response: str) -> None:
        for command, data in streams(response):
            frag = self.fragmenters.setdefault(command, Fragmenter(153600, TypedSerializer()))
            reading = self.read.setdefault(command, Reading())
            for message in frag.defragment(data):
                reading.types.append(int(message.message_type))
                if message.message_type == MessageType.PIPELINE_OUTPUT:
                    reading.outputs.append(convert(message.data.data))
                elif message.message_type == MessageType.ERROR_RECORD:
                    reading.errors.append(error_from_pypsrp(message.data))
                elif message.message_type == MessageType.PIPELINE_STATE:
                    reading.states.append(int(message.data.state))
                    if message.data.error_record is not None:
                        reading.errors.append(error_from_pypsrp(message.data.error_record))
                elif message.message_type == MessageType.RUNSPACEPOOL_STATE:
                    reading.states.append(int(message.data.state))


class LeanReader:
    """The lean client's reading: its fragment reassembly and message readers, per command."""

    def __init__(self) -> None:
        self.partial: dict[str, dict[int, bytearray]] = {}
        self.read: dict[str, Reading] = {}

    def feed(self, response: str) -> None:
        for command, data in streams(response):
            reading = self.read.setdefault(command, Reading())
            for _, message in psrp.reassemble([data], self.partial.setdefault(command, {})):
                mtype = psrp.MESSAGE_HEADER.unpack_from(message, 0)[1]
                body = message[40:]
                reading.types.append(mtype)
                if mtype == psrp.PIPELINE_OUTPUT:
                    reading.outputs.append(psrp.output_value(body) if body else None)
                elif mtype == psrp.ERROR_RECORD:
                    reading.errors.append(psrp.error_record(body))
                elif mtype == psrp.PIPELINE_STATE:
                    reading.states.append(psrp.pipeline_state(body))
                    failure = psrp.failure_record(body)
                    if failure is not None:
                        reading.errors.append(failure)
                elif mtype == psrp.RUNSPACEPOOL_STATE:
                    state = psrp.pool_state([psrp.frame([(mtype, body)], uuid.UUID(int=0), None)], {})
                    assert state is not None
                    reading.states.append(state)


def has_fault(response: str) -> bool:
    return ET.fromstring(response).find(f"{{{S}}}Body/{{{S}}}Fault") is not None


def fault_fields(error: Any) -> tuple[Any, ...]:
    return (
        error.code,
        error.machine,
        error.reason,
        error.provider,
        error.provider_path,
        error.provider_fault,
    )


# -- message level ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", RECORDING_NAMES)
def test_every_exchange_reads_the_same_at_message_level(
    recorded: dict[str, list[dict[str, Any]]], name: str
) -> None:
    messages = recorded[name]
    powershell = is_powershell(messages)
    lean, pypsrp = LeanReader(), PypsrpReader()
    compared = 0
    for exchange in messages:
        response = exchange["response"]
        if not response:  # pypsrp's test raised a connection error here: nothing was recorded
            continue
        if has_fault(response):
            theirs = WSMan._parse_wsman_fault(response)
            ours = soap.fault(response)
            assert fault_fields(ours) == fault_fields(theirs)
            assert classify(ours, endpoint=EP, sent=True) == classify(theirs, endpoint=EP, sent=True)
        elif action(response) == "ReceiveResponse" and powershell:
            lean.feed(response)
            pypsrp.feed(response)
        else:
            request_id = re.search(r"<(?:\w+:)?MessageID>([^<]*)<", exchange["request"])
            relates_to = re.search(r"<(?:\w+:)?RelatesTo>([^<]*)<", response)
            assert request_id is not None and relates_to is not None
            if relates_to.group(1) != request_id.group(1):
                # An edited recording: pypsrp raises WinRMError on this answer; so does the lean client.
                with pytest.raises(WinRMError, match="Received related id does not match"):
                    soap.parse_response(response.encode(), request_id.group(1))
                compared += 1
                continue
            root = soap.parse_response(response.encode(), request_id.group(1))  # Windows' RelatesTo accepted
            if action(response) == "ReceiveResponse":  # WinRS: the streams are bytes
                command = (
                    ET.fromstring(exchange["request"]).find(f".//{{{RSP}}}DesiredStream") or ET.Element("x")
                ).get("CommandId")
                read = soap.parse_receive(root, command.upper() if command else None)
                assert read.streams == [data for _, data in streams(response)]
        compared += 1
    assert lean.read == pypsrp.read
    assert compared == sum(1 for m in messages if m["response"])


# -- session level ------------------------------------------------------------------------------
class RecordedConnection:
    """Stands in for the lean client's HTTP connection: answers each request with the next
    recorded response of the same action (pypsrp's Signal before a Delete or the next Command
    is skipped: the lean client sends none), its RelatesTo and CommandId set to the request's."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = list(messages)
        self.position = 0
        self.mismatch: str | None = None
        self.recorded_commands: set[str] = {
            m.group(1).upper()
            for x in messages
            for m in re.finditer(r'CommandId="([0-9A-Fa-f-]{36})"', x["request"])
        }

    def connect(self, timeout: float) -> None:
        pass

    def close(self) -> None:
        pass

    def post(self, soap_bytes: bytes, *, deadline: float, read_timeout: float) -> tuple[int, bytes]:
        request = soap_bytes.decode()
        wanted = action(request)
        while action(self.messages[self.position]["request"]) == "Signal" and wanted != "Signal":
            self.position += 1
        exchange = self.messages[self.position]
        self.position += 1
        assert action(exchange["request"]) == wanted, (
            f"the lean client sent {wanted} where Windows got {action(exchange['request'])}"
        )
        message_id = re.search(r"<wsa:MessageID>([^<]*)<", request)
        assert message_id is not None
        response = re.sub(
            r"(<(?:\w+:)?RelatesTo>)[^<]*(<)",
            lambda m: m.group(1) + message_id.group(1) + m.group(2),
            exchange["response"],
        )
        command = re.search(r'CommandId="([0-9A-Fa-f-]{36})"', request)
        if command is not None:
            for recorded_id in self.recorded_commands:
                response = re.sub(recorded_id, command.group(1).upper(), response, flags=re.IGNORECASE)
        status = exchange["transport_error"]["code"] if "transport_error" in exchange else 200
        return status, response.encode()


@dataclass
class Outcome:
    pipelines: list[tuple[tuple[Any, ...], tuple[ErrorRecordData, ...]]]
    error: HostError | None


def lean_outcome(messages: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    fake = RecordedConnection(messages)
    monkeypatch.setattr(lean_session, "WinRMConnection", lambda *a, **k: fake)
    host = Host("fs01", "fs01", Transport(scheme="http", auth="ntlm"))

    @dataclass
    class Cred:
        username: str = "u"
        password: str = "p"

    pipelines: list[tuple[tuple[Any, ...], tuple[ErrorRecordData, ...]]] = []
    commands = [m for m in messages if action(m["request"]) == "Command"]
    session = lean_session.LeanSession(host, Cred())
    try:
        session.open()
        for _ in commands:
            result: InvocationResult = session.run_script("replayed")
            pipelines.append((result.output, result.errors))
        session.close()
    except TransportError as exc:
        return Outcome(pipelines, exc.error)
    assert (
        fake.position >= len(messages) - 1
    )  # every recorded exchange was used (a trailing Delete may remain)
    return Outcome(pipelines, None)


def pypsrp_outcome(messages: list[dict[str, Any]]) -> Outcome:
    reader = PypsrpReader()
    order: list[Reading] = []
    for exchange in messages:
        response = exchange["response"]
        if has_fault(response):
            fault = WSMan._parse_wsman_fault(response)
            if fault.code != soap.OPERATION_TIMED_OUT:
                return Outcome(
                    [(tuple(r.outputs), tuple(r.errors)) for r in order],
                    classify(fault, endpoint="fs01:5985", sent=bool(order)),
                )
            continue
        if action(exchange["request"]) == "Command":
            command = re.search(r'CommandId="([0-9A-Fa-f-]{36})"', exchange["request"])
            assert command is not None
            # pypsrp invokes one PowerShell object twice under one CommandId: a new reading each time
            reader.read[command.group(1).upper()] = Reading()
            reader.fragmenters.pop(command.group(1).upper(), None)
            order.append(reader.read[command.group(1).upper()])
        if action(response) == "ReceiveResponse":
            reader.feed(response)
    return Outcome([(tuple(r.outputs), tuple(r.errors)) for r in order], None)


@pytest.mark.parametrize("name", sorted(LEAN_SESSIONS))
def test_a_lean_session_reads_what_pypsrp_reads(
    recorded: dict[str, list[dict[str, Any]]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = recorded[name]
    ours = lean_outcome(messages, monkeypatch)
    theirs = pypsrp_outcome(messages)
    assert ours.pipelines == theirs.pipelines
    assert ours.error == theirs.error


@pytest.mark.parametrize("name", sorted(set(RECORDING_NAMES) - LEAN_SESSIONS))
def test_recordings_that_are_not_lean_sessions_say_why(
    recorded: dict[str, list[dict[str, Any]]], name: str
) -> None:
    reason = session_refusal(recorded[name])
    assert reason  # and the reason names something the recording's requests do
    actions = {action(m["request"]) for m in recorded[name]}
    assert (
        not is_powershell(recorded[name])
        or actions & set(LEAN_NEVER_SENDS)
        or "nests pipelines" in reason
        or any(m.get("http_error") or m.get("auth_error") for m in recorded[name])
        or name in SPECIFIC
    )
