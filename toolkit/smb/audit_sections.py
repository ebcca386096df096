"""The SMB sections ``psfleet audit`` can add per host: ``probe`` (``--with-probe``) and
``events`` (``--events DAYS``), as :class:`~toolkit.checks.audit.AuditExtension` objects.

Neither changes the host's status or the exit code: a wire/registry mismatch is not a policy
drift (the registry is what the policy governs; the wire says what answered on the SMB
port), and events are evidence, not settings. Both are reported, and flagged (``flagged``
True) when they deserve a look: a mismatch, or validate-negotiate / signing-validation
failures (31012, 31013) in the log.

Every section is plain data with at least ``status``, ``summary`` (one line, for table
cells) and ``flagged``; the report renderers rely on those three keys only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkit.checks.audit import AnswerItem, AuditExtension
from toolkit.checks.facts import HostFacts
from toolkit.checks.osinfo import BUILD_24H2, BUILD_WIN81, is_home_edition, is_server
from toolkit.checks.rules import SMBCLIENT_EVENTS
from toolkit.inventory.model import Host
from toolkit.results import HostResult, OsInfo
from toolkit.smb.compare import WireComparison, compare_wire_with_registry
from toolkit.smb.probe import DEADLINE_MARGIN, SmbProbeResult, probe_smb
from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, PSObj, PSValue, Statement

# -- events (docs/windows-facts.md#smbclient-events) ----------------------------------------

#: Which id lands in which channel is not documented, so all three are queried
#: (docs/windows-facts.md#smbclient-event-channels).
SMB_CLIENT_CHANNELS: tuple[str, ...] = (
    "Microsoft-Windows-SMBClient/Security",
    "Microsoft-Windows-SMBClient/Connectivity",
    "Microsoft-Windows-SMBClient/Operational",
)
#: Negotiate validation failed, signing validation failed, connect failed, connection
#: disconnected (docs/windows-facts.md#smbclient-events).
SMB_EVENT_IDS: tuple[int, ...] = (31012, 31013, 30803, 30804)
#: Ids whose presence flags the host (the validate-negotiate / signing failures themselves).
FLAGGED_EVENT_IDS: frozenset[int] = frozenset({31012, 31013})
EVENTS_RULE = SMBCLIENT_EVENTS

_EVENT_TYPE = "system.diagnostics.eventing.reader.eventlogrecord"
_GET_WIN_EVENT = "microsoft.powershell.commands.getwineventcommand"
_NO_EVENTS = "nomatchingeventsfound"
_NO_LOG = "nomatchinglogsfound"


def events_statement(days: float, *, now: datetime) -> Statement:
    """``Get-WinEvent -FilterHashtable @{LogName=...; Id=...; StartTime=...}`` as data.

    StartTime goes as an ISO 8601 UTC string: Get-WinEvent turns every StartTime value into
    text and parses it back (``value.ToString()`` then a DateTime parse), and an ISO string
    with ``Z`` reads the same in every culture.
    """
    since = (now - timedelta(days=days)).astimezone(UTC)
    table = {
        "LogName": list(SMB_CLIENT_CHANNELS),
        "Id": list(SMB_EVENT_IDS),
        "StartTime": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return (Command.of("Get-WinEvent", FilterHashtable=table),)


def owns_event_item(item: AnswerItem) -> bool:
    """Event records and Get-WinEvent's error records (the registry parser must not see them)."""
    if isinstance(item, ErrorRecordData):
        fqid = item.fully_qualified_error_id.lower()
        first, _, command = fqid.partition(",")
        return command == _GET_WIN_EVENT or first in (_NO_EVENTS, _NO_LOG)
    if isinstance(item, PSObj):
        return any(t.lower().removeprefix("deserialized.") == _EVENT_TYPE for t in item.type_names)
    return False


