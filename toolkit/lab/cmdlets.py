"""Cmdlet plumbing: parameter definitions, PowerShell-style binding, value conversion, context.

The cmdlets themselves live in ``cmdlets_registry``, ``cmdlets_smb`` and ``cmdlets_events``;
this module holds what they share. Binding follows PowerShell: names and aliases match
case-insensitively and by unambiguous prefix, positional arguments fill the lowest free
position, switches take ``None`` (PSRP's "no value") as ``$true``, and failures are
ParameterBindingException records with Windows' ids (``NamedParameterNotFound``,
``MissingMandatoryParameter`` ...).
"""

from __future__ import annotations

import datetime
import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from psrpcore.types import (
    CommandTypes,
    ErrorCategory,
    InvocationInfo,
    PSByte,
    PSDouble,
    PSInt,
    PSInt16,
    PSInt64,
    PSObject,
    PSSByte,
    PSSingle,
    PSUInt,
    PSUInt16,
    PSUInt64,
)

from toolkit.lab.emit import Emission, ErrorOut, Terminate, as_terminating, error_record, invocation_info
from toolkit.lab.profiles import Profile
from toolkit.lab.registry import Registry

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

ACTION_PREFERENCES = ("SilentlyContinue", "Stop", "Continue", "Inquire", "Ignore", "Suspend")
REGISTRY_VALUE_KINDS = (
    "Unknown",
    "String",
    "ExpandString",
    "Binary",
    "DWord",
    "MultiString",
    "QWord",
    "None",
)


