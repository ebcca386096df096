"""Remediation results as plain data: one item per setting, one result per host, one run.

:class:`RemediateRun` has ``hosts``, ``summary``, ``schema`` and ``to_dict()``, so every
renderer of :mod:`toolkit.report` reads it like an audit run (schema ``psfleet.remediate/1``).
Each :class:`SettingResult` is also a check view: its ``status`` is ``compliant``,
``changed``, ``drift`` or ``not_applicable`` (so JUnit fails on anything still drifted) while
``outcome`` keeps the precise story (pending, failed, blocked, unknown...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from toolkit.baselines.loader import DEFAULT_BASELINE, resolve
from toolkit.baselines.model import Baseline
from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.results import ErrorKind, ErrorStatus, HostError, OsInfo, run_document
from toolkit.results import exit_code as results_exit_code

SCHEMA = "psfleet.remediate/1"

#: When a change takes effect (docs/windows-facts.md#smb-change-takes-effect, docs/windows-facts.md#signing-no-restart).
EFFECT_NOTE = (
    "takes effect for new SMB connections; existing mappings may need reconnecting (no restart needed)"
)


@dataclass(frozen=True)
class Setting:
    """A registry value psfleet manages: a baseline check's id, key and value name, the kind
    it writes and the prior kinds rollback may restore, and the baseline it belongs to
    (name and SHA-256, recorded with every journaled write). Built from the baselines'
    checks (:func:`settings_of`; docs/windows-facts.md#rsn-value, #signing-client-value,
    #signing-server-value for the shipped ones)."""

    id: str
    path: str
    name: str
    kind: str = "DWord"
    prior_kinds: tuple[str, ...] = ("DWord", "String", "ExpandString")
    baseline: str = DEFAULT_BASELINE
    digest: str = ""
    #: The check has a desired state that weakens security (a workaround with an expiry).
    weakenable: bool = False
    #: ``smb:`` checks: the property's type (bool, uint32); ``path`` is then the Get- cmdlet.
    smb_type: str = ""

    def key_in(self, facts: HostFacts) -> KeyFacts:
        """The probed key this setting's value lives in."""
        return facts.key(self.path)


def settings_of(baselines: Iterable[Baseline]) -> dict[str, Setting]:
    """Every check of ``baselines`` as a :class:`Setting`, by check id, in baseline order.
    A shipped baseline is recorded by name, a file by its absolute path."""
    out: dict[str, Setting] = {}
    for baseline in baselines:
        recorded = baseline.name if baseline.shipped else str(Path(baseline.source).resolve())
        for check in baseline.checks:
            out[check.id] = Setting(
                check.id,
                check.path,
                check.name,
                check.kind,
                check.prior_kinds,
                recorded,
                baseline.digest,
                weakenable=check.guardrail is not None,
                smb_type=check.smb_type,
            )
    return out


#: The settings of the default baseline (smb-validate-negotiate).
SETTINGS: dict[str, Setting] = settings_of((resolve(DEFAULT_BASELINE),))


class Outcome(StrEnum):
    """What happened to one setting on one host."""

    COMPLIANT = "compliant"  # already at the desired state: nothing to do
    NOT_APPLICABLE = "not_applicable"  # the setting means nothing on this build
    BLOCKED = "blocked"  # a guardrail refused the change (e.g. --allow-insecure missing)
    PENDING = "pending"  # --check: would be written
    CHANGED = "changed"  # written and verified by read-back
    FAILED = "failed"  # written (or tried) but the read-back does not match
    UNKNOWN = "unknown"  # the write went out but no answer came back
    NOT_RUN = "not_run"  # planned, never sent (rollout stopped, host failed before)
    RESTORED = "restored"  # rollback: prior value back, verified
    CONFLICT = "conflict"  # rollback: the value changed since remediation; left alone

    @property
    def check_status(self) -> str:
        """The renderer-facing status: still drifted reads as ``drift``."""
        if self in (Outcome.COMPLIANT, Outcome.NOT_APPLICABLE):
            return self.value
        if self in (Outcome.CHANGED, Outcome.RESTORED):
            return "changed"
        return "drift"

    @property
    def done(self) -> bool:
        """The setting is where it should be after this run."""
        return self in (Outcome.COMPLIANT, Outcome.NOT_APPLICABLE, Outcome.CHANGED, Outcome.RESTORED)

    @property
    def failure(self) -> bool:
        """Counts against --max-fail-percent (a guardrail refusal does not)."""
        return self in (Outcome.FAILED, Outcome.UNKNOWN, Outcome.CONFLICT)


class RemediateStatus(ErrorStatus):
    """A host's state at the end of the run (``compliant``: everything at the desired state;
    ``drift``: changes pending or still drifted; ``skipped``: never contacted because the
    rollout stopped; ``busy``: another run holds the host's lease, nothing was written;
    the rest: not reached, as in an audit)."""

    COMPLIANT = "compliant"
    DRIFT = "drift"
    SKIPPED = "skipped"
    BUSY = "busy"  # another run holds the host's lease: nothing was written

    @property
    def reached(self) -> bool:
        return self in (RemediateStatus.COMPLIANT, RemediateStatus.DRIFT)


def host_status(checks: Sequence[SettingResult], error: HostError | None) -> RemediateStatus:
    """A host's status: a classified host error (access denied, timeout...) wins; otherwise
    ``compliant`` when every setting is done, else ``drift``. A plain ``error`` (some writes
    not verified) leaves it to the settings."""
    if error is not None and error.kind is not ErrorKind.ERROR:
        return RemediateStatus.from_error(error.kind)
    if all(c.outcome.done for c in checks):
        return RemediateStatus.COMPLIANT
    return RemediateStatus.DRIFT


def value_dict(value: RegValue | None) -> dict[str, Any] | None:
    """A registry value as journal/JSON data: ``{"kind": "DWord", "value": 1}``,
    ``{"kind": None}`` when absent (bytes as hex)."""
    if value is None:
        return None
    if value.kind is None:
        return {"kind": None}
    data = value.value
    if isinstance(data, bytes | bytearray):
        data = bytes(data).hex()
    elif isinstance(data, tuple):
        data = list(data)
    return {"kind": value.kind, "value": data}


def value_from_dict(data: Any) -> RegValue:
    """The inverse of :func:`value_dict`; raises ValueError on anything else."""
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError("a value must be an object with 'kind'")
    kind = data["kind"]
    if kind is None:
        return RegValue(None)
    if kind not in ("DWord", "QWord", "String", "ExpandString", "MultiString", "Binary", "Unknown"):
        raise ValueError(f"unknown value kind {kind!r}")
    if "value" not in data:
        raise ValueError("a value needs 'value' when 'kind' is set")
    raw = data["value"]
    if kind in ("DWord", "QWord") and (not isinstance(raw, int) or isinstance(raw, bool)):
        raise ValueError(f"{kind} value must be an integer")
    if kind == "Binary":
        if not isinstance(raw, str):
            raise ValueError("Binary value must be a hex string")
        return RegValue("Binary", bytes.fromhex(raw))
    if kind == "MultiString":
        if not isinstance(raw, list):
            raise ValueError("MultiString value must be a list")
        return RegValue("MultiString", tuple(str(s) for s in raw))
    return RegValue(kind, raw)


def same_value(a: RegValue, b: RegValue) -> bool:
    """Equal kind and data (absent equals absent)."""
    if a.kind is None or b.kind is None:
        return a.kind is None and b.kind is None
    return a.kind == b.kind and a.value == b.value


@dataclass(frozen=True)
class SettingResult:
    """One setting on one host: before, after, the command, and what happened.

    Also a check view for the renderers (``id``, ``expected``, ``actual``, ``status``,
    ``reason``, ``rule``).
    """

    id: str
    path: str
    name: str
    before: RegValue
    after: RegValue | None  # None: nothing to write
    command: str  # Command.render() of the write(s); "" when nothing is written
    outcome: Outcome
    reason: str
    rule: str
    expected: str = ""
    observed: RegValue | None = None  # read back after the write

    @property
    def status(self) -> str:
        return self.outcome.check_status

    @property
    def actual(self) -> str:
        text = f"{self.name}={self.before.describe()}"
        if self.after is not None:
            text += f" -> {self.after.describe()}"
        if self.outcome.value != self.status:
            text += f" [{self.outcome.value}]"
        return text

    @property
    def planned(self) -> bool:
        return self.after is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "name": self.name,
            "before": value_dict(self.before),
            "after": value_dict(self.after),
            "command": self.command,
            "outcome": self.outcome.value,
            "observed": value_dict(self.observed),
            "status": self.status,
            "reason": self.reason,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class HostRemediation:
    """One host's plan and outcome. ``checks`` (every managed setting) is what the renderers
    read; ``changes`` are the settings with a write planned."""

    name: str
    address: str
    status: RemediateStatus
    os: OsInfo | None = None
    checks: tuple[SettingResult, ...] = ()
    error: HostError | None = None
    batch: int | None = None
    duration_s: float = 0.0
    groups: tuple[str, ...] = ()
    #: The WinRM client that served (or failed) the host, and why pypsrp after the lean one.
    transport: str | None = None
    transport_fallback: str | None = None

    @property
    def changes(self) -> tuple[SettingResult, ...]:
        return tuple(c for c in self.checks if c.planned)

    @property
    def failed(self) -> bool:
        """Counts against --max-fail-percent: not reached, or a change failed."""
        if self.status is RemediateStatus.SKIPPED:
            return False
        return not self.status.reached or any(c.outcome.failure for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "status": self.status.value,
            "batch": self.batch,
            "os": self.os.to_dict() if self.os else None,
            "changes": [c.to_dict() for c in self.changes],
            "checks": [
                {
                    "id": c.id,
                    "status": c.status,
                    "outcome": c.outcome.value,
                    "reason": c.reason,
                    "rule": c.rule,
                }
                for c in self.checks
            ],
            "error": self.error.to_dict() if self.error else None,
            "duration_s": round(self.duration_s, 3),
            "transport": self.transport,
            "transport_fallback": self.transport_fallback,
        }

    def served(self, fields: Mapping[str, Any]) -> HostRemediation:
        """This result with ``transport``/``transport_fallback`` from ``fields``."""
        return replace(
            self, transport=fields.get("transport"), transport_fallback=fields.get("transport_fallback")
        )


@dataclass(frozen=True)
class BatchReport:
    number: int
    hosts: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def fail_percent(self) -> float:
        return 100.0 * len(self.failed) / len(self.hosts) if self.hosts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "hosts": list(self.hosts),
            "failed": list(self.failed),
            "fail_percent": round(self.fail_percent, 1),
        }


