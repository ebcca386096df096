"""Write and verify on one host: journal the intents (fsynced), then send the writes followed by
the audit's read statements as ONE pipeline, and judge each write by its read-back.

Shared by remediation and rollback. Registry and SmbShare write errors are non-terminating
(docs/windows-facts.md#non-terminating-errors): they arrive in the same error stream as the reads, so they are told apart by
the command that raised them. A write counts as done only when the value read back in the
same round trip is the intended one (kind and data).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from toolkit.checks.facts import HostFacts, RegValue
from toolkit.checks.probe import ProbeError
from toolkit.checks.smbconfig import is_smb_read_error
from toolkit.inventory.model import Host
from toolkit.remediate.journal import JournalWriter, intent_record, outcome_record
from toolkit.remediate.lease import (
    Busy,
    HostGuard,
    acquire_statements,
    holder_dead,
    new_lease,
    release_statements,
    split_lease_answer,
)
from toolkit.remediate.model import SETTINGS, Outcome, Setting, same_value
from toolkit.remediate.plan import HostPlan, PlannedWrite
from toolkit.remediate.truekind import TrueFacts, is_native_error, parse_true_facts, read_statements
from toolkit.results import ErrorKind, HostError
from toolkit.transport.model import ErrorRecordData, InvocationResult, Statement
from toolkit.transport.protocol import Session, endpoint_of, transport_fields


@dataclass(frozen=True)
class WriteResult:
    spec: PlannedWrite
    outcome: Outcome
    observed: RegValue | None
    error: str | None


@dataclass(frozen=True)
class Verified:
    results: tuple[WriteResult, ...]
    #: Set when the host as a whole failed (access denied, nothing verified).
    host_error: HostError | None


_R = TypeVar("_R")


@dataclass
class Progress:
    """How far a worker got on one host (in-flight state, not its result: the task returns
    that): read when the fan-out gives up on the host (deadline, interrupt), which may then
    still be in flight, to cancel it and judge what may have been written."""

    stage: str = "new"  # new | planned | sent | done
    plan: HostPlan | None = None
    writes: tuple[PlannedWrite, ...] = ()
    #: Checked before every journal append and send; cancelled by the coordinator.
    guard: HostGuard = field(default_factory=lambda: HostGuard(float("inf")))
    #: The writes' verdicts, once read back (before their outcomes are journaled).
    verified: tuple[WriteResult, ...] | None = None
    #: The session serving the host: which client, and why pypsrp after a fallback.
    session: Session | None = None
    #: The host's result once judged after the fan-out gave up on it or the run cancelled its
    #: worker (see :meth:`settle_once`).
    settled: Any = None
    settle_lock: threading.Lock = field(default_factory=threading.Lock)

    def settle_once(self, judge: Callable[[], _R]) -> _R:
        """``judge()`` the first time, its result ever after: the fan-out's ``fail`` and the
        cancelled worker may both settle one host, which must be judged (and journaled) once."""
        with self.settle_lock:
            if self.settled is None:
                self.settled = judge()
            settled: _R = self.settled
            return settled

    def transport(self, otherwise: Mapping[str, Any]) -> Mapping[str, Any]:
        """``transport``/``transport_fallback`` of the session, else ``otherwise`` (a failed
        open: the fan-out's result carries the client that failed)."""
        return transport_fields(self.session) if self.session is not None else otherwise


class LeaseDenied(Exception):
    """The lease could not be taken for another reason than a holder (access denied...)."""

    def __init__(self, error: HostError) -> None:
        super().__init__(error.message)
        self.error = error


def take_lease(
    session: Session, guard: HostGuard, run_id: str, settings: Mapping[str, Setting] | None = None
) -> TrueFacts:
    """Take the host's lease (see :mod:`toolkit.remediate.lease`) and return the managed
    values (``settings``, default: the default baseline's) read under it. Raises :class:`Busy` when another run holds it,
    :class:`LeaseDenied` when it cannot be created, :class:`ProbeError` for a bad read."""
    for take_over in (False, True):
        lease = new_lease(run_id, guard.remaining())
        guard.sending()
        reads = read_statements(settings or SETTINGS)
        held, rest = split_lease_answer(
            session.run(acquire_statements(lease, take_over=take_over, reads=reads))
        )
        if held is None:
            denied = [e for e in rest.extra.get("lease_errors", ()) if e.category == "PermissionDenied"]
            kind = ErrorKind.ACCESS_DENIED if denied else ErrorKind.ERROR
            why = denied[0].message if denied else "the lease value could not be created or read"
            raise LeaseDenied(
                HostError(
                    kind, f"cannot take the host's lease: {why} (not an administrator?); nothing was written"
                )
            )
        if held.run_id == run_id:
            return parse_true_facts(rest, settings)
        if take_over or (held.expires > datetime.now(UTC) and not holder_dead(held)):
            raise Busy(held.run_id, "lease on the host", held.expires.isoformat())
    raise AssertionError("unreachable")


def release_lease(session: Session, guard: HostGuard) -> None:
    """Remove the lease (best effort: an unreleased lease expires)."""
    try:
        guard.sending()
        session.run(release_statements())
    except Exception:  # cancelled, or the host went away: the lease expires on its own
        return


def is_read_error(error: ErrorRecordData) -> bool:
    return (
        is_smb_read_error(error)
        or error.activity == "Get-ItemProperty"
        or is_native_error(error)
        or error.fully_qualified_error_id.lower().endswith("getitempropertycommand")
    )


def split_errors(result: InvocationResult) -> tuple[InvocationResult, tuple[ErrorRecordData, ...]]:
    """(the read part of ``result`` for :func:`parse_facts`, the write errors)."""
    reads = tuple(e for e in result.errors if is_read_error(e))
    writes = tuple(e for e in result.errors if not is_read_error(e))
    read_result = InvocationResult(
        output=result.output, errors=reads, had_errors=bool(reads), extra=result.extra
    )
    return read_result, writes


def write_and_verify(
    session: Session,
    host: Host,
    writes: Sequence[PlannedWrite],
    *,
    journal: JournalWriter,
    run_id: str,
    progress: Progress,
    ok: Outcome = Outcome.CHANGED,
    settings: Mapping[str, Setting] | None = None,
) -> Verified:
    """Journal, write, read back, journal the outcomes. :class:`TransportError` propagates
    once ``progress.stage`` is ``sent``: the writes may have happened (never retried,
    docs/windows-facts.md#no-retry-after-write).
    ``progress.guard`` is checked before each journal append and before the send
    (:class:`toolkit.remediate.lease.Cancelled`); a journal that cannot be written raises
    :class:`toolkit.remediate.journal.JournalWriteError` (before the send: nothing sent)."""
    guard = progress.guard
    guard.check()
    journal.append(
        *(
            intent_record(
                run_id=run_id,
                host=host.name,
                address=host.address,
                setting=w.setting.id,
                path=w.setting.path,
                name=w.setting.name,
                before=w.before,
                after=w.after,
                command=w.command_text,
                workaround_expires=w.workaround_expires,
                endpoint=endpoint_of(host),
                baseline=w.setting.baseline,
                baseline_digest=w.setting.digest,
            )
            for w in writes
        )
    )
    progress.writes = tuple(writes)
    guard.sending()
    progress.stage = "sent"
    managed = settings or SETTINGS
    statements: tuple[Statement, ...] = tuple((c,) for w in writes for c in w.commands) + read_statements(
        managed
    )
    answer = session.run(statements)
    read_part, write_errors = split_errors(answer)
    try:
        facts: HostFacts | None = parse_true_facts(read_part, managed).facts
        read_error = None
    except ProbeError as exc:
        facts, read_error = None, f"read-back failed: {exc.message}"
    results: list[WriteResult] = []
    for w in writes:
        if facts is None:
            results.append(WriteResult(w, Outcome.UNKNOWN, None, read_error))
            continue
        observed = w.setting.key_in(facts).value(w.setting.name)
        if same_value(observed, w.after):
            results.append(WriteResult(w, ok, observed, None))
            continue
        message = _error_for(w, write_errors) or (
            f"read back {observed.describe()}, expected {w.after.describe()}"
        )
        results.append(WriteResult(w, Outcome.FAILED, observed, message))
    progress.verified = tuple(results)
    guard.check()
    journal.append(
        *(
            outcome_record(
                run_id=run_id,
                host=host.name,
                setting=r.spec.setting.id,
                outcome=r.outcome.value,
                observed=r.observed,
                error=r.error,
            )
            for r in results
        )
    )
    progress.stage = "done"
    return Verified(tuple(results), _host_error(results, write_errors))


def journal_unknown(
    journal: JournalWriter, *, run_id: str, host: Host, writes: Sequence[PlannedWrite], error: str
) -> tuple[WriteResult, ...]:
    """The writes went out and no answer came back: record that nothing is known."""
    results = tuple(WriteResult(w, Outcome.UNKNOWN, None, error) for w in writes)
    if not journal.closed:
        journal.append(
            *(
                outcome_record(
                    run_id=run_id, host=host.name, setting=r.spec.setting.id, outcome="unknown", error=error
                )
                for r in results
            )
        )
    return results


def _error_for(write: PlannedWrite, errors: Sequence[ErrorRecordData]) -> str | None:
    names = {c.name.lower() for c in write.commands}
    tail = write.setting.path.split(":", 1)[-1].lower().rsplit("\\", 2)
    key_tail = "\\".join(tail[-2:])
    for error in errors:
        if error.activity.lower() not in names:
            continue
        if error.activity.lower().endswith("itemproperty") and key_tail not in error.target.lower():
            continue
        return error.message
    return None


def _host_error(results: Sequence[WriteResult], write_errors: Sequence[ErrorRecordData]) -> HostError | None:
    failed = [r for r in results if r.outcome is not Outcome.CHANGED and r.outcome is not Outcome.RESTORED]
    if not failed:
        return None
    done = len(results) - len(failed)
    denied = [e for e in write_errors if e.category == "PermissionDenied"]
    if denied and done == 0 and len(denied) == len(write_errors):
        unchanged = all(r.observed is not None and same_value(r.observed, r.spec.before) for r in results)
        what = (
            "nothing was written (read-back unchanged)" if unchanged else "read-back differs, see each change"
        )
        return HostError(ErrorKind.ACCESS_DENIED, f"{denied[0].message} (not an administrator?); {what}")
    first = failed[0]
    return HostError(
        ErrorKind.ERROR,
        f"{len(failed)} of {len(results)} writes not verified "
        f"({first.spec.setting.id}: {first.error or first.outcome.value}); {done} verified",
    )