class HostState(Protocol):
    """What a cmdlet may see of the simulated host."""

    @property
    def name(self) -> str: ...

    @property
    def profile(self) -> Profile: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def events(self) -> Sequence[Any]: ...

    @property
    def environment(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Param:
    """One cmdlet parameter. ``kind`` picks the conversion (see :func:`convert_param`)."""

    name: str
    kind: str = "string"
    position: int | None = None
    aliases: tuple[str, ...] = ()
    mandatory: bool = False
    pipeline_by_property: bool = False


COMMON_PARAMS: tuple[Param, ...] = (
    Param("Verbose", "switch", aliases=("vb",)),
    Param("Debug", "switch", aliases=("db",)),
    Param("ErrorAction", "enum:" + ",".join(ACTION_PREFERENCES), aliases=("ea",)),
    Param("WarningAction", "enum:" + ",".join(ACTION_PREFERENCES), aliases=("wa",)),
    Param("InformationAction", "enum:" + ",".join(ACTION_PREFERENCES), aliases=("infa",)),
    Param("ErrorVariable", "string", aliases=("ev",)),
    Param("WarningVariable", "string", aliases=("wv",)),
    Param("InformationVariable", "string", aliases=("iv",)),
    Param("OutVariable", "string", aliases=("ov",)),
    Param("OutBuffer", "int32", aliases=("ob",)),
    Param("PipelineVariable", "string", aliases=("pv",)),
)
SHOULD_PROCESS_PARAMS: tuple[Param, ...] = (
    Param("WhatIf", "switch", aliases=("wi",)),
    Param("Confirm", "switch", aliases=("cf",)),
)


@dataclass(frozen=True)
class Context:
    """Everything one cmdlet invocation needs: host, caller, and how to word its errors."""

    host: HostState
    admin: bool
    cmdlet: CmdletDef
    line: str = ""  # the script text, "" for a structured command
    column: int = 0
    pipeline_position: int = 1
    pipeline_length: int = 1

    @cached_property
    def invocation(self) -> InvocationInfo:
        """The InvocationInfo its error records carry.

        Built on first use: most invocations emit no error, and building it was about a third
        of what a clean Get-ItemProperty cost the lab.
        """
        return invocation_info(
            self.cmdlet.name,
            command_type=self.cmdlet.command_type,
            line=self.line,
            offset_in_line=self.column,
            pipeline_length=self.pipeline_length,
            pipeline_position=self.pipeline_position,
        )

    def error(
        self,
        kind: str,
        message: str,
        *,
        category: ErrorCategory,
        error_id: str,
        target: Any,
        qualify: bool = True,
    ) -> ErrorOut:
        """An error record whose id is ``error_id,<command type>`` (``qualify=False``: as is)."""
        fqid = f"{error_id},{self.cmdlet.error_suffix}" if qualify else error_id
        return error_record(
            kind,
            message,
            category=category,
            error_id=fqid,
            target=target,
            activity=self.cmdlet.name,
            invocation=self.invocation,
        )


Runner = Callable[[Context, dict[str, Any]], list[Emission]]


@dataclass(frozen=True)
class CmdletDef:
    """A cmdlet (or CDXML function) the lab implements."""

    name: str
    params: tuple[Param, ...]
    run: Runner
    dotnet_type: str = ""  # Microsoft.PowerShell.Commands.GetItemPropertyCommand; "" for functions
    command_type: CommandTypes = CommandTypes.Cmdlet
    min_build: int = 0
    should_process: bool = False
    all_params: tuple[Param, ...] = field(init=False)

    def __post_init__(self) -> None:
        extra = COMMON_PARAMS + (SHOULD_PROCESS_PARAMS if self.should_process else ())
        object.__setattr__(self, "all_params", self.params + extra)

    @property
    def error_suffix(self) -> str:
        """What follows the comma in a FullyQualifiedErrorId."""
        return self.dotnet_type or self.name

    def resolve(self, name: str) -> Param | list[Param] | None:
        """The parameter ``name`` means: exact name/alias, else unique prefix.

        Returns a list of candidates when the prefix is ambiguous, None when nothing matches.
        """
        wanted = name.lower()
        for param in self.all_params:
            if param.name.lower() == wanted or wanted in (a.lower() for a in param.aliases):
                return param
        matches = [p for p in self.all_params if p.name.lower().startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        return matches or None


# -- conversions ---------------------------------------------------------------------------
class ConversionError(Exception):
    """A value PowerShell's LanguagePrimitives would refuse (PSInvalidCastException)."""


def dotnet_type(value: Any) -> str:
    """The .NET type name a deserialized (or lab-parsed) value stands for."""
    exact: list[tuple[type, str]] = [
        (PSInt, "Int32"),
        (PSInt64, "Int64"),
        (PSUInt, "UInt32"),
        (PSUInt64, "UInt64"),
        (PSInt16, "Int16"),
        (PSUInt16, "UInt16"),
        (PSByte, "Byte"),
        (PSSByte, "SByte"),
        (PSSingle, "Single"),
        (PSDouble, "Double"),
    ]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "Boolean"
    for cls, name in exact:
        if isinstance(value, cls):
            return name
    if isinstance(value, int):
        return "Int32" if INT32_MIN <= value <= INT32_MAX else "Int64"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, str):
        return "String"
    if isinstance(value, bytes | bytearray):
        return "Byte[]"
    if isinstance(value, list | tuple):
        return _array_type(value)
    if isinstance(value, Mapping):
        return "Hashtable"
    if isinstance(value, datetime.datetime):
        return "DateTime"
    return "Object"


def _array_type(value: list[Any] | tuple[Any, ...]) -> str:
    """An array is what its serialized type names say (a client's ``String[]`` stays one);
    anything else, a PowerShell array literal (``'a','b'``) or a list a client sent as
    ``Object[]``, is an ``Object[]`` even when every item is a string."""
    type_names = value.PSTypeNames if isinstance(value, PSObject) else ()
    first = str(type_names[0]).removeprefix("Deserialized.") if type_names else ""
    if first.startswith("System.") and first.endswith("[]"):
        return first.removeprefix("System.")
    return "Object[]"


def to_string(value: Any) -> str:
    """LanguagePrimitives.ConvertTo(value, string): $null is "", arrays join with a space."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return repr(float(value)) if not float(value).is_integer() else str(int(value))
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, bytes | bytearray):
        return " ".join(str(b) for b in value)
    if isinstance(value, list | tuple):
        return " ".join(to_string(v) for v in value)
    if isinstance(value, Mapping):
        return "System.Collections.Hashtable"
    return str(value)


def _cast_error(value: Any, target: str, detail: str) -> ConversionError:
    return ConversionError(
        f'Cannot convert value "{to_string(value)}" to type "System.{target}". Error: "{detail}"'
    )


def to_integer(value: Any, target: str, low: int, high: int) -> int:
    """Convert like LanguagePrimitives to an integer type named ``target`` in [low, high]."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    number: int
    if isinstance(value, int):
        number = int(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _cast_error(value, target, f"Value was either too large or too small for an {target}.")
        number = round(value)  # .NET rounds half to even, as Python does
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            try:
                number = round(float(text))
            except (ValueError, OverflowError):
                raise _cast_error(value, target, "Input string was not in a correct format.") from None
    else:
        raise ConversionError(
            f'Cannot convert the "{to_string(value)}" value of type "System.{dotnet_type(value)}" '
            f'to type "System.{target}".'
        )
    if not low <= number <= high:
        article = "an" if target[0] in "AEIOU" else "a"
        raise _cast_error(value, target, f"Value was either too large or too small for {article} {target}.")
    return number


def to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    items = value if isinstance(value, list | tuple) else [value]
    return bytes(to_integer(item, "Byte", 0, 255) for item in items)


def to_string_array(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [to_string(v) for v in value]
    return [to_string(value)]


def wildcard_match(pattern: str, text: str) -> bool:
    """PowerShell WildcardPattern (``*``, ``?``, ``[...]``), case-insensitive."""
    return fnmatch.fnmatchcase(text.lower(), pattern.lower())


def has_wildcards(text: str) -> bool:
    return any(ch in text for ch in "*?[")


# -- binding -------------------------------------------------------------------------------
class BindingError(Exception):
    def __init__(self, error_id: str, message: str, category: ErrorCategory = ErrorCategory.InvalidArgument):
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.category = category


_TYPE_NAMES = {
    "string": "System.String",
    "strings": "System.String[]",
    "object": "System.Object",
    "bool": "System.Boolean",
    "uint32": "System.UInt32",
    "int32": "System.Int32",
    "kind": "Microsoft.Win32.RegistryValueKind",
    "hashtable": "System.Collections.Hashtable[]",
    "datetime": "System.DateTime",
}


def param_type_name(param: Param) -> str:
    if param.kind.startswith("enum:"):
        return "System.String"
    return _TYPE_NAMES.get(param.kind, "System.Object")


def convert_param(param: Param, value: Any) -> Any:
    """Convert a bound value to the parameter's type; BindingError if PowerShell would refuse."""
    kind = param.kind
    try:
        if kind == "switch":
            return True if value is None else bool(value)
        if kind == "object":
            return value
        if kind == "string":
            return None if value is None else to_string(value)
        if kind == "strings":
            return to_string_array(value)
        if kind == "int32":
            return to_integer(value, "Int32", INT32_MIN, INT32_MAX)
        if kind == "uint32":
            return to_integer(value, "UInt32", 0, UINT32_MAX)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value != 0
            raise BindingError(
                "ParameterArgumentTransformationError",
                f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
                f'"{dotnet_type(value) if value is not None else "null"}" to type "System.Boolean". Boolean '
                "parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.",
                ErrorCategory.InvalidData,
            )
        if kind == "hashtable":
            tables = value if isinstance(value, list | tuple) else [value]
            if not all(isinstance(t, Mapping) for t in tables):
                raise ConversionError(
                    f'Cannot convert the "{to_string(value)}" value of type "System.{dotnet_type(value)}" '
                    'to type "System.Collections.Hashtable".'
                )
            return [dict(t) for t in tables]
        if kind == "kind":
            return _enum_value(REGISTRY_VALUE_KINDS, to_string(value), "Microsoft.Win32.RegistryValueKind")
        if kind.startswith("enum:"):
            return _enum_value(tuple(kind[5:].split(",")), to_string(value), "System.Enum")
        if kind == "datetime":
            return to_datetime(value)
    except ConversionError as exc:
        raise BindingError(
            "CannotConvertArgumentNoMessage", f"Cannot bind parameter '{param.name}'. {exc}"
        ) from None
    raise AssertionError(f"unknown parameter kind {kind}")


def _enum_value(names: Sequence[str], text: str, type_name: str) -> str:
    for name in names:
        if name.lower() == text.strip().lower():
            return name
    raise ConversionError(
        f'Cannot convert value "{text}" to type "{type_name}". Error: "Unable to match the identifier name '
        f"{text} to a valid enumerator name. Specify one of the following enumerator names and try again:\n"
        f'{", ".join(names)}"'
    )


def to_datetime(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConversionError(
                f'Cannot convert value "{value}" to type "System.DateTime". Error: "String was not recognized as a '
                'valid DateTime."'
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    raise ConversionError(
        f'Cannot convert the "{to_string(value)}" value of type "System.{dotnet_type(value)}" to type '
        '"System.DateTime".'
    )


def bind(cmdlet: CmdletDef, parameters: Sequence[tuple[str | None, Any]]) -> dict[str, Any]:
    """Bind PSRP-style ``(name|None, value)`` pairs; returns {canonical name: converted value}."""
    bound: dict[str, Any] = {}
    positional: list[Any] = []
    for name, value in parameters:
        if name is None:
            positional.append(value)
            continue
        param = _resolve_or_fail(cmdlet, name)
        if param.name in bound:
            raise BindingError(
                "ParameterAlreadyBound",
                f"Cannot bind parameter because parameter '{param.name}' is specified more than once. To provide "
                "multiple values to parameters that can accept multiple values, use the array syntax. For example, "
                '"-parameter value1,value2,value3".',
            )
        bound[param.name] = convert_param(param, value)
    free = sorted(
        (p for p in cmdlet.params if p.position is not None and p.name not in bound),
        key=lambda p: p.position if p.position is not None else 0,
    )
    for value in positional:
        if not free:
            raise BindingError(
                "PositionalParameterNotFound",
                f"A positional parameter cannot be found that accepts argument '{to_string(value)}'.",
            )
        param = free.pop(0)
        bound[param.name] = convert_param(param, value)
    return bound


def check_mandatory(cmdlet: CmdletDef, bound: Mapping[str, Any]) -> None:
    # -Path and -LiteralPath are alternative parameter sets: either one satisfies "Path".
    satisfied = set(bound) | ({"Path"} if "LiteralPath" in bound else set())
    missing = [p.name for p in cmdlet.params if p.mandatory and p.name not in satisfied]
    if missing:
        raise BindingError(
            "MissingMandatoryParameter",
            "Cannot process command because of one or more missing mandatory parameters: "
            + " ".join(missing)
            + ".",
        )


def _resolve_or_fail(cmdlet: CmdletDef, name: str) -> Param:
    found = cmdlet.resolve(name)
    if isinstance(found, Param):
        return found
    if found:
        options = " ".join("-" + p.name for p in found)
        raise BindingError(
            "AmbiguousParameter",
            f"Parameter cannot be processed because the parameter name '{name}' is ambiguous. "
            f"Possible matches include: {options}.",
        )
    raise BindingError(
        "NamedParameterNotFound", f"A parameter cannot be found that matches parameter name '{name}'."
    )


def binding_error(ctx: Context, exc: BindingError) -> Terminate:
    """Binding failures stop the statement, as in PowerShell."""
    record = ctx.error(
        "ParameterBindingException", exc.message, category=exc.category, error_id=exc.error_id, target=None
    )
    return as_terminating(record)


# -- confirmation --------------------------------------------------------------------------
def confirm_refused(ctx: Context, action_text: str) -> Terminate:
    """What ShouldProcess does when it must prompt and the remote host cannot (no UI).

    Windows raises HostException ``HostFunctionNotImplemented`` (NotImplemented); the message
    quotes the prompt. A prompt loop never happens.
    """
    message = (
        "A command that prompts the user failed because the host program or the command type does not "
        "support user interaction. The host was attempting to request confirmation with the following "
        f"message: Are you sure you want to perform this action?\n{action_text}"
    )
    record = ctx.error(
        "HostException",
        message,
        category=ErrorCategory.NotImplemented,
        error_id="HostFunctionNotImplemented",
        target=None,
        qualify=False,
    )
    return as_terminating(record)


def wants_confirmation(bound: Mapping[str, Any], *, high_impact: bool) -> bool:
    """True when ShouldProcess would prompt: -Confirm, or a high-impact command without -Force."""
    if "Confirm" in bound:
        return bool(bound["Confirm"])
    return high_impact and not bound.get("Force", False)
