"""The audit's read pipeline as data, and the parser that turns its answer into facts.

Three ``Get-ItemProperty -Path <key>`` statements (docs/windows-facts.md#registry-read-kinds), built as structured commands
so no PowerShell text is ever assembled. Each answers one object holding every value of the
key plus the provider's PS* properties; a missing key answers a non-terminating
``PathNotFound`` error instead (docs/windows-facts.md#registry-errors,
non-terminating-errors). Objects are matched to keys by PSPath (or
PSParentPath + PSChildName), never by position: a missing key shifts the positions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from toolkit.baselines.facts import (
    CURRENT_VERSION_KEY,
    SERVER_KEY,
    WORKSTATION_KEY,
    HostFacts,
    KeyFacts,
    RegKind,
    RegValue,
    normalize_key,
)
from toolkit.baselines.facts import ProbeError as ProbeError  # re-exported: callers import it from here
from toolkit.checks.smbconfig import is_getter
from toolkit.results import ErrorKind
from toolkit.transport.model import (
    Command,
    ErrorRecordData,
    InvocationResult,
    PSObj,
    PSValue,
    Statement,
)

AUDIT_KEYS: tuple[str, ...] = (CURRENT_VERSION_KEY, WORKSTATION_KEY, SERVER_KEY)

AUDIT_STATEMENTS: tuple[Statement, ...] = tuple(
    (Command.of("Get-ItemProperty", Path=key),) for key in AUDIT_KEYS
)


def probe_keys(paths: Iterable[str]) -> tuple[str, ...]:
    """:data:`AUDIT_KEYS` and then each other key of ``paths`` once (registry paths are
    case-insensitive): one ``Get-ItemProperty`` per key, however many checks read it."""
    keys = list(AUDIT_KEYS)
    seen = {normalize_key(k) for k in keys}
    for path in paths:
        if is_getter(path):  # an smb: check's cmdlet (toolkit.checks.smbconfig), not a key
            continue
        if normalize_key(path) not in seen:
            seen.add(normalize_key(path))
            keys.append(path)
    return tuple(keys)


@functools.lru_cache(maxsize=64)
def statements_for(keys: tuple[str, ...]) -> tuple[Statement, ...]:
    """The probe's statements for ``keys`` (built once per key set, not per host)."""
    if keys == AUDIT_KEYS:
        return AUDIT_STATEMENTS
    return tuple((Command.of("Get-ItemProperty", Path=key),) for key in keys)


#: Properties the registry provider adds to every Get-ItemProperty object
#: (docs/windows-facts.md#registry-read-kinds).
#: Only these are dropped: a registry value may itself be named "PS...".
PROVIDER_PROPERTIES = frozenset({"pspath", "psparentpath", "pschildname", "psdrive", "psprovider"})

#: Serialized .NET type -> registry kind (docs/windows-facts.md#registry-read-kinds).
_KINDS: dict[str, RegKind] = {
    "int32": "DWord",
    "int64": "QWord",
    "string": "String",
    "string[]": "MultiString",
    "byte[]": "Binary",
}

_PATH_NOT_FOUND = "pathnotfound"


def parse_facts(result: InvocationResult, keys: tuple[str, ...] = AUDIT_KEYS) -> HostFacts:
    """Turn the answer to :data:`AUDIT_STATEMENTS` (or :func:`statements_for` ``keys``) into
    :class:`HostFacts`; keys beyond :data:`AUDIT_KEYS` go to ``HostFacts.keys``.

    Value kinds come from the serialized type alone, so a REG_SZ "0" stays a String and is
    never mistaken for DWORD 0 (docs/windows-facts.md#registry-read-kinds). DWORD and QWORD values are returned unsigned
    (PSRP sends DWORD 0xFFFFFFFF as Int32 -1). Unknown types become kind ``Unknown``.

    Raises :class:`ProbeError` when CurrentVersion is missing, when an object or error cannot
    be matched to one of the keys, when a key is answered twice, when a key gets neither an
    object nor a PathNotFound error, or on any other error record.
    """
    by_path = _KEYS_BY_NORMALIZED_PATH if keys == AUDIT_KEYS else _by_path(keys)
    found: dict[str, KeyFacts] = {}
    for item in result.output:
        if not isinstance(item, PSObj):
            raise ProbeError(f"unexpected output from Get-ItemProperty: {_short(item)}")
        key = _key_of_object(item, by_path)
        _store(found, key, KeyFacts(exists=True, values=_values(item)))
    for error in result.errors:
        key = _key_of_error(error, by_path)
        _store(found, key, KeyFacts(exists=False))

    current = found.get(CURRENT_VERSION_KEY)
    if current is None or not current.exists:
        raise ProbeError(f"no answer for {CURRENT_VERSION_KEY}: not a Windows registry?")
    for key in keys:
        if key not in found:
            raise ProbeError(f"neither values nor a PathNotFound error for {key}")
    return HostFacts(
        current_version=current,
        workstation=found[WORKSTATION_KEY],
        server=found[SERVER_KEY],
        keys={key: found[key] for key in keys[len(AUDIT_KEYS) :]},
    )


