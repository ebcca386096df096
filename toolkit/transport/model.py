"""What goes over the wire and comes back, as plain data independent of pypsrp.

A pipeline is a list of statements; a statement is a list of commands piped together; a
command is a cmdlet name with parameters (named, or positional when ``name`` is None). Values
are sent as typed PowerShell values, never as PowerShell text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Param:
    name: str | None  # None = positional argument
    value: Any
    #: A switch parameter (``-Force``) is sent as a named parameter with value None.
    switch: bool = False


@dataclass(frozen=True)
class Command:
    name: str
    params: tuple[Param, ...] = ()

    @staticmethod
    def of(name: str, *positional: Any, switches: Sequence[str] = (), **named: Any) -> Command:
        ps = [Param(None, v) for v in positional]
        ps += [Param(k, v) for k, v in named.items()]
        ps += [Param(s, None, switch=True) for s in switches]
        return Command(name, tuple(ps))

    def render(self) -> str:
        """How the command reads in PowerShell, for display only (never sent as text)."""
        parts = [self.name]
        for p in self.params:
            if p.switch:
                parts.append(f"-{p.name}")
                continue
            if p.name is not None:
                parts.append(f"-{p.name}")
            parts.append(render_value(p.value))
        return " ".join(parts)


def render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "$null"
    if isinstance(value, list | tuple):
        return ",".join(render_value(v) for v in value)
    text = str(value).replace("'", "''")
    return f"'{text}'"


#: A statement is one pipeline of commands; a script is several statements.
Statement = tuple[Command, ...]


@dataclass(frozen=True)
class PSValue:
    """A primitive with the .NET type it was serialized as (``Int32``, ``Int64``, ``String``,
    ``String[]``, ``Byte[]``, ``Boolean``, ``UInt32``...). The type is what tells a REG_SZ "0"
    from a DWORD 0 (docs/windows-facts.md#registry-read-kinds)."""

    type: str
    value: Any


@dataclass(frozen=True)
class PSObj:
    """A (deserialized) complex object: its type names and properties."""

    type_names: tuple[str, ...]
    properties: Mapping[str, PSValue | PSObj | None]
    to_string: str | None = None

    def get(self, name: str) -> PSValue | PSObj | None:
        return self.properties.get(name)


@dataclass(frozen=True)
class ErrorRecordData:
    message: str
    fully_qualified_error_id: str
    category: str  # ErrorCategory name, e.g. "ObjectNotFound"
    reason: str = ""  # exception type short name, e.g. "ItemNotFoundException"
    target: str = ""
    activity: str = ""


@dataclass(frozen=True)
class InvocationResult:
    output: tuple[PSObj | PSValue | None, ...] = ()
    errors: tuple[ErrorRecordData, ...] = ()
    had_errors: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
