"""Results of ``psfleet run`` as plain data (schema ``psfleet.run/1``).

One :class:`HostRunResult` per host: the output objects (each property keeps the .NET type it
was serialized as, docs/windows-facts.md#registry-read-kinds), the error records (message, FullyQualifiedErrorId, category)
and, when the command could not run at all, a classified :class:`toolkit.results.HostError`.
:class:`CommandRun` aggregates them; renderers (:mod:`toolkit.report.run`) read only that.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from toolkit.results import ErrorStatus, HostError, exit_code, run_document
from toolkit.run_command.command import RunCommand
from toolkit.transport.model import ErrorRecordData, PSObj, PSValue

SCHEMA = "psfleet.run/1"

#: Property name given to a primitive output (``Get-ItemPropertyValue`` returns a bare Int32).
VALUE_COLUMN = "Value"


class RunStatus(ErrorStatus):
    """``ok``: the command ran, no error records. ``command_errors``: it ran and wrote error
    records (non-terminating, or a terminating error that stopped it). The rest are the
    transport's error kinds: the command did not run (or its answer never arrived)."""

    OK = "ok"
    COMMAND_ERRORS = "command_errors"

    @property
    def ran(self) -> bool:
        return self in (RunStatus.OK, RunStatus.COMMAND_ERRORS)


@dataclass(frozen=True)
class OutputObject:
    """One object from the output stream. ``properties`` keep their .NET types (a primitive
    output is a single property named :data:`VALUE_COLUMN`); ``type_name`` is the object's
    first type name (``System.Management.Automation.PSCustomObject``) or the primitive's type."""

    type_name: str
    properties: tuple[tuple[str, PSValue | PSObj | None], ...]
    primitive: bool = False

    @classmethod
    def of(cls, item: PSObj | PSValue | None) -> OutputObject:
        if isinstance(item, PSObj):
            name = item.type_names[0] if item.type_names else "PSObject"
            return cls(name, tuple(item.properties.items()))
        if isinstance(item, PSValue):
            return cls(item.type, ((VALUE_COLUMN, item),), primitive=True)
        return cls("Null", ((VALUE_COLUMN, None),), primitive=True)

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.properties)

    def get(self, name: str) -> PSValue | PSObj | None:
        lowered = name.lower()
        return next((v for n, v in self.properties if n.lower() == lowered), None)

    def has(self, name: str) -> bool:
        lowered = name.lower()
        return any(n.lower() == lowered for n, _ in self.properties)

    def select(self, names: Sequence[str]) -> OutputObject:
        """Only ``names`` (case-insensitive, in that order; missing ones left out)."""
        picked = tuple((n, v) for want in names for n, v in self.properties if n.lower() == want.lower())
        return replace(self, properties=picked)

    def to_dict(self) -> dict[str, Any]:
        if self.primitive:
            value = self.properties[0][1] if self.properties else None
            return {"type": self.type_name, "value": plain(value)}
        return {
            "type": self.type_name,
            "properties": {name: plain(value) for name, value in self.properties},
            "types": {name: type_label(value) for name, value in self.properties},
        }


def plain(value: PSValue | PSObj | None) -> Any:
    """A value as JSON data: numbers, strings, booleans and lists as themselves, bytes as
    base64, dates and other .NET values as their text, objects as ``{type, properties}``."""
    if value is None:
        return None
    if isinstance(value, PSObj):
        return {
            "type": value.type_names[0] if value.type_names else "PSObject",
            "properties": {k: plain(v) for k, v in value.properties.items()},
        }
    data = value.value
    if isinstance(data, bytes):
        return base64.b64encode(data).decode("ascii")
    if isinstance(data, bool | int | float | str) or data is None:
        return data
    if isinstance(data, list | tuple):
        return [plain(v) if isinstance(v, PSValue | PSObj) or v is None else v for v in data]
    if isinstance(data, dict):
        return {
            str(k): plain(v) if isinstance(v, PSValue | PSObj) or v is None else v for k, v in data.items()
        }
    return str(data)


def type_label(value: PSValue | PSObj | None) -> str:
    if value is None:
        return "Null"
    if isinstance(value, PSObj):
        return value.type_names[0] if value.type_names else "PSObject"
    return value.type


def error_dict(record: ErrorRecordData) -> dict[str, Any]:
    return {
        "id": record.fully_qualified_error_id,
        "message": record.message,
        "category": record.category,
        "reason": record.reason,
        "target": record.target,
    }


@dataclass(frozen=True)
class HostRunResult:
    """What one host answered (or why it could not)."""

    name: str
    address: str
    status: RunStatus
    output: tuple[OutputObject, ...] = ()
    errors: tuple[ErrorRecordData, ...] = ()
    error: HostError | None = None
    duration_s: float = 0.0
    groups: tuple[str, ...] = ()
    #: The WinRM client that served (or failed) the host, and why pypsrp after the lean one.
    transport: str | None = None
    transport_fallback: str | None = None

    def select(self, properties: Sequence[str]) -> HostRunResult:
        """The same result showing only ``properties`` (see :meth:`CommandRun.select`)."""
        if list(properties) == ["*"]:
            return self
        return replace(self, output=tuple(o.select(properties) for o in self.output))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "status": self.status.value,
            "output": [o.to_dict() for o in self.output],
            "errors": [error_dict(e) for e in self.errors],
            "error": self.error.to_dict() if self.error else None,
            "duration_s": round(self.duration_s, 3),
            "transport": self.transport,
            "transport_fallback": self.transport_fallback,
        }


def exit_code_for(statuses: Sequence[RunStatus]) -> int:
    """0 every host ran cleanly; 4 some host returned error records; 8 some host did not
    run (unreachable, auth_failed, timeout...); 12 both."""
    return exit_code(
        drift=any(s is RunStatus.COMMAND_ERRORS for s in statuses),
        unassessed=any(not s.ran for s in statuses),
    )


@dataclass(frozen=True)
class CommandRun:
    """The aggregate of one ``run``: what every renderer reads."""

    command: RunCommand
    hosts: tuple[HostRunResult, ...]
    started: str
    finished: str
    inventory: str
    version: str
    interrupted: bool = False
    schema: str = SCHEMA
    #: Columns chosen with ``--property`` (None: the default choice, see render).
    properties: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(h.status.value for h in self.hosts)
        out = {s.value: counts.get(s.value, 0) for s in RunStatus}
        out["total"] = len(self.hosts)
        return out

    @property
    def exit_code(self) -> int:
        return exit_code_for([h.status for h in self.hosts])

    def select(self, properties: Sequence[str]) -> CommandRun:
        """The same run showing only ``properties`` (case-insensitive, in that order) in every
        format, JSON included. ``*`` keeps every property."""
        if list(properties) == ["*"]:
            return replace(self, properties=("*",))
        hosts = tuple(h.select(properties) for h in self.hosts)
        return replace(self, hosts=hosts, properties=tuple(properties))

    def to_dict(self) -> dict[str, Any]:
        return run_document(self, command=self.command.to_dict())


#: The name this class had before 0.2 (``toolkit.AdhocRun``), kept for existing scripts.
AdhocRun = CommandRun
