"""The true kind and unexpanded text of the managed values, read before any write.

Over PSRP, ``Get-ItemProperty`` answers REG_SZ and REG_EXPAND_SZ alike as a String, and
Windows expands REG_EXPAND_SZ's ``%vars%`` on the way: a prior REG_EXPAND_SZ read that way
would be journaled, and restored, as a REG_SZ holding another text. So every read of the
managed values also runs ``reg.exe query <key>`` for the two keys (a native command with
arguments, no PowerShell text; the keys come from the baselines' checks, validated as
``HKLM:\\`` paths by the baseline loader, never from inventory data),
which lists each value as ``<name>  <REG_TYPE>  <data>`` with REG_EXPAND_SZ data as stored
(docs/remediation.md#true-kind-reg_sz-or-reg_expand_sz cites the sources). StdRegProv's GetExpandedStringValue
is no substitute: it returns the text expanded.

:func:`parse_true_facts` overlays what reg.exe says on the probe's facts: a String that
reg.exe lists as REG_EXPAND_SZ becomes an ``ExpandString`` with the unexpanded text; a String
reg.exe does not list (no answer, unreadable) is *ambiguous* and is not written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from toolkit.checks.facts import HostFacts, KeyFacts, RegKind, RegValue, normalize_key
from toolkit.checks.probe import AUDIT_STATEMENTS, parse_facts, probe_keys, statements_for
from toolkit.checks.smbconfig import getters_of, is_getter, smb_statements, split_smb, with_smb
from toolkit.remediate.model import SETTINGS, Setting
from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, PSValue, Statement


def native_key(key: str) -> str:
    """``HKLM:\\SYSTEM\\...`` as reg.exe takes it: ``HKLM\\SYSTEM\\...``."""
    return "HKLM\\" + key.split("\\", 1)[1]


@functools.lru_cache(maxsize=64)
def kind_statements(keys: tuple[str, ...]) -> tuple[Statement, ...]:
    """``reg.exe query <key>`` for each key (built once per key set)."""
    return tuple((Command.of("reg.exe", "query", native_key(key)),) for key in keys)


def managed_keys(settings: Iterable[Setting]) -> tuple[str, ...]:
    """The registry keys ``settings`` live in, each once, in order (``smb:`` settings, read
    through their cmdlet, are not keys)."""
    seen: dict[str, str] = {}
    for setting in settings:
        if not is_getter(setting.path):
            seen.setdefault(normalize_key(setting.path), setting.path)
    return tuple(seen.values())


def read_statements(settings: Mapping[str, Setting]) -> tuple[Statement, ...]:
    """Every read of ``settings``' values: the audit's probe of their keys, then the true
    kinds (one round trip whatever the number of settings)."""
    if settings is SETTINGS:
        return READ_STATEMENTS
    return _read_statements(tuple(settings.values()))


@functools.lru_cache(maxsize=64)
def _read_statements(settings: tuple[Setting, ...]) -> tuple[Statement, ...]:
    keys = managed_keys(settings)
    getters = getters_of(s.path for s in settings)
    return statements_for(probe_keys(keys)) + kind_statements(keys) + smb_statements(getters)


KIND_STATEMENTS: tuple[Statement, ...] = kind_statements(managed_keys(SETTINGS.values()))

#: Every read of the managed values: the audit's probe, then the true kinds.
READ_STATEMENTS: tuple[Statement, ...] = AUDIT_STATEMENTS + KIND_STATEMENTS

#: Longest reg.exe line read (the managed values hold a number).
_MAX_LINE = 4096


@dataclass(frozen=True)
class TrueFacts:
    facts: HostFacts
    #: Setting ids whose value reads as a String of unknown true kind (not written).
    ambiguous: frozenset[str]


def is_native_error(error: ErrorRecordData) -> bool:
    return error.fully_qualified_error_id.split(",")[0].lower().startswith("nativecommanderror") or (
        error.activity.lower() in ("reg.exe", "reg")
    )


def split_native(result: InvocationResult) -> tuple[list[str], InvocationResult]:
    """(reg.exe's lines, the rest of the answer)."""
    lines = [
        str(o.value)[:_MAX_LINE] for o in result.output if isinstance(o, PSValue) and isinstance(o.value, str)
    ]
    rest = tuple(o for o in result.output if not (isinstance(o, PSValue) and isinstance(o.value, str)))
    errors = tuple(e for e in result.errors if not is_native_error(e))
    return lines, InvocationResult(output=rest, errors=errors, had_errors=bool(errors), extra=result.extra)


def parse_kinds(
    lines: Iterable[str], settings: Mapping[str, Setting] | None = None
) -> dict[tuple[str, str], RegValue]:
    """``{(probe key, value name lower): RegValue}`` for the REG_SZ/REG_EXPAND_SZ values
    reg.exe listed (other kinds are read well enough by the probe)."""
    managed = SETTINGS if settings is None else settings
    answer_keys = {
        ("HKEY_LOCAL_MACHINE\\" + key.split("\\", 1)[1]).lower(): key
        for key in managed_keys(managed.values())
    }
    out: dict[tuple[str, str], RegValue] = {}
    key: str | None = None
    for line in lines:
        if not line.startswith("    "):
            key = answer_keys.get(line.strip().lower()) if line.strip() else key
            continue
        if key is None:
            continue
        for setting in managed.values():
            if setting.path != key:
                continue
            kinds: tuple[tuple[RegKind, str], ...] = (("String", "REG_SZ"), ("ExpandString", "REG_EXPAND_SZ"))
            for kind, reg_type in kinds:
                head = f"    {setting.name}    {reg_type}"
                if line.lower().startswith(head.lower()) and line[len(head) : len(head) + 4] in ("", "    "):
                    out[(key, setting.name.lower())] = RegValue(kind, line[len(head) + 4 :])
    return out


def parse_true_facts(result: InvocationResult, settings: Mapping[str, Setting] | None = None) -> TrueFacts:
    """Facts from an answer to :func:`read_statements` ``settings`` (default: the default
    baseline's, :data:`READ_STATEMENTS`), or anything ending with them, true kinds overlaid.
    Raises :class:`toolkit.checks.probe.ProbeError` like ``parse_facts``."""
    managed = SETTINGS if settings is None else settings
    lines, rest = split_native(result)
    getters = getters_of(s.path for s in managed.values())
    rest, smb = split_smb(rest, getters)
    facts = with_smb(parse_facts(rest, probe_keys(managed_keys(managed.values()))), getters, smb)
    kinds = parse_kinds(lines, managed)
    ambiguous: set[str] = set()
    for setting in managed.values():
        key = setting.key_in(facts)
        value = key.value(setting.name)
        if value.kind != "String":
            continue
        true = kinds.get((setting.path, setting.name.lower()))
        if true is None:
            ambiguous.add(setting.id)
            continue
        if true.kind == "ExpandString":
            facts = facts.with_key(setting.path, _with_value(key, setting.name, true))
    return TrueFacts(facts, frozenset(ambiguous))


def _with_value(key: KeyFacts, name: str, value: RegValue) -> KeyFacts:
    values = {k: v for k, v in key.values.items() if k.lower() != name.lower()}
    values[name] = value
    return KeyFacts(exists=key.exists, values=values)
