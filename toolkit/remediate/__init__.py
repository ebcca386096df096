"""Remediation: plan, apply, verify, journal, roll back.

The public API (keyword-only options, plain-data results that render like an audit run)::

    plan(inventory, credentials=..., options=..., only=..., allow_insecure=...) -> RemediateRun
    remediate(inventory, credentials=..., journal=Path, ...) -> RemediateRun
    rollback(journal_path, inventory=..., credentials=...) -> RemediateRun
    workarounds_from_journals() -> hook for toolkit.api.audit(workarounds=...)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

# Names are imported on first use: an audit reads the workaround journals
# (toolkit.remediate.workarounds) and must not pay for planning, writing and rollback.
_EXPORTS: dict[str, str] = {
    "plan": "toolkit.remediate.apply",
    "remediate": "toolkit.remediate.apply",
    "Journal": "toolkit.remediate.journal",
    "default_journal_path": "toolkit.remediate.journal",
    "read_journal": "toolkit.remediate.journal",
    "state_dir": "toolkit.remediate.journal",
    "EFFECT_NOTE": "toolkit.remediate.model",
    "SCHEMA": "toolkit.remediate.model",
    "HostRemediation": "toolkit.remediate.model",
    "Outcome": "toolkit.remediate.model",
    "RemediateRun": "toolkit.remediate.model",
    "RemediateStatus": "toolkit.remediate.model",
    "RemediateOptions": "toolkit.remediate.options",
    "parse_batch": "toolkit.remediate.options",
    "parse_expires": "toolkit.remediate.options",
    "default_rollback_journal": "toolkit.remediate.rollback",
    "rollback": "toolkit.remediate.rollback",
    "workarounds_from_journals": "toolkit.remediate.workarounds",
}


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # the import binds it here
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit.remediate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


#: Submodules that share their name with the function they hold or serve: the module is
#: callable and runs that function, so ``from toolkit.remediate import plan; plan(...)`` and
#: ``import toolkit.remediate.plan as p`` both work whichever was imported first.
_CALLABLE_SUBMODULES: dict[str, tuple[str, str]] = {
    "plan": ("toolkit.remediate.apply", "plan"),
    "rollback": ("toolkit.remediate.rollback", "rollback"),
}


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module, name = _CALLABLE_SUBMODULES[self.__name__.rpartition(".")[2]]
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


class _Package(types.ModuleType):
    """Binds the callable submodules (``toolkit`` makes this package callable in turn: the
    top-level function ``toolkit.remediate`` has its name)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_SUBMODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule  # bound by the import system on first import
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:
    from toolkit.remediate.apply import plan, remediate
    from toolkit.remediate.journal import Journal, default_journal_path, read_journal, state_dir
    from toolkit.remediate.model import (
        EFFECT_NOTE,
        SCHEMA,
        HostRemediation,
        Outcome,
        RemediateRun,
        RemediateStatus,
    )
    from toolkit.remediate.options import RemediateOptions, parse_batch, parse_expires
    from toolkit.remediate.rollback import default_rollback_journal, rollback
    from toolkit.remediate.workarounds import workarounds_from_journals

__all__ = [
    "EFFECT_NOTE",
    "SCHEMA",
    "HostRemediation",
    "Journal",
    "Outcome",
    "RemediateOptions",
    "RemediateRun",
    "RemediateStatus",
    "default_journal_path",
    "default_rollback_journal",
    "parse_batch",
    "parse_expires",
    "plan",
    "read_journal",
    "remediate",
    "rollback",
    "state_dir",
    "workarounds_from_journals",
]
