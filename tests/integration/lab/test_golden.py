"""Fidelity: the lab's WS-Man/PSRP traffic has the shape of recorded Windows Server 2016 traffic.

The pypsrp sdist ships real exchanges with a Server 2016 host (tests/tests_pypsrp/responses/
*.yml, MIT licence; DOMAIN 10.5). The lab is driven by the real pypsrp client through the same
kinds of exchange (open a pool, invoke, several statements, an error record, a failed
pipeline, the OperationTimeout fault, Signal, close); its decrypted SOAP is captured with
``LabServer.on_exchange`` and compared with Windows': header elements, body element names and
attributes, CommandState, Stream attributes, and the sequence of PSRP message types decoded
from the base64 stream fragments.

The recordings run scripts the lab does not emulate ("1+1", Write-Output), so outputs are not
compared, only structure. Known, deliberate difference: Windows answers the pool-opening
messages over two Receives and the lab over one (DOMAIN 9.2); the message sequence is the same.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from psrpcore._payload import unpack_fragment, unpack_message
from pypsrp.powershell import PowerShell

from tests.integration.lab.conftest import WS, host_of, open_pool
from toolkit.lab.fleet import Fleet

S = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
RSP = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
WSMV = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
#: Windows sends p:ActivityId on some responses and not on others.
OPTIONAL_HEADERS = {f"{{{WSMV}}}ActivityId"}
RECORDINGS = {
    "test_psrp_open_runspace",
    "test_psrp_multiple_invocations",
    "test_psrp_multiple_commands",
    "test_psrp_stream_output_invocation",
    "test_psrp_error_failed",
    "test_psrp_long_running_cmdlet",
}
#: Attributes whose values are part of the shape (others: only their presence).
VALUED_ATTRIBUTES = {"Name", "State"}


# -- parsing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exchange:
    request: ET.Element
    response: ET.Element

    @property
    def action(self) -> str:
        return _action(self.request)

    @property
    def reply_action(self) -> str:
        return _action(self.response)


def _action(envelope: ET.Element) -> str:
    el = envelope.find(f"{{{S}}}Header/{{{WSA}}}Action")
    return "" if el is None or el.text is None else el.text.rsplit("/", 1)[-1]


def header_tags(envelope: ET.Element) -> list[str]:
    header = envelope.find(f"{{{S}}}Header")
    assert header is not None
    return [child.tag for child in header if child.tag not in OPTIONAL_HEADERS]


def shape(el: ET.Element) -> tuple[object, ...]:
    """Element name, attributes (values for Name/State), children; repeated siblings collapse."""
    attrs = tuple(sorted((k, v if k in VALUED_ATTRIBUTES else "*") for k, v in el.attrib.items()))
    children: list[tuple[object, ...]] = []
    for child in el:
        child_shape = shape(child)
        if not children or children[-1] != child_shape:
            children.append(child_shape)
    return (el.tag, attrs, tuple(children))


def body_shape(envelope: ET.Element) -> tuple[object, ...]:
    body = envelope.find(f"{{{S}}}Body")
    assert body is not None
    return shape(body)


class MessageDecoder:
    """PSRP message types from base64 stream fragments (messages may span Receives)."""

    def __init__(self) -> None:
        self._partial: dict[int, bytearray] = {}

    def types(self, envelope: ET.Element) -> list[str]:
        found: list[str] = []
        for stream in envelope.iter(f"{{{RSP}}}Stream"):
            data = bytearray(base64.b64decode(stream.text or ""))
            while data:
                fragment = unpack_fragment(data)
                data = data[21 + len(fragment.data) :]
                self._partial.setdefault(fragment.object_id, bytearray()).extend(fragment.data)
                if fragment.end:
                    message = unpack_message(self._partial.pop(fragment.object_id))
                    found.append(message.message_type.name)
        return found

    def payloads(self, envelope: ET.Element) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for stream in envelope.iter(f"{{{RSP}}}Stream"):
            data = bytearray(base64.b64decode(stream.text or ""))
            while data:
                fragment = unpack_fragment(data)
                data = data[21 + len(fragment.data) :]
                self._partial.setdefault(fragment.object_id, bytearray()).extend(fragment.data)
                if fragment.end:
                    message = unpack_message(self._partial.pop(fragment.object_id))
                    out.append((message.message_type.name, bytes(message.data)))
        return out


def collapse(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        if not out or out[-1] != t:
            out.append(t)
    return out


def top_properties(clixml: bytes) -> set[str]:
    """Names of the top-level <MS> members of a serialized object."""
    root = ET.fromstring(clixml.decode("utf-8"))
    ms = root.find("MS")
    return {child.get("N", "") for child in ms} if ms is not None else set()


# -- the recordings -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def windows(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[Exchange]]:
    cache = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    where = Path(cache.mkdir("pypsrp-0.9.1-sdist")) if cache else tmp_path_factory.mktemp("pypsrp-sdist")
    try:
        if not list(where.glob("pypsrp-*.tar.gz")):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "pypsrp==0.9.1",
                    "-d",
                    str(where),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        pytest.skip(
            f"cannot download the pypsrp 0.9.1 sdist with its recorded Windows traffic (offline?): {exc}"
        )
    (sdist,) = where.glob("pypsrp-*.tar.gz")
    recordings: dict[str, list[Exchange]] = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            m = re.search(r"tests/tests_pypsrp/responses/(test_\w+)\.yml$", member.name)
            if not m or m.group(1) not in RECORDINGS:
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            messages = yaml.safe_load(handle.read())["messages"]
            recordings[m.group(1)] = [
                Exchange(ET.fromstring(x["request"]), ET.fromstring(x["response"])) for x in messages
            ]
    assert set(recordings) == RECORDINGS
    return recordings


# -- the lab's traffic ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(fleet: Fleet) -> Iterator[dict[str, list[Exchange]]]:
    """One capture per scenario, each on a fresh pool of ``cmd-06``."""
    captured: list[Exchange] = []

    def hook(request: bytes, reply: bytes) -> None:
        captured.append(Exchange(ET.fromstring(request), ET.fromstring(reply)))

    host = host_of(fleet, "cmd-06")
    scenarios: dict[str, list[Exchange]] = {}

    def run(
        name: str, *statements: list[tuple[str, list[object], dict[str, object]]], **pool_kw: object
    ) -> None:
        captured.clear()
        with open_pool(host, **pool_kw) as rp:  # type: ignore[arg-type]
            for pipeline in statements:
                ps = PowerShell(rp)
                for cmdlet, args, params in pipeline:
                    ps.add_cmdlet(cmdlet)
                    for a in args:
                        ps.add_argument(a)
                    for k, v in params.items():
                        ps.add_parameter(k, v)
                    ps.add_statement()
                ps.invoke()
                ps.close()
        scenarios[name] = list(captured)

    fleet.server.on_exchange = hook
    try:
        run("open_close")
        run("two_invocations", [("Test-Path", [WS], {})], [("Test-Path", [WS], {})])
        run(
            "statements",
            [
                ("Test-Path", [WS], {}),
                ("Get-ItemProperty", [WS], {}),
                ("Get-SmbClientConfiguration", [], {}),
            ],
        )
        run("error", [("Get-ItemProperty", [r"HKLM:\SOFTWARE\psfleet\Nope"], {}), ("Test-Path", [WS], {})])
        run("failed", [("Get-ItemProperty", [WS], {"Name": "Nope", "ErrorAction": "Stop"})])
        run("timeout", [("Start-Sleep", [], {"Seconds": 2})], operation_timeout=1, read_timeout=4)
    finally:
        fleet.server.on_exchange = None
    yield scenarios


def _by_action(exchanges: list[Exchange], action: str) -> list[Exchange]:
    return [x for x in exchanges if x.action == action]


def _pipeline_receives(exchanges: list[Exchange]) -> list[Exchange]:
    return [
        x
        for x in _by_action(exchanges, "Receive")
        if any(d.get("CommandId") for d in x.request.iter(f"{{{RSP}}}DesiredStream"))
    ]


def _pool_receives(exchanges: list[Exchange]) -> list[Exchange]:
    return [x for x in _by_action(exchanges, "Receive") if x not in _pipeline_receives(exchanges)]


# -- comparisons ----------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["Create", "Delete"])
def test_pool_open_and_close_envelopes_match(
    windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]], action: str
) -> None:
    (win,) = _by_action(windows["test_psrp_open_runspace"], action)
    (ours,) = _by_action(lab["open_close"], action)
    assert ours.reply_action == win.reply_action
    assert header_tags(ours.response) == header_tags(win.response)
    assert body_shape(ours.response) == body_shape(win.response)


def test_pool_open_message_sequence_matches(
    windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]]
) -> None:
    def sequence(exchanges: list[Exchange]) -> list[str]:
        decoder = MessageDecoder()
        return [t for x in _pool_receives(exchanges) for t in decoder.types(x.response)]

    win = sequence(windows["test_psrp_open_runspace"])
    assert win == ["SessionCapability", "ApplicationPrivateData", "RunspacePoolState"]
    assert sequence(lab["open_close"]) == win
    win_shapes = {body_shape(x.response) for x in _pool_receives(windows["test_psrp_open_runspace"])}
    for x in _pool_receives(lab["open_close"]):
        assert body_shape(x.response) in win_shapes
        assert header_tags(x.response) == header_tags(
            _pool_receives(windows["test_psrp_open_runspace"])[0].response
        )


@pytest.mark.parametrize("action", ["Command", "Signal"])
def test_command_and_signal_envelopes_match(
    windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]], action: str
) -> None:
    win = _by_action(windows["test_psrp_multiple_invocations"], action)
    ours = _by_action(lab["two_invocations"], action)
    assert len(ours) == len(win) == 2
    for mine, theirs in zip(ours, win, strict=True):
        assert mine.reply_action == theirs.reply_action
        assert header_tags(mine.response) == header_tags(theirs.response)
        assert body_shape(mine.response) == body_shape(theirs.response)


def _pipeline_types(exchanges: list[Exchange]) -> list[list[str]]:
    decoder = MessageDecoder()
    return [decoder.types(x.response) for x in _pipeline_receives(exchanges)]


def test_simple_invocations_match(windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]]) -> None:
    win = windows["test_psrp_multiple_invocations"]
    ours = lab["two_invocations"]
    assert _pipeline_types(ours) == _pipeline_types(win) == [["PipelineOutput", "PipelineState"]] * 2
    for mine, theirs in zip(_pipeline_receives(ours), _pipeline_receives(win), strict=True):
        assert header_tags(mine.response) == header_tags(theirs.response)
        assert body_shape(mine.response) == body_shape(theirs.response)


def test_several_statements_match(windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]]) -> None:
    (win,) = _pipeline_types(windows["test_psrp_multiple_commands"])
    (ours,) = _pipeline_types(lab["statements"])
    assert collapse(ours) == collapse(win) == ["PipelineOutput", "PipelineState"]
    assert ours.count("PipelineOutput") == 3
    (mine,) = _pipeline_receives(lab["statements"])
    (theirs,) = _pipeline_receives(windows["test_psrp_multiple_commands"])
    assert body_shape(mine.response) == body_shape(theirs.response)


def test_error_record_matches(windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]]) -> None:
    emitted = {"ErrorRecord", "PipelineOutput", "PipelineState"}
    (win,) = _pipeline_types(windows["test_psrp_stream_output_invocation"])
    (ours,) = _pipeline_types(lab["error"])
    assert [t for t in win if t in emitted] == ours == ["ErrorRecord", "PipelineOutput", "PipelineState"]
    (win_x,) = _pipeline_receives(windows["test_psrp_stream_output_invocation"])
    (our_x,) = _pipeline_receives(lab["error"])
    assert body_shape(our_x.response) == body_shape(win_x.response)
    # The serialized ErrorRecord carries the members Windows sends (the flattened
    # ErrorCategory_* / InvocationInfo_* set that clients read).
    win_record = next(d for t, d in MessageDecoder().payloads(win_x.response) if t == "ErrorRecord")
    our_record = next(d for t, d in MessageDecoder().payloads(our_x.response) if t == "ErrorRecord")
    missing = top_properties(win_record) - top_properties(our_record)
    assert not missing, f"members Windows sends that the lab does not: {sorted(missing)}"


def test_failed_pipeline_matches(windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]]) -> None:
    (win_x,) = _pipeline_receives(windows["test_psrp_error_failed"])
    (our_x,) = _pipeline_receives(lab["failed"])
    win_state = [d for t, d in MessageDecoder().payloads(win_x.response) if t == "PipelineState"]
    our_state = [d for t, d in MessageDecoder().payloads(our_x.response) if t == "PipelineState"]
    assert len(win_state) == len(our_state) == 1
    assert top_properties(our_state[0]) == top_properties(
        win_state[0]
    )  # PipelineState + ExceptionAsErrorRecord
    assert body_shape(our_x.response) == body_shape(win_x.response)


def test_operation_timeout_fault_matches(
    windows: dict[str, list[Exchange]], lab: dict[str, list[Exchange]]
) -> None:
    def faults(exchanges: list[Exchange]) -> list[Exchange]:
        return [x for x in exchanges if x.reply_action == "fault"]

    win = faults(windows["test_psrp_long_running_cmdlet"])
    ours = faults(lab["timeout"])
    assert win and ours
    for theirs, mine in zip(win, ours, strict=False):
        assert header_tags(mine.response) == header_tags(theirs.response)
        assert body_shape(mine.response) == body_shape(theirs.response)
        for path in (
            f".//{{{S}}}Code/{{{S}}}Value",
            f".//{{{S}}}Subcode/{{{S}}}Value",
            f".//{{{S}}}Reason/{{{S}}}Text",
            f".//{{{FAULT}}}Message",
        ):
            assert mine.response.findtext(path) == theirs.response.findtext(path), path
        assert mine.response.find(f".//{{{FAULT}}}WSManFault").get("Code") == "2150858793"  # type: ignore[union-attr]
    # After the faults the pipeline still completes, as on Windows.
    assert _pipeline_types(lab["timeout"])[-1][-1] == "PipelineState"
