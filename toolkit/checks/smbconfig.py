"""Checks that read a property of ``Get-SmbServerConfiguration`` / ``Get-SmbClientConfiguration``
instead of a registry value (docs/baselines.md, ``smb:``).

One statement per cmdlet, whatever the number of checks, at the end of the audit's single
pipeline (docs/windows-facts.md#smbshare-configuration-cmdlets). Each answers one CIM instance
(docs/windows-facts.md#smbshare-output-type), told apart by its type name; before build 9200
the cmdlets do not exist (docs/windows-facts.md#smbshare-availability) and the answer is a
CommandNotFoundException, read as "cmdlet missing". Properties become facts of a pseudo key
named after the cmdlet, Booleans as DWORD 0/1, so that the engine judges them like registry
values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import replace

from toolkit.baselines.facts import HostFacts, KeyFacts, ProbeError, RegValue
from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, PSObj, PSValue, Statement

#: Getter -> the CIM class its instance carries.
GETTERS: dict[str, str] = {
    "Get-SmbServerConfiguration": "MSFT_SmbServerConfiguration",
    "Get-SmbClientConfiguration": "MSFT_SmbClientConfiguration",
}


def is_getter(path: str) -> bool:
    return path in GETTERS


def getters_of(paths: Iterable[str]) -> tuple[str, ...]:
    """The getters ``paths`` name, each once, in a fixed order."""
    wanted = set(paths)
    return tuple(g for g in GETTERS if g in wanted)


@functools.lru_cache(maxsize=8)
def smb_statements(getters: tuple[str, ...]) -> tuple[Statement, ...]:
    return tuple((Command.of(getter),) for getter in getters)


def setter_of(getter: str) -> str:
    return "Set-" + getter.removeprefix("Get-")


def smb_write(getter: str, prop: str, smb_type: str, value: int) -> Command:
    """``Set-Smb*Configuration -<prop> <value> -Force`` (a Boolean for ``bool`` properties)."""
    argument: bool | int = bool(value) if smb_type == "bool" else value
    return Command.of(setter_of(getter), **{prop: argument}, switches=["Force"])


def _getter_of_object(item: PSObj) -> str | None:
    for getter, cim in GETTERS.items():
        if any(t.endswith(cim) for t in item.type_names):
            return getter
    return None


def _getter_of_error(error: ErrorRecordData) -> str | None:
    for getter in GETTERS:
        if getter.lower() in (error.target.lower(), error.activity.lower()) or f"'{getter.lower()}'" in (
            error.message.lower()
        ):
            return getter
    return None


def is_smb_read_error(error: ErrorRecordData) -> bool:
    """An error of a Get-Smb*Configuration read (the cmdlet missing before 9200)."""
    return _getter_of_error(error) is not None and "set-smb" not in error.message.lower()


def split_smb(
    result: InvocationResult, getters: tuple[str, ...]
) -> tuple[InvocationResult, dict[str, KeyFacts]]:
    """(the rest of ``result``, the getters' facts). A getter with neither an object nor an
    error is left out (the caller reports it missing)."""
    if not getters:
        return result, {}
    found: dict[str, KeyFacts] = {}
    rest_out: list[PSObj | PSValue | None] = []
    for item in result.output:
        getter = _getter_of_object(item) if isinstance(item, PSObj) else None
        if getter in getters and isinstance(item, PSObj):
            found[getter] = KeyFacts(True, {n: _value(v) for n, v in item.properties.items()})
        else:
            rest_out.append(item)
    rest_err: list[ErrorRecordData] = []
    for error in result.errors:
        getter = _getter_of_error(error)
        if getter in getters and getter not in found:
            found[getter] = KeyFacts(False)
        elif getter is None:
            rest_err.append(error)
    rest = InvocationResult(tuple(rest_out), tuple(rest_err), bool(rest_err), result.extra)
    return rest, found


def _value(prop: PSValue | PSObj | None) -> RegValue:
    if not isinstance(prop, PSValue) or prop.value is None:
        return RegValue("Unknown", None)
    value = prop.value
    if isinstance(value, bool):
        return RegValue("DWord", int(value))
    if isinstance(value, int):
        return RegValue("DWord", value & 0xFFFF_FFFF)
    if isinstance(value, str):
        return RegValue("String", value)
    return RegValue("Unknown", value)


def with_smb(facts: HostFacts, getters: tuple[str, ...], smb: dict[str, KeyFacts]) -> HostFacts:
    """``facts`` with each getter's properties as the pseudo key named after it. Raises
    :class:`~toolkit.baselines.facts.ProbeError` when a getter got neither an object nor an error."""
    if not getters:
        return facts
    missing = [g for g in getters if g not in smb]
    if missing:
        raise ProbeError(f"neither an object nor an error for {', '.join(missing)}")
    return replace(facts, keys={**facts.keys, **smb})
