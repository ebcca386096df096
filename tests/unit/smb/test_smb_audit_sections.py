"""Pure parts of audit --events / --with-probe: the Get-WinEvent statement, splitting the
answer, counting, n/a rules, wire-signing sections and defaults (docs/windows-facts.md#signing-defaults-24h2,
#smbclient-events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from toolkit.checks.audit import AuditExtension, split_answer
from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.results import ErrorKind, HostError, OsInfo
from toolkit.smb.audit_sections import (
    SMB_CLIENT_CHANNELS,
    default_server_signing_required,
    events_section,
    events_statement,
    owns_event_item,
    smb_extensions,
    wire_signing_section,
)
from toolkit.smb.probe import NegotiateInfo, SmbProbeResult
from toolkit.transport.model import ErrorRecordData, InvocationResult, PSObj, PSValue

GET_WIN_EVENT = "Microsoft.PowerShell.Commands.GetWinEventCommand"
OS_81 = OsInfo("Windows 8.1", 9600, "Windows 8.1 (9600)", edition="Enterprise", installation_type="Client")
OS_2008R2 = OsInfo("Windows Server 2008 R2", 7601, "x", installation_type="Server")


def event(event_id: int) -> PSObj:
    return PSObj(
        ("Deserialized.System.Diagnostics.Eventing.Reader.EventLogRecord", "Deserialized.System.Object"),
        {"Id": PSValue("Int32", event_id), "LogName": PSValue("String", SMB_CLIENT_CHANNELS[1])},
    )


def win_event_error(error_id: str, message: str = "", target: str = "") -> ErrorRecordData:
    return ErrorRecordData(message, f"{error_id},{GET_WIN_EVENT}", "ObjectNotFound", target=target)


def registry_object() -> PSObj:
    return PSObj(("System.Management.Automation.PSCustomObject",), {"PSPath": PSValue("String", "HKLM:\\X")})


def test_statement_is_structured_with_all_channels_ids_and_utc_start() -> None:
    (command,) = events_statement(7, now=datetime(2025, 6, 8, 12, 30, tzinfo=UTC))
    assert command.name == "Get-WinEvent"
    (param,) = command.params
    assert param.name == "FilterHashtable"
    assert param.value == {
        "LogName": list(SMB_CLIENT_CHANNELS),
        "Id": [31012, 31013, 30803, 30804],
        "StartTime": "2025-06-01T12:30:00Z",
    }


def test_owns_event_records_and_get_winevent_errors_only() -> None:
    assert owns_event_item(event(31012))
    assert owns_event_item(win_event_error("NoMatchingEventsFound"))
    assert owns_event_item(ErrorRecordData("x", "NoMatchingLogsFound", "ObjectNotFound"))
    assert not owns_event_item(registry_object())
    assert not owns_event_item(
        ErrorRecordData(
            "x", "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand", "ObjectNotFound"
        )
    )
    assert not owns_event_item(PSValue("String", "x"))


def test_split_answer_keeps_registry_part_clean() -> None:
    path_not_found = ErrorRecordData(
        "nope", "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand", ""
    )
    answer = InvocationResult(
        output=(registry_object(), event(31012), event(30804)),
        errors=(path_not_found, win_event_error("NoMatchingEventsFound")),
        had_errors=True,
    )
    extension = AuditExtension("events", finish=lambda *a: {}, owns=owns_event_item)
    registry, parts = split_answer(answer, [extension])
    assert registry.output == (registry_object(),) and registry.errors == (path_not_found,)
    assert len(parts["events"].output) == 2 and len(parts["events"].errors) == 1


CASES: list[tuple[str, InvocationResult, OsInfo | None, dict[str, Any]]] = [
    (
        "counted",
        InvocationResult(output=(event(31012), event(31012), event(30804))),
        OS_81,
        {"status": "counted", "summary": "31012:2 31013:0 30803:0 30804:1", "flagged": True, "total": 3},
    ),
    (
        "no matching events is empty, not an error",
        InvocationResult(errors=(win_event_error("NoMatchingEventsFound"),)),
        OS_81,
        {"status": "counted", "summary": "31012:0 31013:0 30803:0 30804:0", "flagged": False, "total": 0},
    ),
    (
        "only 30803/30804 are not flagged",
        InvocationResult(output=(event(30803),)),
        OS_81,
        {"status": "counted", "flagged": False},
    ),
    (
        "before build 9600: n/a whatever came back",
        InvocationResult(
            errors=tuple(win_event_error("NoMatchingLogsFound", target=c) for c in SMB_CLIENT_CHANNELS)
        ),
        OS_2008R2,
        {"status": "not_applicable", "summary": "n/a", "counts": None},
    ),
    (
        "no channel at all: n/a",
        InvocationResult(
            errors=tuple(win_event_error("NoMatchingLogsFound", target=c) for c in SMB_CLIENT_CHANNELS)
        ),
        None,
        {"status": "not_applicable", "summary": "n/a"},
    ),
    (
        "one channel missing: counted, listed",
        InvocationResult(
            output=(event(31013),), errors=(win_event_error("NoMatchingLogsFound", target="X/Security"),)
        ),
        OS_81,
        {"status": "counted", "channels_missing": ["X/Security"], "flagged": True},
    ),
    (
        "any other error: error",
        InvocationResult(
            errors=(win_event_error("UnauthorizedAccess", "Attempted to perform an unauthorized operation."),)
        ),
        OS_81,
        {"status": "error", "counts": None},
    ),
]


@pytest.mark.parametrize(("name", "answer", "os", "expected"), CASES, ids=[c[0] for c in CASES])
def test_events_section(
    name: str, answer: InvocationResult, os: OsInfo | None, expected: dict[str, Any]
) -> None:
    section = events_section(answer, os, days=7, since="2025-06-01T00:00:00Z")
    assert {k: section[k] for k in expected} == expected
    assert section["days"] == 7 and section["rule"] == "windows-facts#smbclient-events"


def test_events_error_message_is_kept() -> None:
    answer = InvocationResult(
        errors=(win_event_error("X", "Attempted to perform an unauthorized operation."),)
    )
    section = events_section(answer, OS_81, days=1, since="")
    assert section["summary"] == "error: Get-WinEvent failed: Attempted to perform an unauthorized operation."


@pytest.mark.parametrize(
    ("os", "expected"),
    [
        (OsInfo("Windows 11", 26100, "", edition="Enterprise", installation_type="Client"), True),
        (OsInfo("Windows 11", 26100, "", edition="Core", installation_type="Client"), False),
        (OsInfo("Windows 11", 22631, "", edition="Professional", installation_type="Client"), False),
        (OsInfo("Windows Server 2025", 26100, "", installation_type="Server"), None),  # could be a DC
        (None, None),
    ],
)
def test_default_server_signing_required(os: OsInfo | None, expected: bool | None) -> None:
    assert default_server_signing_required(os) == expected


def _probe(required: bool) -> SmbProbeResult:
    mode = 0x03 if required else 0x01
    return SmbProbeResult("10.0.0.5", 445, ("3.1.1",), NegotiateInfo("3.1.1", 0x2F, mode, "guid"))


def _facts(server: dict[str, RegValue]) -> HostFacts:
    return HostFacts(KeyFacts(True), KeyFacts(True), KeyFacts(True, server))


OS_2022 = OsInfo("Windows Server 2022", 20348, "", installation_type="Server")


def test_wire_signing_section_mismatch_is_flagged() -> None:
    section = wire_signing_section(
        _probe(True), _facts({"RequireSecuritySignature": RegValue("DWord", 0)}), OS_2022
    )
    assert section["status"] == "mismatch" and section["flagged"] is True
    assert section["summary"] == "MISMATCH: wire required, registry not required"
    assert section["wire"]["port"] == 445 and section["rule"] == "windows-facts#signing-either-side"


def test_wire_signing_section_match_and_unknowns() -> None:
    match = wire_signing_section(
        _probe(False), _facts({"RequireSecuritySignature": RegValue("DWord", 0)}), OS_2022
    )
    assert (match["status"], match["summary"], match["flagged"]) == ("match", "match: not required", False)

    absent_on_server = wire_signing_section(_probe(True), _facts({}), OS_2022)
    assert absent_on_server["status"] == "unknown" and absent_on_server["flagged"] is False

    unreachable = SmbProbeResult(
        "10.0.0.5", 445, error=HostError(ErrorKind.UNREACHABLE, "refused", sent=False)
    )
    section = wire_signing_section(
        unreachable, _facts({"RequireSecuritySignature": RegValue("DWord", 1)}), OS_2022
    )
    assert section["summary"] == "unknown: wire unreachable"


def test_smb_extensions_default_to_none() -> None:
    assert smb_extensions() == ()
    names = [e.name for e in smb_extensions(with_probe=True, events_days=3)]
    assert names == ["events", "probe"]
    with pytest.raises(ValueError):
        smb_extensions(events_days=0)
