"""Registry cmdlets remediation needs beyond the audit's: ``New-Item`` for registry keys.

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

from psrpcore.types import ErrorCategory

from toolkit.lab.cmdlets import CmdletDef, Context, Param, confirm_refused, wants_confirmation
from toolkit.lab.cmdlets_registry import property_object
from toolkit.lab.emit import Emission, Output
from toolkit.lab.registry import HIVES, parse_path

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


REGKIND_CMDLETS: tuple[CmdletDef, ...] = (
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