def _store(found: dict[str, KeyFacts], key: str, facts: KeyFacts) -> None:
    if key in found:
        raise ProbeError(f"{key} answered twice")
    found[key] = facts


def _values(obj: PSObj) -> dict[str, RegValue]:
    values: dict[str, RegValue] = {}
    for name, prop in obj.properties.items():
        if name.lower() in PROVIDER_PROPERTIES:
            continue
        values[name] = _reg_value(prop)
    return values


def _reg_value(prop: PSValue | PSObj | None) -> RegValue:
    if not isinstance(prop, PSValue):
        return RegValue("Unknown", prop)
    type_name = prop.type.lower().removeprefix("system.")
    kind = _KINDS.get(type_name, "Unknown")
    value = prop.value
    if kind == "DWord" and isinstance(value, int):
        value &= 0xFFFF_FFFF
    elif kind == "QWord" and isinstance(value, int):
        value &= 0xFFFF_FFFF_FFFF_FFFF
    elif kind == "MultiString" and isinstance(value, list):
        value = tuple(value)
    return RegValue(kind, value)


def _key_of_object(obj: PSObj, by_path: dict[str, str]) -> str:
    path = _text(obj.get("PSPath"))
    if not path:
        parent, child = _text(obj.get("PSParentPath")), _text(obj.get("PSChildName"))
        if parent and child:
            path = f"{parent}\\{child}"
    if not path:
        raise ProbeError("Get-ItemProperty object without PSPath or PSParentPath/PSChildName")
    key = by_path.get(normalize_key(path))
    if key is None:
        raise ProbeError(f"object for an unexpected key: {path}")
    return key


def _key_of_error(error: ErrorRecordData, by_path: dict[str, str]) -> str:
    if error.fully_qualified_error_id.lower().split(",")[0] != _PATH_NOT_FOUND:
        kind = ErrorKind.ACCESS_DENIED if error.category == "PermissionDenied" else ErrorKind.PROTOCOL_ERROR
        raise ProbeError(f"Get-ItemProperty failed: {error.message}", kind=kind)
    key = by_path.get(normalize_key(error.target)) if error.target else None
    if key is None:
        key = _key_in_message(error.message, by_path)
    if key is None:
        raise ProbeError(f"PathNotFound for an unexpected path: {error.message}")
    return key


def _key_in_message(message: str, by_path: dict[str, str]) -> str | None:
    # "Cannot find path 'HKLM:\...' because it does not exist." (docs/windows-facts.md#registry-errors)
    start = message.find("'")
    end = message.find("'", start + 1)
    if start < 0 or end < 0:
        return None
    return by_path.get(normalize_key(message[start + 1 : end]))


def _by_path(keys: tuple[str, ...]) -> dict[str, str]:
    return {normalize_key(key): key for key in keys}


#: :data:`AUDIT_KEYS` by their normalized path, built once rather than for every answer.
_KEYS_BY_NORMALIZED_PATH: dict[str, str] = _by_path(AUDIT_KEYS)


def _text(prop: PSValue | PSObj | None) -> str:
    if isinstance(prop, PSValue) and isinstance(prop.value, str):
        return prop.value
    return ""


def _short(item: object) -> str:
    text = repr(item)
    return text if len(text) <= 80 else text[:77] + "..."