#: Exit code of an interrupted run (128 + SIGINT), as the shell reports it.
EXIT_INTERRUPTED = 130
#: Exit code when the journal could not be written, or --salvage skipped lines.
EXIT_JOURNAL = 2


def exit_code(hosts: tuple[HostRemediation, ...]) -> int:
    """0 every host at the desired state; 4 changes pending or still drifted; 8 a host not
    reached (or skipped, or busy); 12 both."""
    return results_exit_code(
        drift=any(h.status is RemediateStatus.DRIFT for h in hosts),
        unassessed=any(not h.status.reached for h in hosts),
    )


@dataclass(frozen=True)
class RemediateRun:
    """The aggregate of one ``remediate`` (mode ``check`` or ``apply``) or ``rollback``."""

    hosts: tuple[HostRemediation, ...]
    mode: str  # check | apply | rollback
    run_id: str
    started: str
    finished: str
    inventory: str
    version: str
    journal: str | None = None
    batches: tuple[BatchReport, ...] = ()
    stopped: str | None = None  # why the rollout stopped before the last batch
    interrupted: bool = False
    schema: str = SCHEMA
    notes: tuple[str, ...] = field(default=())
    #: Why the journal could not be written (the run stopped starting hosts), else None.
    journal_error: str | None = None
    #: Rollback --salvage: journal lines skipped, as ``file:line: why``.
    skipped_lines: tuple[str, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(h.status.value for h in self.hosts)
        out = {s.value: counts.get(s.value, 0) for s in RemediateStatus}
        out["total"] = len(self.hosts)
        return out

    @property
    def check_ids(self) -> tuple[str, ...]:
        """The settings remediation knows by default, in display order: a report's columns
        even when no host was reached (hosts judged against other checks show theirs)."""
        return tuple(SETTINGS)

    @property
    def change_counts(self) -> dict[str, int]:
        counts = Counter(c.outcome.value for h in self.hosts for c in h.changes)
        return dict(sorted(counts.items()))

    @property
    def exit_code(self) -> int:
        """The process's exit code: 130 interrupted, 2 journal error (or lines skipped by
        ``--salvage``), else 0/4/8/12 from the hosts."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.journal_error or self.skipped_lines:
            return EXIT_JOURNAL
        return exit_code(self.hosts)

    def to_dict(self) -> dict[str, Any]:
        doc = run_document(
            self,
            id=self.run_id,
            mode=self.mode,
            journal=self.journal,
            stopped=self.stopped,
            effect=EFFECT_NOTE,
            journal_error=self.journal_error,
            skipped_lines=list(self.skipped_lines),
        )
        hosts = doc.pop("hosts")
        doc.update(
            changes=self.change_counts,
            batches=[b.to_dict() for b in self.batches],
            notes=list(self.notes),
            hosts=hosts,
        )
        return doc
