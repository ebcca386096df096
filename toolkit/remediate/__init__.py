"""Remediation: plan, apply, verify, journal, roll back.

The public API (keyword-only options, plain-data results that render like an audit run)::

    plan(inventory, credentials=..., options=..., only=..., allow_insecure=...) -> RemediateRun
    remediate(inventory, credentials=..., journal=Path, ...) -> RemediateRun
    rollback(journal_path, inventory=..., credentials=...) -> RemediateRun
    workarounds_from_journals() -> hook for toolkit.api.audit(workarounds=...)
"""

from __future__ import annotations

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