def _event_id(obj: PSObj) -> int | None:
    prop = obj.get("Id")
    if isinstance(prop, PSValue) and isinstance(prop.value, int) and not isinstance(prop.value, bool):
        return prop.value
    return None


def events_summary(counts: Mapping[int, int]) -> str:
    """``31012:3 31013:0 30803:0 30804:0`` (every queried id, in docs/windows-facts.md#smbclient-events order)."""
    return " ".join(f"{event_id}:{counts.get(event_id, 0)}" for event_id in SMB_EVENT_IDS)


def events_section(answer: InvocationResult, os: OsInfo | None, *, days: float, since: str) -> dict[str, Any]:
    """Count the answer's events per id. Pure.

    - ``not_applicable``: build < 9600 (the mrxsmb events exist from Windows 8.1 / 2012 R2,
      docs/windows-facts.md#smbclient-events), or none of the three channels exists on the host.
    - ``counted``: counts per id; ``NoMatchingEventsFound`` is an empty result
      (docs/windows-facts.md#get-winevent-no-events),
      and a missing channel (``NoMatchingLogsFound``) is listed in ``channels_missing``.
    - ``error``: any other error record (access denied to a channel, bad filter...).
    """
    base: dict[str, Any] = {
        "status": "",
        "summary": "",
        "flagged": False,
        "days": int(days) if float(days).is_integer() else days,
        "since": since,
        "ids": list(SMB_EVENT_IDS),
        "counts": None,
        "total": None,
        "channels_missing": [],
        "reason": "",
        "error": None,
        "rule": EVENTS_RULE,
    }
    if os is not None and os.build is not None and os.build < BUILD_WIN81:
        reason = (
            f"build {os.build}: the SMB client events 31012/31013/30803/30804 exist from Windows 8.1 / "
            "Server 2012 R2 (build 9600) on"
        )
        return {**base, "status": "not_applicable", "summary": "n/a", "reason": reason}

    missing: list[str] = []
    other_errors: list[str] = []
    for error in answer.errors:
        first = error.fully_qualified_error_id.lower().split(",", 1)[0]
        if first == _NO_EVENTS:
            continue
        if first == _NO_LOG:
            missing.append(error.target or error.message)
            continue
        other_errors.append(error.message or error.fully_qualified_error_id)
    counts: Counter[int] = Counter()
    for item in answer.output:
        if isinstance(item, PSObj):
            event_id = _event_id(item)
            if event_id is not None:
                counts[event_id] += 1
    if other_errors:
        message = "Get-WinEvent failed: " + "; ".join(dict.fromkeys(other_errors))
        return {**base, "status": "error", "summary": f"error: {message}", "error": message[:500]}
    if len(missing) >= len(SMB_CLIENT_CHANNELS) and not counts:
        reason = "none of the Microsoft-Windows-SMBClient channels exists on this host"
        return {
            **base,
            "status": "not_applicable",
            "summary": "n/a",
            "reason": reason,
            "channels_missing": missing,
        }
    by_id = {str(event_id): counts.get(event_id, 0) for event_id in SMB_EVENT_IDS}
    flagged = any(counts.get(event_id, 0) for event_id in FLAGGED_EVENT_IDS)
    reason = (
        "negotiate or signing validation failures logged: see docs/windows-facts.md#validate-negotiate-abort "
        "(a device in the path may rewrite SMB NEGOTIATE)"
        if flagged
        else ""
    )
    return {
        **base,
        "status": "counted",
        "summary": events_summary(counts),
        "counts": by_id,
        "total": sum(counts.values()),
        "channels_missing": missing,
        "reason": reason,
        "flagged": flagged,
    }


