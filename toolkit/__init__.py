"""psfleet: audit and fix SMB validate-negotiate and signing settings across a Windows fleet.

The public, typed API (everything the CLI does is one of these calls; see docs/api.md)::

    import toolkit

    inv = toolkit.apply_limit(toolkit.load_inventory("fleet.yml"), ["branch"])
    creds = toolkit.resolve_credentials(inv.hosts, interactive=False)
    audit = toolkit.audit(inv, credentials=creds, options=toolkit.FanoutOptions(forks=32))
    print(toolkit.render(audit, "table"), audit.exit_code)

    ran = toolkit.run(inv, toolkit.RunCommand.cmdlet("Get-ItemProperty", {"Path": KEY}),
                      credentials=creds)
    ran.to_dict()  # the same JSON as ``psfleet run --format json`` (psfleet.run/1)

Names are imported on first use, so ``import toolkit`` stays cheap (lab worker processes,
shell completion).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    # inventory and credentials
    "load_inventory": "toolkit.inventory.loader",
    "apply_limit": "toolkit.inventory.limit",
    "resolve_credentials": "toolkit.inventory.credentials",
    "Credential": "toolkit.inventory.credentials",
    "Inventory": "toolkit.inventory.model",
    "Host": "toolkit.inventory.model",
    # audit
    "audit": "toolkit.api",
    "AuditRun": "toolkit.results",
    "HostResult": "toolkit.results",
    "CheckResult": "toolkit.results",
    "HostError": "toolkit.results",
    "OsInfo": "toolkit.results",
    "ErrorKind": "toolkit.results",
    "HostStatus": "toolkit.results",
    "CheckStatus": "toolkit.results",
    # ad-hoc commands
    "run": "toolkit.api",
    "RunHooks": "toolkit.run_command.runner",
    "WriteNotConfirmed": "toolkit.run_command.runner",
    "RunCommand": "toolkit.run_command.command",
    "parse_param": "toolkit.run_command.command",
    "CommandRun": "toolkit.run_command.results",
    "HostRunResult": "toolkit.run_command.results",
    "OutputObject": "toolkit.run_command.results",
    "RunStatus": "toolkit.run_command.results",
    "AdhocCommand": "toolkit.run_command.command",  # former name of RunCommand
    "AdhocRun": "toolkit.run_command.results",  # former name of CommandRun
    # remediation
    "plan": "toolkit.api",
    "remediate": "toolkit.api",
    "rollback": "toolkit.api",
    "RemediateOptions": "toolkit.remediate",
    "RemediateRun": "toolkit.remediate",
    "HostRemediation": "toolkit.remediate",
    "workarounds_from_journals": "toolkit.remediate",
    # fan-out, output, configuration
    "FanoutOptions": "toolkit.fanout.runner",
    "FanoutHooks": "toolkit.fanout.runner",
    "render": "toolkit.report.render",
    # SMB probe (no WinRM)
    "probe": "toolkit.api",
    "FORMATS": "toolkit.report.render",
    "write_atomic": "toolkit.atomic",
    "Config": "toolkit.config",
    "load_config": "toolkit.config",
    # errors
    "PsfleetError": "toolkit.errors",
    "InputError": "toolkit.errors",
    "InventoryError": "toolkit.errors",
    "CredentialError": "toolkit.errors",
    "UsageError": "toolkit.errors",
    "JournalError": "toolkit.errors",
    "Aborted": "toolkit.errors",
    "ConfigError": "toolkit.config",
}

__all__ = [
    "FORMATS",
    "Aborted",
    "AuditRun",
    "CheckResult",
    "CheckStatus",
    "CommandRun",
    "Config",
    "ConfigError",
    "Credential",
    "CredentialError",
    "ErrorKind",
    "FanoutHooks",
    "FanoutOptions",
    "Host",
    "HostError",
    "HostRemediation",
    "HostResult",
    "HostRunResult",
    "HostStatus",
    "InputError",
    "Inventory",
    "InventoryError",
    "JournalError",
    "OsInfo",
    "OutputObject",
    "PsfleetError",
    "RemediateOptions",
    "RemediateRun",
    "RunCommand",
    "RunHooks",
    "RunStatus",
    "UsageError",
    "WriteNotConfirmed",
    "__version__",
    "apply_limit",
    "audit",
    "load_config",
    "load_inventory",
    "parse_param",
    "plan",
    "probe",
    "remediate",
    "render",
    "resolve_credentials",
    "rollback",
    "run",
    "workarounds_from_journals",
    "write_atomic",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    if name in _PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")  # the import binds it here
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


# ``toolkit.remediate`` is both the public function and the subpackage toolkit/remediate/: the
# subpackage is made callable when it is bound here (calling it runs the function), so every
# import form (``import toolkit.remediate.apply as a``, ``mock.patch("toolkit.remediate.x")``)
# sees the package and ``toolkit.remediate(...)`` still runs a remediation.
_PACKAGES = frozenset({"remediate"})


def _forward(name: str) -> Any:
    def __call__(self: types.ModuleType, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(_EXPORTS[name]), name)(*args, **kwargs)

    return __call__


class _Root(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PACKAGES and isinstance(value, types.ModuleType) and not callable(value):
            value.__class__ = type(f"_Callable_{name}", (type(value),), {"__call__": _forward(name)})
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Root


if TYPE_CHECKING:
    from toolkit.api import audit, plan, probe, remediate, rollback, run
    from toolkit.atomic import write_atomic
    from toolkit.config import Config, ConfigError, load_config
    from toolkit.errors import (
        Aborted,
        CredentialError,
        InputError,
        InventoryError,
        JournalError,
        PsfleetError,
        UsageError,
    )
    from toolkit.fanout.runner import FanoutHooks, FanoutOptions
    from toolkit.inventory.credentials import Credential, resolve_credentials
    from toolkit.inventory.limit import apply_limit
    from toolkit.inventory.loader import load_inventory
    from toolkit.inventory.model import Host, Inventory
    from toolkit.remediate import HostRemediation, RemediateOptions, RemediateRun, workarounds_from_journals
    from toolkit.report.render import FORMATS, render
    from toolkit.results import (
        AuditRun,
        CheckResult,
        CheckStatus,
        ErrorKind,
        HostError,
        HostResult,
        HostStatus,
        OsInfo,
    )
    from toolkit.run_command.command import RunCommand, parse_param
    from toolkit.run_command.results import CommandRun, HostRunResult, OutputObject, RunStatus
    from toolkit.run_command.runner import RunHooks, WriteNotConfirmed
