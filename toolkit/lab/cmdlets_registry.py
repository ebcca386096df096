"""Registry-provider cmdlets: Get-/Set-/New-/Remove-ItemProperty and Test-Path.

Semantics follow PowerShell's RegistryProvider.cs: a missing key is PathNotFound
(ItemNotFoundException) from path resolution; opening a key for write as a non-admin is
SecurityException "Requested registry access is not allowed." (PermissionDenied) and nothing
changes; a missing value is PSArgumentException "Property X does not exist at path
HKEY_LOCAL_MACHINE\\..."; all of these are non-terminating. Value kinds on write follow
``SetRegistryValue``: an existing value keeps its kind when the data converts (else the new
object's kind wins), a new value takes the kind of the .NET type (Int32 DWord, Int64 QWord,
String, String[] MultiString, Byte[] Binary; an Object[], which is what a PowerShell array literal
or a client's plain list is, is refused as RegistryKey.SetValue refuses it; anything else is
stored via ToString as REG_SZ). Reads return what RegistryKey.GetValue does: REG_MULTI_SZ as
``String[]``, REG_EXPAND_SZ with ``%vars%`` expanded from the host's environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from psrpcore.types import ErrorCategory, PSCustomObject, PSInt, PSInt64, PSList, PSNoteProperty, PSString

from toolkit.compat.psrpcore_server import share_output
from toolkit.lab.cmdlets import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    UINT32_MAX,
    UINT64_MAX,
    CmdletDef,
    Context,
    ConversionError,
    Param,
    confirm_refused,
    dotnet_type,
    has_wildcards,
    to_bytes,
    to_integer,
    to_string,
    to_string_array,
    wants_confirmation,
    wildcard_match,
)
from toolkit.lab.emit import Emission, ErrorOut, Output
from toolkit.lab.registry import HIVES, RegPath, RegValue, ValueKind, parse_path

_COMMANDS_NS = "Microsoft.PowerShell.Commands."
_ACCESS_DENIED = "Requested registry access is not allowed."


# -- output objects --------------------------------------------------------------------------
def ps_value(value: RegValue, environment: Mapping[str, str]) -> Any:
    """A registry value as Get-ItemProperty hands it over: what RegistryKey.GetValue returns
    (DWORD as Int32, QWORD as Int64, REG_MULTI_SZ as ``System.String[]``, REG_BINARY as
    ``Byte[]``, REG_EXPAND_SZ with its ``%vars%`` expanded from ``environment``)."""
    data = value.data
    if value.kind is ValueKind.DWord:
        return PSInt(data - 2**32 if data > INT32_MAX else data)
    if value.kind is ValueKind.QWord:
        return PSInt64(data - 2**64 if data > INT64_MAX else data)
    if value.kind is ValueKind.MultiString:
        strings = PSList(PSString(s) for s in data)
        strings.PSObject.type_names = ["System.String[]", "System.Array", "System.Object"]
        return strings
    if value.kind is ValueKind.Binary:
        return bytes(data)
    if value.kind is ValueKind.ExpandString:
        return PSString(expand_environment(data, environment))
    return PSString(data)


_ENV_REFERENCE = re.compile(r"%([^%]+)%")


def expand_environment(text: str, environment: Mapping[str, str]) -> str:
    """Environment.ExpandEnvironmentVariables: each ``%name%`` of a defined variable (names
    are case-insensitive) is replaced by its value; an undefined one stays as written."""
    by_name = {k.lower(): v for k, v in environment.items()}
    return _ENV_REFERENCE.sub(lambda m: by_name.get(m.group(1).lower(), m.group(0)), text)


def _with_provider_props(obj: PSCustomObject, key: RegPath) -> list[str]:
    """Append PSPath .. PSProvider (the registry provider adds them to every object it writes).

    Returns them as ``Name=text``, for the object's ToString.
    """
    parent = key.parent
    props = {
        "PSPath": key.ps_path,
        "PSParentPath": parent.ps_path if parent is not None else "",
        "PSChildName": key.child_name,
        "PSDrive": key.drive,
        "PSProvider": "Microsoft.PowerShell.Core\\Registry",
    }
    for name, text in props.items():
        obj.PSObject.extended_properties.append(_note(name, PSString(text)))
    return [f"{name}={text}" for name, text in props.items()]


def _note(name: str, value: Any) -> PSNoteProperty:
    return PSNoteProperty(name, value=value)


def property_object(
    key: RegPath, values: list[RegValue], environment: Mapping[str, str] | None = None
) -> PSCustomObject:
    """The PSCustomObject Get-ItemProperty writes: values (REG_EXPAND_SZ expanded from
    ``environment``), then PSPath ... PSProvider.

    One shared, read-only object per distinct content (path, names, kinds, data as read): a
    fleet's hosts mostly hold the same values, and building and serializing these objects
    was the largest part of the lab's CPU per audited host (cProfile of a 100-session audit);
    the serialized XML is kept with it (:func:`toolkit.compat.psrpcore_server.share_output`).
    """
    env = environment or {}
    content = (
        key.provider_path,
        tuple(
            (
                v.name,
                v.kind.value,
                expand_environment(v.data, env) if v.kind is ValueKind.ExpandString else _frozen(v.data),
            )
            for v in values
        ),
    )
    obj = _PROPERTY_OBJECTS.get(content)
    if obj is None:
        if len(_PROPERTY_OBJECTS) >= 1024:
            _PROPERTY_OBJECTS.clear()
        obj = _PROPERTY_OBJECTS[content] = share_output(_build_property_object(key, values, env))
    return obj


_PROPERTY_OBJECTS: dict[tuple[Any, ...], PSCustomObject] = {}


def _frozen(data: Any) -> Any:
    return tuple(data) if isinstance(data, list) else data


def _build_property_object(
    key: RegPath, values: list[RegValue], environment: Mapping[str, str]
) -> PSCustomObject:
    obj = PSCustomObject()
    parts: list[str] = []
    for value in values:
        name = value.name or "(default)"
        converted = ps_value(value, environment)
        obj.PSObject.extended_properties.append(_note(name, converted))
        parts.append(f"{name}={_display(converted)}")
    parts += _with_provider_props(obj, key)
    obj.PSObject.to_string = "@{" + "; ".join(parts) + "}"
    return obj


def _display(value: Any) -> str:
    if isinstance(value, bytes):
        return "System.Byte[]"
    if isinstance(value, list):
        return "System.String[]"
    return str(value)


# -- path handling ---------------------------------------------------------------------------
def _path_not_found(ctx: Context, path: str) -> ErrorOut:
    return ctx.error(
        "ItemNotFoundException",
        f"Cannot find path '{path}' because it does not exist.",
        category=ErrorCategory.ObjectNotFound,
        error_id="PathNotFound",
        target=path,
    )


def _resolve_key(ctx: Context, path: str) -> RegPath | ErrorOut:
    reg = parse_path(path)
    found = ctx.host.registry.key_name(reg) if reg is not None else None
    if found is None:
        return _path_not_found(ctx, path)
    return found


def _paths(bound: dict[str, Any]) -> list[str]:
    paths: list[str] = bound.get("LiteralPath") or bound.get("Path") or []
    return paths


def _write_denied(ctx: Context, key: RegPath) -> ErrorOut | None:
    """Non-admins cannot open HKLM (or any hive but HKCU) for write."""
    if ctx.admin or key.hive == HIVES["HKCU"]:
        return None
    return ctx.error(
        "SecurityException",
        _ACCESS_DENIED,
        category=ErrorCategory.PermissionDenied,
        error_id="System.Security.SecurityException",
        target=key.provider_path,
    )


def _missing_value(ctx: Context, key: RegPath, name: str) -> ErrorOut:
    return ctx.error(
        "PSArgumentException",
        f"Property {name} does not exist at path {key.provider_path}.",
        category=ErrorCategory.InvalidArgument,
        error_id="System.Management.Automation.PSArgumentException",
        target=name,
    )


# -- value-kind rules (RegistryProvider.SetRegistryValue) -----------------------------------------
def kind_from_object(value: Any) -> ValueKind | None:
    """GetValueKindFromObject; None stands for RegistryValueKind.Unknown."""
    return {
        "Byte[]": ValueKind.Binary,
        "Int32": ValueKind.DWord,
        "String": ValueKind.String,
        "String[]": ValueKind.MultiString,
        "Int64": ValueKind.QWord,
    }.get(dotnet_type(value))


def convert_to_kind(value: Any, kind: ValueKind) -> Any:
    """ConvertValueToKind; raises ConversionError (PSInvalidCastException)."""
    if kind in (ValueKind.String, ValueKind.ExpandString):
        return "" if value is None else to_string(value)
    if kind is ValueKind.Binary:
        return b"" if value is None else to_bytes(value)
    if kind is ValueKind.MultiString:
        return to_string_array(value)
    if kind is ValueKind.DWord:
        try:
            return to_integer(value, "Int32", INT32_MIN, INT32_MAX)
        except ConversionError:
            return to_integer(value, "UInt32", 0, UINT32_MAX)
    try:
        return to_integer(value, "Int64", INT64_MIN, INT64_MAX)
    except ConversionError:
        return to_integer(value, "UInt64", 0, UINT64_MAX)


def _set_value_unknown(value: Any) -> tuple[ValueKind, Any]:
    """.NET RegistryKey.SetValue(name, value) with RegistryValueKind.Unknown."""
    type_name = dotnet_type(value)
    if type_name == "Int32":
        return ValueKind.DWord, int(value)
    if type_name == "Byte[]":
        return ValueKind.Binary, bytes(value)
    if type_name == "String[]":
        return ValueKind.MultiString, list(value)
    if isinstance(value, list | tuple):
        raise ValueError(
            f"RegistryKey.SetValue does not support arrays of type '{type_name}'. Only Byte[] and String[] are supported."
        )
    return ValueKind.String, to_string(value)


def resolve_write(existing: RegValue | None, value: Any, forced: ValueKind | None) -> tuple[ValueKind, Any]:
    """Kind and data Set-/New-ItemProperty store. May raise ConversionError/ValueError."""
    if forced is None and existing is not None:
        try:
            return existing.kind, convert_to_kind(value, existing.kind)
        except ConversionError:
            pass
    kind = forced
    if kind is None:
        kind = kind_from_object(value) if value is not None else ValueKind.String
    if kind is None:
        return _set_value_unknown(value)
    return kind, convert_to_kind(value, kind)


def _forced_kind(text: str | None) -> ValueKind | None:
    if text is None or text in ("Unknown",):
        return None
    if text == "None":
        raise ValueError("The lab does not store REG_NONE values.")
    return ValueKind.parse(text)


def _store(
    ctx: Context, key: RegPath, name: str, value: Any, forced: ValueKind | None
) -> ErrorOut | RegValue:
    existing = ctx.host.registry.get(key, name)
    try:
        kind, data = resolve_write(existing, value, forced)
        ctx.host.registry.set(key, name, kind, data)
    except ConversionError as exc:
        return _write_error(ctx, key, "PSInvalidCastException", str(exc))
    except ValueError as exc:
        return _write_error(ctx, key, "ArgumentException", str(exc))
    stored = ctx.host.registry.get(key, name)
    assert stored is not None
    return stored


def _write_error(ctx: Context, key: RegPath, kind: str, message: str) -> ErrorOut:
    full = {
        "PSInvalidCastException": "System.Management.Automation.PSInvalidCastException",
        "ArgumentException": "System.ArgumentException",
    }[kind]
    return ctx.error(
        kind, message, category=ErrorCategory.WriteError, error_id=full, target=key.provider_path
    )


def _wrapped(ctx: Context, key: RegPath, value: RegValue, name: str) -> Output:
    obj = PSCustomObject()
    obj.PSObject.extended_properties.append(_note(name or "(default)", ps_value(value, ctx.host.environment)))
    _with_provider_props(obj, key)
    return Output(obj)


def _set_target(key: RegPath, name: str) -> str:
    return f'Performing the operation "Set Property" on target "Item: {key.provider_path} Property: {name}".'


# -- cmdlets ---------------------------------------------------------------------------------
def get_item_property(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    out: list[Emission] = []
    names: list[str] | None = bound.get("Name")
    for path in _paths(bound):
        key = _resolve_key(ctx, path)
        if isinstance(key, ErrorOut):
            out.append(key)
            continue
        values = ctx.host.registry.values(key)
        if names:
            chosen: list[RegValue] = []
            for name in names:
                hits = [v for v in values if wildcard_match(name, v.name or "(default)")]
                if not hits and not has_wildcards(name):
                    out.append(_missing_value(ctx, key, name))
                chosen += [v for v in hits if v not in chosen]
            values = chosen
        if values:
            out.append(Output(property_object(key, values, ctx.host.environment)))
    return out


def set_item_property(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    out: list[Emission] = []
    name: str = bound["Name"]
    try:
        forced = _forced_kind(bound.get("Type"))
    except ValueError as exc:
        record = ctx.error(
            "ArgumentException",
            str(exc),
            category=ErrorCategory.InvalidArgument,
            error_id="System.ArgumentException",
            target=bound.get("Type"),
        )
        return [record]
    for path in _paths(bound):
        key = _resolve_key(ctx, path)
        if isinstance(key, ErrorOut):
            out.append(key)
            continue
        if wants_confirmation(bound, high_impact=False):
            return [*out, confirm_refused(ctx, _set_target(key, name))]
        denied = _write_denied(ctx, key)
        if denied is not None:
            out.append(denied)
            continue
        if bound.get("WhatIf"):
            continue
        stored = _store(ctx, key, name, bound.get("Value"), forced)
        if isinstance(stored, ErrorOut):
            out.append(stored)
        elif bound.get("PassThru"):
            out.append(_wrapped(ctx, key, stored, name))
    return out


def new_item_property(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    out: list[Emission] = []
    name: str = bound["Name"]
    for path in _paths(bound):
        key = _resolve_key(ctx, path)
        if isinstance(key, ErrorOut):
            out.append(key)
            continue
        denied = _write_denied(ctx, key)
        if denied is not None:
            out.append(denied)
            continue
        if wants_confirmation(bound, high_impact=False):
            action = f'Performing the operation "New Property" on target "Item: {key.provider_path} Property: {name}".'
            return [*out, confirm_refused(ctx, action)]
        if bound.get("WhatIf"):
            continue
        try:
            forced = _forced_kind(bound.get("PropertyType"))
        except ValueError as exc:
            out.append(_write_error(ctx, key, "ArgumentException", str(exc)))
            continue
        if not bound.get("Force") and ctx.host.registry.get(key, name) is not None:
            record = ctx.error(
                "IOException",
                "The property already exists.",
                category=ErrorCategory.ResourceExists,
                error_id="System.IO.IOException",
                target=key.provider_path,
            )
            out.append(record)
            continue
        stored = _store(ctx, key, name, bound.get("Value"), forced)
        out.append(stored if isinstance(stored, ErrorOut) else _wrapped(ctx, key, stored, name))
    return out


def remove_item_property(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    out: list[Emission] = []
    for path in _paths(bound):
        key = _resolve_key(ctx, path)
        if isinstance(key, ErrorOut):
            out.append(key)
            continue
        denied = _write_denied(ctx, key)
        if denied is not None:
            out.append(denied)
            continue
        for name in bound["Name"]:
            hits = [v for v in ctx.host.registry.values(key) if wildcard_match(name, v.name or "(default)")]
            for value in hits:
                if wants_confirmation(bound, high_impact=False):
                    action = (
                        f'Performing the operation "Remove Property" on target "Item: {key.provider_path} '
                        f'Property: {value.name}".'
                    )
                    return [*out, confirm_refused(ctx, action)]
                if not bound.get("WhatIf"):
                    ctx.host.registry.delete(key, value.name)
            if not hits and not has_wildcards(name):
                out.append(_missing_value(ctx, key, name))
    return out


def test_path(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    path_type = bound.get("PathType", "Any")
    out: list[Emission] = []
    for path in _paths(bound):
        reg = parse_path(path)
        if bound.get("IsValid"):
            out.append(Output(reg is not None))
            continue
        exists = reg is not None and ctx.host.registry.key_exists(reg)
        out.append(Output(exists and path_type != "Leaf"))
    return out


_PATH = Param("Path", "strings", position=0, mandatory=True, pipeline_by_property=True)
_LITERAL = Param("LiteralPath", "strings", aliases=("PSPath", "LP"), pipeline_by_property=True)


def _def(name: str, params: tuple[Param, ...], run: Any, *, should_process: bool) -> CmdletDef:
    type_name = _COMMANDS_NS + name.replace("-", "") + "Command"
    return CmdletDef(name, params, run, dotnet_type=type_name, should_process=should_process)


REGISTRY_CMDLETS: tuple[CmdletDef, ...] = (
    _def(
        "Get-ItemProperty",
        (_PATH, _LITERAL, Param("Name", "strings", position=1, aliases=("PSProperty",))),
        get_item_property,
        should_process=False,
    ),
    _def(
        "Set-ItemProperty",
        (
            _PATH,
            _LITERAL,
            Param("Name", "string", position=1, aliases=("PSProperty",), mandatory=True),
            Param("Value", "object", position=2, mandatory=True),
            Param("Type", "kind"),
            Param("Force", "switch"),
            Param("PassThru", "switch"),
        ),
        set_item_property,
        should_process=True,
    ),
    _def(
        "New-ItemProperty",
        (
            _PATH,
            _LITERAL,
            Param("Name", "string", position=1, aliases=("PSProperty",), mandatory=True),
            Param("PropertyType", "string", aliases=("Type",)),
            Param("Value", "object"),
            Param("Force", "switch"),
        ),
        new_item_property,
        should_process=True,
    ),
    _def(
        "Remove-ItemProperty",
        (
            _PATH,
            _LITERAL,
            Param("Name", "strings", position=1, aliases=("PSProperty",), mandatory=True),
            Param("Force", "switch"),
        ),
        remove_item_property,
        should_process=True,
    ),
    _def(
        "Test-Path",
        (
            _PATH,
            _LITERAL,
            Param("PathType", "enum:Any,Container,Leaf", aliases=("Type",)),
            Param("IsValid", "switch"),
        ),
        test_path,
        should_process=False,
    ),
)
