"""Registry commands remediation needs beyond the audit's: ``New-Item`` for registry keys
and ``reg.exe query`` for a value's true kind and unexpanded text.

``reg.exe query <key>`` (a native command, run with arguments) lists every value of a key
as ``    <name>    <REG_TYPE>    <data>`` under a line naming the key, REG_EXPAND_SZ data
unexpanded, where Get-ItemProperty answers both REG_SZ and REG_EXPAND_SZ as a String with
``%vars%`` expanded. A missing key goes to stderr ("ERROR: The system was unable to find the
specified registry key or value."), which remoting turns into a NativeCommandError record.

psfleet's host lease lives under ``HKLM:\\SOFTWARE\\psfleet`` (see
:mod:`toolkit.remediate.lease`): remediation creates the key with ``New-Item`` and no
``-Force`` (``-Force`` on an existing registry key would recreate it and drop its values),
so an existing key is an error it ignores. As in PowerShell's RegistryProvider: a key that
exists is a non-terminating ``IOException`` "A key at this path already exists."
(ResourceExists); a missing parent is "The registry key at the specified path does not
exist." (ObjectNotFound); a non-admin gets "Requested registry access is not allowed."
(PermissionDenied). With ``-Force`` the lab creates missing parents and keeps an existing
key as it is (it never drops values).
"""

from __future__ import annotations

from typing import Any

from psrpcore.types import CommandTypes, ErrorCategory, PSString

from toolkit.lab.cmdlets import CmdletDef, Context, Param, confirm_refused, wants_confirmation
from toolkit.lab.cmdlets_registry import property_object
from toolkit.lab.emit import Emission, ErrorOut, Output
from toolkit.lab.registry import HIVES, RegValue, ValueKind, parse_path

_ACCESS_DENIED = "Requested registry access is not allowed."


def new_item(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    out: list[Emission] = []
    registry = ctx.host.registry
    for path in bound.get("Path") or []:
        reg = parse_path(path)
        if reg is None or not reg.parts:
            out.append(
                ctx.error(
                    "ArgumentException",
                    f"Cannot create '{path}': not a registry key path.",
                    category=ErrorCategory.InvalidArgument,
                    error_id="System.ArgumentException",
                    target=path,
                )
            )
            continue
        if not ctx.admin and reg.hive != HIVES["HKCU"]:
            out.append(
                ctx.error(
                    "SecurityException",
                    _ACCESS_DENIED,
                    category=ErrorCategory.PermissionDenied,
                    error_id="System.Security.SecurityException",
                    target=reg.provider_path,
                )
            )
            continue
        if wants_confirmation(bound, high_impact=False):
            action = f'Performing the operation "New Item" on target "Item: {reg.provider_path}".'
            return [*out, confirm_refused(ctx, action)]
        existing = registry.key_name(reg)
        if existing is not None and not bound.get("Force"):
            out.append(
                ctx.error(
                    "IOException",
                    "A key at this path already exists.",
                    category=ErrorCategory.ResourceExists,
                    error_id="System.IO.IOException",
                    target=existing.provider_path,
                )
            )
            continue
        parent = reg.parent
        if (
            existing is None
            and parent is not None
            and not registry.key_exists(parent)
            and not bound.get("Force")
        ):
            out.append(
                ctx.error(
                    "IOException",
                    "The registry key at the specified path does not exist.",
                    category=ErrorCategory.ObjectNotFound,
                    error_id="System.IO.IOException",
                    target=reg.provider_path,
                )
            )
            continue
        if bound.get("WhatIf"):
            continue
        key = existing or registry.create_key(reg)
        out.append(Output(property_object(key, [])))
    return out


_REG_TYPES = {
    ValueKind.String: "REG_SZ",
    ValueKind.ExpandString: "REG_EXPAND_SZ",
    ValueKind.Binary: "REG_BINARY",
    ValueKind.DWord: "REG_DWORD",
    ValueKind.MultiString: "REG_MULTI_SZ",
    ValueKind.QWord: "REG_QWORD",
}


def _reg_data(value: RegValue) -> str:
    data = value.data
    if value.kind in (ValueKind.DWord, ValueKind.QWord):
        return hex(int(data))
    if value.kind is ValueKind.Binary:
        return bytes(data).hex().upper()
    if value.kind is ValueKind.MultiString:
        return "\\0".join(data)
    return str(data)


def reg_exe(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    args = [
        str(bound[n]) for n in ("Operation", "KeyName", "Option", "ValueName") if bound.get(n) is not None
    ]
    if len(args) < 2 or args[0].lower() != "query":
        return [_native_error(ctx, "ERROR: Invalid syntax.")]
    reg = parse_path(args[1])
    key = ctx.host.registry.key_name(reg) if reg is not None else None
    if key is None:
        return [
            _native_error(ctx, "ERROR: The system was unable to find the specified registry key or value.")
        ]
    values = ctx.host.registry.values(key)
    if len(args) >= 4 and args[2].lower() == "/v":
        values = [v for v in values if (v.name or "").lower() == args[3].lower()]
        if not values:
            return [
                _native_error(
                    ctx, "ERROR: The system was unable to find the specified registry key or value."
                )
            ]
    lines = ["", key.provider_path.split("::", 1)[-1]]
    for value in values:
        kind = _REG_TYPES.get(value.kind, "REG_NONE")
        lines.append(f"    {value.name or '(Default)'}    {kind}    {_reg_data(value)}")
    lines.append("")
    return [Output(PSString(line)) for line in lines]


def _native_error(ctx: Context, message: str) -> ErrorOut:
    return ctx.error(
        "RemoteException",
        message,
        category=ErrorCategory.NotSpecified,
        error_id="NativeCommandError",
        target=message,
        qualify=False,
    )


REGKIND_CMDLETS: tuple[CmdletDef, ...] = (
    CmdletDef(
        "reg.exe",
        (
            # A native command takes its arguments as they come; the lab knows ``query``'s.
            Param("Operation", "string", position=0),
            Param("KeyName", "string", position=1),
            Param("Option", "string", position=2),
            Param("ValueName", "string", position=3),
        ),
        reg_exe,
        command_type=CommandTypes.Application,
    ),
    CmdletDef(
        "New-Item",
        (
            Param("Path", "strings", position=0, mandatory=True),
            Param("ItemType", "string", aliases=("Type",)),
            Param("Value", "object"),
            Param("Force", "switch"),
        ),
        new_item,
        dotnet_type="Microsoft.PowerShell.Commands.NewItemCommand",
        should_process=True,
    ),
)
