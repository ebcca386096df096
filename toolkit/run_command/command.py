"""What ``psfleet run`` sends: a script line or a cmdlet with typed parameters.

Two forms:

* :meth:`RunCommand.script`: the user's command line, sent as PowerShell script text
  (pypsrp ``add_script``). This is the one deliberate place where text becomes PowerShell
  (STYLE 5): the text comes from the person at the keyboard, never from inventory data.
* :meth:`RunCommand.cmdlet`: a cmdlet name and parameters sent as structured PSRP data,
  needing no quoting. ``--param`` strings are read by :func:`parse_param`
  (``Name=value``, ``Name=int:0``, ``Name=strs:a,b``, ``Force`` for a switch).

Whether a command writes (and so needs confirmation) is decided by :mod:`toolkit.run_command.writes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import UsageError
from toolkit.run_command.writes import WriteCheck, classify_cmdlet, classify_script
from toolkit.transport.model import Command, Param, PSValue, render_value

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CMDLET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NUMBER = re.compile(r"[+-]?(0x[0-9a-fA-F]+|[0-9]+)")
_TRUE = {"true", "1", "yes", "on", "$true"}
_FALSE = {"false", "0", "no", "off", "$false"}

#: Type prefixes of ``--param Name=TYPE:VALUE`` and what each sends.
TYPE_PREFIXES: Mapping[str, str] = {
    "str": "String (the default without a prefix; use it for text that starts with a prefix)",
    "int": "Int32 (a new registry value becomes REG_DWORD)",
    "long": "Int64 (a new registry value becomes REG_QWORD)",
    "bool": "Boolean (true/false, 1/0, yes/no)",
    "strs": "String[] from comma-separated text (REG_MULTI_SZ)",
    "ints": "Int32[] from comma-separated numbers",
    "switch": "a switch parameter (same as giving the name alone); switch:false turns it off",
}
#: Prefixes people reach for that are registry kinds, not .NET types: a hint, not a guess.
_KIND_HINTS = {"dword": "int", "qword": "long", "reg_dword": "int", "reg_qword": "long", "string": "str",
               "reg_sz": "str", "multistring": "strs", "reg_multi_sz": "strs", "int32": "int",
               "int64": "long", "boolean": "bool"}  # fmt: skip


@dataclass(frozen=True)
class RunCommand:
    """One command for every host: ``script`` text, or a ``cmdlet`` with ``params``.

    Build it with :meth:`script` or :meth:`cmdlet`; ``write`` says whether it changes state
    (and why), so callers can ask before running it.
    """

    form: str  # "script" | "cmdlet"
    text: str
    cmdlet_name: str = ""
    params: tuple[Param, ...] = ()

    @classmethod
    def script(cls, text: str) -> RunCommand:
        """PowerShell script text, sent as is. Raises :class:`UsageError` when empty."""
        if not text.strip():
            raise UsageError("the command line is empty", field="COMMAND")
        return cls(form="script", text=text)

    @classmethod
    def cmdlet(cls, name: str, params: Iterable[Param] | Mapping[str, Any] = ()) -> RunCommand:
        """A cmdlet with named parameters (a mapping of name -> value, ``True`` for a switch,
        or :class:`toolkit.transport.model.Param` objects). Values are sent typed: ``int`` as
        Int32, ``str`` as String, lists as arrays, ``PSValue("Int64", n)`` as Int64."""
        if not _CMDLET_NAME.match(name):
            raise UsageError(f"{name!r} is not a cmdlet name", field="--cmdlet")
        if isinstance(params, Mapping):
            items = tuple(
                Param(k, None, switch=True) if v is True else Param(k, v) for k, v in params.items()
            )
        else:
            items = tuple(params)
        seen: set[str] = set()
        for p in items:
            key = (p.name or "").lower()
            if p.name is not None and key in seen:
                raise UsageError(f"parameter {p.name!r} is given twice", field="--param")
            seen.add(key)
        command = Command(name, items)
        return cls(form="cmdlet", text=render_command(command), cmdlet_name=name, params=items)

    @property
    def write(self) -> WriteCheck:
        """Whether this command changes state, and which command names say so."""
        if self.form == "cmdlet":
            return classify_cmdlet(self.cmdlet_name)
        return classify_script(self.text)

    def as_command(self) -> Command:
        """The structured command (cmdlet form only)."""
        if self.form != "cmdlet":
            raise ValueError("a script has no structured form")
        return Command(self.cmdlet_name, self.params)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"form": self.form, "text": self.text}
        if self.form == "cmdlet":
            out["cmdlet"] = self.cmdlet_name
            out["params"] = [_param_dict(p) for p in self.params]
        out["write"] = self.write.write
        return out


def parse_param(spec: str) -> Param:
    """``--param`` text -> a typed parameter. Raises :class:`UsageError` (one line) when
    ``spec`` cannot be read.

    ``Name=text`` is a String; ``Name=int:0``, ``long:``, ``bool:``, ``str:``, ``strs:a,b``,
    ``ints:1,2`` pick the .NET type (see :data:`TYPE_PREFIXES`); ``Name`` alone (or
    ``Name=switch``) is a switch. A prefix must be one of those: anything else (``HKLM:\\...``)
    is part of the text.
    """
    name, sep, raw = spec.partition("=")
    name = name.strip()
    if name.startswith("-"):
        name = name[1:]
    if not _PARAM_NAME.match(name):
        raise UsageError(f"--param {spec!r}: expected Name=value or a switch Name", field="--param")
    if not sep:
        return Param(name, None, switch=True)
    prefix, colon, rest = raw.partition(":")
    kind = prefix.lower() if colon else ""
    if kind in _KIND_HINTS:
        raise UsageError(
            f"--param {spec!r}: {prefix!r} is not a value type; use {_KIND_HINTS[kind]}:{rest} "
            f"(or str:{raw} for literal text)",
            field="--param",
        )
    if kind not in TYPE_PREFIXES:
        if raw == "switch":
            return Param(name, None, switch=True)
        return Param(name, raw)
    try:
        return _typed(name, kind, rest)
    except ValueError as exc:
        raise UsageError(f"--param {spec!r}: {exc}", field="--param") from None


def _typed(name: str, kind: str, text: str) -> Param:
    if kind == "str":
        return Param(name, text)
    if kind == "int":
        return Param(name, _integer(text, *_INT32, "Int32"))
    if kind == "long":
        return Param(name, PSValue("Int64", _integer(text, *_INT64, "Int64")))
    if kind == "bool":
        return Param(name, _boolean(text))
    if kind == "strs":
        return Param(name, PSValue("String[]", [s.strip() for s in text.split(",")] if text else []))
    if kind == "ints":
        items = [_integer(s, *_INT32, "Int32") for s in text.split(",")] if text else []
        return Param(name, PSValue("Int32[]", items))
    # switch:true / switch:false
    if _boolean(text or "true"):
        return Param(name, None, switch=True)
    return Param(name, False)


def _integer(text: str, low: int, high: int, type_name: str) -> int:
    cleaned = text.strip().replace("_", "")
    try:
        value = int(cleaned, 16) if cleaned.lower().startswith(("0x", "-0x")) else int(cleaned, 10)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{value} does not fit in {type_name} ({low}..{high})")
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def numeric_text_params(params: Iterable[Param]) -> list[str]:
    """Names of String parameters whose text looks like a number: ``Value=0`` sends the
    String "0", which makes a new registry value REG_SZ (docs/windows-facts.md#registry-write-kind).
    Worth a warning."""
    return [
        p.name
        for p in params
        if p.name is not None and isinstance(p.value, str) and _NUMBER.fullmatch(p.value.strip())
    ]


def render_command(command: Command) -> str:
    """How the cmdlet form reads in PowerShell (display only; it is never sent as text)."""
    parts = [command.name]
    for p in command.params:
        if p.switch:
            parts.append(f"-{p.name}")
            continue
        if p.name is not None:
            parts.append(f"-{p.name}")
        parts.append(_display(p.value))
    return " ".join(parts)


def _display(value: Any) -> str:
    if isinstance(value, PSValue) and isinstance(value.value, list):
        return f"([{value.type.lower()}]@(" + ",".join(_display(v) for v in value.value) + "))"
    if isinstance(value, PSValue):
        return f"([{value.type.lower()}]{render_value(value.value)})"
    if isinstance(value, list | tuple):
        return "@(" + ",".join(_display(v) for v in value) + ")"
    return render_value(value)


def _param_dict(p: Param) -> dict[str, Any]:
    if p.switch:
        return {"name": p.name, "switch": True}
    value = p.value
    if isinstance(value, PSValue):
        return {"name": p.name, "type": value.type, "value": value.value}
    return {"name": p.name, "type": _type_of(value), "value": value}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Int32"
    if isinstance(value, list):
        return "Int32[]" if value and all(isinstance(v, int) for v in value) else "String[]"
    return "String"


#: The name this class had before 0.2 (``toolkit.AdhocCommand``), kept for existing scripts.
AdhocCommand = RunCommand