def smb_events_extension(days: float, *, now: datetime | None = None) -> AuditExtension:
    """``audit --events DAYS``: one more statement in each host's audit round trip, counted
    into an ``events`` section (see :func:`events_section`)."""
    if days <= 0:
        raise ValueError("days must be positive")
    moment = now or datetime.now(UTC)
    since = (moment - timedelta(days=days)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def finish(
        host: Host, facts: HostFacts, answer: InvocationResult, result: HostResult, deadline: float
    ) -> dict[str, Any]:
        return events_section(answer, result.os, days=days, since=since)

    return AuditExtension(
        name="events",
        finish=finish,
        statements=(events_statement(days, now=moment),),
        owns=owns_event_item,
    )


# -- wire signing (docs/windows-facts.md#signing-either-side) -------------------------------


def default_server_signing_required(os: OsInfo | None) -> bool | None:
    """What an absent LanmanServer RequireSecuritySignature means on this host
    (docs/windows-facts.md#signing-defaults-24h2).

    Clients: required from Windows 11 24H2 (build 26100) except Home; not before. Servers:
    None, because domain controllers require it by default and the audit does not read the
    role.
    """
    if os is None or os.build is None or is_server(os):
        return None
    return os.build >= BUILD_24H2 and not is_home_edition(os)


def wire_signing_summary(comparison: WireComparison, probe: SmbProbeResult) -> str:
    """One cell: ``match: required``, ``MISMATCH: wire required, registry not required``,
    ``unknown: unreachable``..."""

    def word(required: bool | None) -> str:
        return "unknown" if required is None else ("required" if required else "not required")

    if comparison.status == "match":
        return f"match: {word(comparison.wire_required)}"
    if comparison.status == "mismatch":
        return (
            f"MISMATCH: wire {word(comparison.wire_required)}, registry {word(comparison.registry_required)}"
        )
    if probe.error is not None:
        return f"unknown: wire {probe.error.kind.value}"
    return f"unknown: wire {word(comparison.wire_required)}, registry unknown"


def wire_signing_section(probe: SmbProbeResult, facts: HostFacts, os: OsInfo | None) -> dict[str, Any]:
    """The ``probe`` section: the comparison (status, text, wire_required, registry_required,
    rule), a one-line ``summary``, ``flagged`` on mismatch, and the raw probe as ``wire``."""
    comparison = compare_wire_with_registry(
        probe,
        facts.server.value("RequireSecuritySignature"),
        default_required=default_server_signing_required(os),
    )
    compared = comparison.to_dict()
    return {
        "status": compared.pop("status"),
        "summary": wire_signing_summary(comparison, probe),
        "flagged": comparison.status == "mismatch",
        **compared,
        "wire": probe.to_dict(),
    }


def wire_signing_extension(*, timeout: float = 10.0) -> AuditExtension:
    """``audit --with-probe``: after the registry audit, one SMB NEGOTIATE to the host's
    ``smb_port`` (unauthenticated, no per-dialect probes), compared with LanmanServer
    RequireSecuritySignature (see :func:`wire_signing_section`). The probe is bounded by
    ``timeout`` and by what is left of the host's deadline."""

    def finish(
        host: Host, facts: HostFacts, answer: InvocationResult, result: HostResult, deadline: float
    ) -> dict[str, Any]:
        budget = min(timeout, deadline - time.monotonic() - DEADLINE_MARGIN)
        if budget <= 0.1:
            probe = SmbProbeResult(host.address, host.smb_port)
            section = wire_signing_section(probe, facts, result.os)
            return {**section, "text": "no wire data to compare: the host's deadline left no time to probe"}
        probe = probe_smb(host.address, host.smb_port, timeout=budget, per_dialect=())
        return wire_signing_section(probe, facts, result.os)

    return AuditExtension(name="probe", finish=finish)


def smb_extensions(
    *, with_probe: bool = False, events_days: float | None = None
) -> tuple[AuditExtension, ...]:
    """The extensions for ``audit --with-probe`` / ``--events DAYS`` (none by default)."""
    out: list[AuditExtension] = []
    if events_days is not None:
        out.append(smb_events_extension(events_days))
    if with_probe:
        out.append(wire_signing_extension())
    return tuple(out)
