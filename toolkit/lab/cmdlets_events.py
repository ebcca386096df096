"""Seeded SMB client events and Get-WinEvent (docs/windows-facts.md#smbclient-events).

A host carries :class:`EventSpec` entries from the lab spec; each expands to ``count``
EventLogRecord-like objects ``days_ago`` days before the host was created (one minute apart,
newest first, as Get-WinEvent returns them).

Windows behaviours modelled: no match -> ``NoMatchingEventsFound`` ("No events were found that
match the specified selection criteria.", ObjectNotFound, ``(:) [Get-WinEvent], Exception``);
a log that does not exist -> ``NoMatchingLogsFound`` ('There is not an event log on the
localhost computer that matches "X".'). Both texts are PowerShell's own resources
(PowerShell/PowerShell on GitHub,
src/Microsoft.PowerShell.Commands.Diagnostics/resources/GetEventResources.txt).
psfleet's assumptions (docs/windows-facts.md#smbclient-event-channels): the three Microsoft-Windows-SMBClient
channels exist from build 9200. The lab's own choices: 30804 is a Warning and the other
seeded ids are Errors unless the spec says otherwise; unknown FilterHashtable keys fail.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from psrpcore.types import (
    ErrorCategory,
    PSByte,
    PSDateTime,
    PSInt,
    PSInt64,
    PSNoteProperty,
    PSObject,
    PSString,
)

from toolkit.lab.cmdlets import CmdletDef, Context, ConversionError, Param, to_datetime, to_integer
from toolkit.lab.emit import Emission, Output, as_terminating

SMB_PROVIDER = "Microsoft-Windows-SMBClient"
SMB_CHANNELS = (
    "Microsoft-Windows-SMBClient/Security",
    "Microsoft-Windows-SMBClient/Connectivity",
    "Microsoft-Windows-SMBClient/Operational",
)
BASE_LOGS = ("Application", "System", "Security", "Setup")

DEFAULT_MESSAGES: dict[int, str] = {
    31012: "The negotiate validation failed.",
    31013: "The signing validation failed.",
    30803: "Failed to establish a network connection.",
    30804: "A network connection was disconnected.",
}
LEVELS: dict[str, int] = {"Critical": 1, "Error": 2, "Warning": 3, "Information": 4, "Verbose": 5}


@dataclass(frozen=True)
class EventSpec:
    """``count`` events with ``id`` in ``log``, ``days_ago`` days before the lab started."""

    id: int
    log: str
    count: int = 1
    days_ago: float = 0
    message: str | None = None
    level: str | None = None

    @property
    def level_name(self) -> str:
        return self.level or ("Warning" if self.id == 30804 else "Error")

    @property
    def text(self) -> str:
        return (
            self.message if self.message is not None else DEFAULT_MESSAGES.get(self.id, f"Event {self.id}.")
        )


@dataclass(frozen=True)
class EventRecord:
    """One event as stored by the simulated host."""

    record_id: int
    id: int
    log: str
    time_created: datetime.datetime
    level: str
    message: str


def expand_events(specs: tuple[EventSpec, ...], *, start: datetime.datetime) -> list[EventRecord]:
    """Turn specs into records, oldest first (record ids increase with time)."""
    records: list[tuple[datetime.datetime, EventSpec]] = []
    for spec in specs:
        newest = start - datetime.timedelta(days=spec.days_ago)
        for index in range(spec.count):
            records.append((newest - datetime.timedelta(minutes=index), spec))
    records.sort(key=lambda item: item[0])
    return [
        EventRecord(number, spec.id, spec.log, when, spec.level_name, spec.text)
        for number, (when, spec) in enumerate(records, start=1)
    ]


def event_object(record: EventRecord, machine: str) -> PSObject:
    obj = PSObject()
    obj.PSObject.type_names = [
        "System.Diagnostics.Eventing.Reader.EventLogRecord",
        "System.Diagnostics.Eventing.Reader.EventRecord",
        "System.Object",
    ]
    props: list[tuple[str, Any]] = [
        ("Message", PSString(record.message)),
        ("Id", PSInt(record.id)),
        ("Version", PSByte(0)),
        ("Level", PSByte(LEVELS.get(record.level, 4))),
        ("RecordId", PSInt64(record.record_id)),
        ("ProviderName", PSString(SMB_PROVIDER)),
        ("LogName", PSString(record.log)),
        ("MachineName", PSString(machine)),
        ("TimeCreated", PSDateTime.fromtimestamp(record.time_created.timestamp(), tz=datetime.UTC)),
        ("LevelDisplayName", PSString(record.level)),
    ]
    for name, value in props:
        obj.PSObject.extended_properties.append(PSNoteProperty(name, value=value))
    obj.PSObject.to_string = "System.Diagnostics.Eventing.Reader.EventLogRecord"
    return obj


def _known_logs(ctx: Context) -> set[str]:
    logs = {log.lower() for log in BASE_LOGS}
    if ctx.host.profile.has_smbclient_channels:
        logs |= {log.lower() for log in SMB_CHANNELS}
    logs |= {record.log.lower() for record in ctx.host.events}
    return logs


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass
class _Filter:
    logs: list[str]
    ids: set[int] | None = None
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    levels: set[int] | None = None


def _parse_hashtable(table: dict[Any, Any]) -> _Filter:
    keys = {str(k).lower(): v for k, v in table.items()}
    unknown = sorted(set(keys) - {"logname", "id", "starttime", "endtime", "level", "providername"})
    if unknown:
        raise ValueError(f"The specified key is not valid: '{unknown[0]}'.")
    logs = [str(v) for v in _as_list(keys.get("logname", []))]
    if not logs and "providername" in keys:
        logs = list(SMB_CHANNELS)
    result = _Filter(logs)
    if "id" in keys:
        result.ids = {to_integer(v, "Int32", -(2**31), 2**31 - 1) for v in _as_list(keys["id"])}
    if "level" in keys:
        result.levels = {to_integer(v, "Int32", 0, 255) for v in _as_list(keys["level"])}
    if "starttime" in keys:
        result.start = to_datetime(keys["starttime"])
    if "endtime" in keys:
        result.end = to_datetime(keys["endtime"])
    return result


def get_win_event(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    out: list[Emission] = []
    filters: list[_Filter] = []
    try:
        for table in bound.get("FilterHashtable", []):
            filters.append(_parse_hashtable(table))
    except (ValueError, ConversionError) as exc:
        record = ctx.error(
            "Exception",
            str(exc),
            category=ErrorCategory.InvalidArgument,
            error_id="InvalidFilterHashtable",
            target=None,
        )
        return [as_terminating(record)]
    if "LogName" in bound:
        filters.append(_Filter(list(bound["LogName"])))
    known = _known_logs(ctx)
    matches: list[EventRecord] = []
    for flt in filters:
        for log in flt.logs:
            if log.lower() not in known:
                out.append(
                    ctx.error(
                        "Exception",
                        f'There is not an event log on the localhost computer that matches "{log}".',
                        category=ErrorCategory.ObjectNotFound,
                        error_id="NoMatchingLogsFound",
                        target=log,
                    )
                )
        wanted = {log.lower() for log in flt.logs}
        matches += [
            r for r in ctx.host.events if r.log.lower() in wanted and _passes(r, flt) and r not in matches
        ]
    matches.sort(key=lambda r: r.time_created, reverse=True)
    max_events = bound.get("MaxEvents")
    if max_events is not None:
        matches = matches[:max_events]
    if not matches and filters and any(log.lower() in known for flt in filters for log in flt.logs):
        out.append(
            ctx.error(
                "Exception",
                "No events were found that match the specified selection criteria.",
                category=ErrorCategory.ObjectNotFound,
                error_id="NoMatchingEventsFound",
                target=None,
            )
        )
    out += [Output(event_object(r, ctx.host.name)) for r in matches]
    return out


def _passes(record: EventRecord, flt: _Filter) -> bool:
    if flt.ids is not None and record.id not in flt.ids:
        return False
    if flt.levels is not None and LEVELS.get(record.level, 4) not in flt.levels:
        return False
    if flt.start is not None and record.time_created < flt.start:
        return False
    return not (flt.end is not None and record.time_created > flt.end)


EVENT_CMDLETS: tuple[CmdletDef, ...] = (
    CmdletDef(
        "Get-WinEvent",
        (
            Param("LogName", "strings", position=0),
            Param("FilterHashtable", "hashtable"),
            Param("MaxEvents", "int32"),
            Param("ComputerName", "string", aliases=("Cn",)),
            Param("Oldest", "switch"),
        ),
        get_win_event,
        dotnet_type="Microsoft.PowerShell.Commands.GetWinEventCommand",
    ),
)
