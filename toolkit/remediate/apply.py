"""Plan and apply across the fleet: probe, plan, journal, write + read back, in batches.

Per host, one session: the audit's probe (one round trip), :func:`plan_host`, then (apply
mode, when something drifts) :func:`write_and_verify` (one more round trip: writes followed
by the read-back). Hosts run in batches; the first batch is the canary, and the rollout stops
before the next batch when too many hosts of a batch failed.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolkit import __version__
from toolkit.baselines.select import baselines_for
from toolkit.checks.probe import ProbeError
from toolkit.errors import JournalError
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.lockout import CredentialGate
from toolkit.fanout.runner import Failure, FailureFn, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate.execute import (
    LeaseDenied,
    Progress,
    WriteResult,
    journal_unknown,
    release_lease,
    take_lease,
    write_and_verify,
)
from toolkit.remediate.interrupt import cancellable, in_fanout
from toolkit.remediate.journal import JournalWriteError, JournalWriter, end_record, now_iso, state_dir
from toolkit.remediate.lease import Busy, Cancelled, HostGuard, LocalLock
from toolkit.remediate.model import (
    BatchReport,
    HostRemediation,
    Outcome,
    RemediateRun,
    RemediateStatus,
    SettingResult,
    host_status,
)
from toolkit.remediate.options import RemediateOptions, parse_batch, split_batches
from toolkit.remediate.plan import HostPlan, host_settings, plan_host, run_settings, validate_only
from toolkit.remediate.truekind import TrueFacts, parse_true_facts, read_statements
from toolkit.remediate.workarounds import (
    WorkaroundLookup,
    clear_workaround,
    record_workaround,
    workarounds_path,
)
from toolkit.report.words import counted
from toolkit.results import ErrorKind, HostError
from toolkit.transport.protocol import CredentialLike, Session, TransportError
from toolkit.transport.select import open_session

BatchHook = Callable[[BatchReport, int], None]
#: The hooks of plan and remediate: the fan-out's one protocol, with each host's remediation
#: as it finishes (its own status: ``busy``, ``changed``, ...).
RemediateHooks = Hooks[HostRemediation]
#: Runs one batch elsewhere (the engine's site workers): (the batch's hosts, the run's
#: context) -> (their results in the hosts' order, interrupted). Default: this machine.
BatchRunner = Callable[[Sequence[Host], "RunContext"], tuple[list[HostRemediation], bool]]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


@dataclass
class _Context:
    run_id: str
    credentials: Mapping[str, CredentialLike | None]
    only: tuple[str, ...] | None
    allow_insecure: bool
    expires: datetime | None
    now: datetime
    workarounds: WorkaroundLookup | None
    journal: JournalWriter | None  # None: --check, nothing is written
    workaround_file: Path | None
    progress: dict[str, Progress] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Per-host lock files of this box (None: --check, no lock).
    lock_dir: Path | None = None
    #: Set on the first journal write failure (and ``stop`` with it: no host starts after).
    journal_error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def journal_failed(self, exc: JournalError) -> None:
        with self.lock:
            if self.journal_error is None:
                self.journal_error = str(exc)
        self.stop.set()
        self.cancel_all("the journal could not be written")

    def cancel_all(self, why: str) -> None:
        """Cancel every host still in flight (nothing more is journaled or sent for them)."""
        with self.lock:
            guards = [p.guard for p in self.progress.values()]
        for guard in guards:
            guard.cancel(why)


def plan(
    inventory: Inventory,
    *,
    credentials: Mapping[str, CredentialLike | None],
    options: RemediateOptions | None = None,
    only: Sequence[str] | None = None,
    allow_insecure: bool = False,
    expires: datetime | None = None,
    workarounds: WorkaroundLookup | None = None,
    hooks: RemediateHooks | None = None,
    stop: threading.Event | None = None,
    batch_runner: BatchRunner | None = None,
) -> RemediateRun:
    """Dry run (``--check``): probe every host and plan, writing nothing and journaling
    nothing. Changes are ``pending``; the run's exit code is 4 when any are."""
    options = options or RemediateOptions()
    ctx = _Context(
        run_id=new_run_id(),
        credentials=credentials,
        only=validate_only(only, run_settings(inventory.hosts)),
        allow_insecure=allow_insecure,
        expires=expires,
        now=datetime.now(UTC),
        workarounds=workarounds,
        journal=None,
        workaround_file=None,
    )
    started = now_iso()
    if batch_runner is not None:
        ran, interrupted = batch_runner(list(inventory.hosts), ctx)
        hosts = tuple(ran)
    else:
        results, interrupted = run_hosts(
            list(inventory.hosts), _task(ctx), fail=_fail(ctx), options=options.fanout, hooks=hooks, stop=stop
        )
        hosts = tuple(results)
    return RemediateRun(
        hosts=hosts,
        mode="check",
        run_id=ctx.run_id,
        started=started,
        finished=now_iso(),
        inventory=inventory.source,
        version=__version__,
        interrupted=interrupted,
    )


def remediate(
    inventory: Inventory,
    *,
    credentials: Mapping[str, CredentialLike | None],
    journal: Path,
    options: RemediateOptions | None = None,
    only: Sequence[str] | None = None,
    allow_insecure: bool = False,
    expires: datetime | None = None,
    workarounds: WorkaroundLookup | None = None,
    workaround_file: Path | None = None,
    hooks: RemediateHooks | None = None,
    on_batch: BatchHook | None = None,
    stop: threading.Event | None = None,
    lock_dir: Path | None = None,
    batch_runner: BatchRunner | None = None,
) -> RemediateRun:
    """Bring drifted hosts to the inventory's desired state, batch by batch.

    ``journal`` must not exist (:class:`toolkit.errors.JournalError` otherwise): every intent
    is fsynced there before its write goes out, every outcome after the read-back.
    ``expires`` is the expiry of secure-negotiate workarounds (``allow_insecure``); verified
    ones are recorded in ``workaround_file`` (default: the state dir's workarounds.json).
    Writes are never retried after a failure or timeout once sent
    (docs/windows-facts.md#no-retry-after-write).

    Each host is written under its lease (``busy`` when another run holds it) and this box's
    lock for it (``lock_dir``, default ``<state dir>/locks``). A journal that cannot be
    written stops the run: no host starts after, hosts in flight send nothing more, and the
    run comes back with ``journal_error`` set (exit 2). ``stop`` (set on Ctrl-C) stops
    starting hosts; hosts in flight finish.
    """
    options = options or RemediateOptions()
    only_ids = validate_only(only, run_settings(inventory.hosts))
    hosts = list(inventory.hosts)
    size = parse_batch(options.batch, len(hosts))
    run_id = new_run_id()
    started = now_iso()
    writer = JournalWriter.create(
        journal,
        {
            "run_id": run_id,
            "command": "remediate",
            "started": started,
            "inventory": inventory.source,
            "psfleet_version": __version__,
            "hosts": len(hosts),
            "only": list(only_ids) if only_ids else None,
            "allow_insecure": allow_insecure,
            "workaround_expires": expires.isoformat() if expires else None,
        },
    )
    ctx = _Context(
        run_id=run_id,
        credentials=credentials,
        only=only_ids,
        allow_insecure=allow_insecure,
        expires=expires,
        now=datetime.now(UTC),
        workarounds=workarounds,
        journal=writer,
        workaround_file=workaround_file or workarounds_path(),
        lock_dir=lock_dir or state_dir() / "locks",
        stop=stop or threading.Event(),
    )
    batches = split_batches(hosts, size)
    gate = CredentialGate()  # a credential that failed to log on stays given up in later batches
    done: list[HostRemediation] = []
    reports: list[BatchReport] = []
    stopped: str | None = None
    interrupted = False
    run: RemediateRun | None = None

    def summary(**outcome: Any) -> RemediateRun:
        """The run as it stands: the hosts done so far and the journal's state."""
        return RemediateRun(
            hosts=tuple(done),
            mode="apply",
            run_id=run_id,
            started=started,
            finished=now_iso(),
            inventory=inventory.source,
            version=__version__,
            journal=str(journal),
            journal_error=ctx.journal_error,
            **outcome,
        )

    registered = contextlib.ExitStack()
    registered.enter_context(cancellable(ctx.cancel_all))
    try:
        for number, batch in enumerate(batches, start=1):
            if stopped or interrupted or ctx.journal_error:
                why = (
                    "the journal could not be written"
                    if ctx.journal_error
                    else f"rollout stopped after batch {len(reports)}"
                    if stopped
                    else "interrupted"
                )
                done += [_skipped(h, number, why) for h in batch]
                continue
            if batch_runner is not None:
                ran, interrupted = batch_runner(batch, ctx)
                outcome = [_with_batch(h, number) for h in ran]
            else:
                with in_fanout():
                    results, interrupted = run_hosts(
                        batch,
                        _task(ctx),
                        fail=_fail(ctx),
                        options=options.fanout,
                        hooks=hooks,
                        stop=ctx.stop,
                        gate=gate,
                    )
                outcome = [_with_batch(h, number) for h in results]
            if ctx.journal_error:
                interrupted = False  # stopped by the journal, not by the operator
            done += outcome
            report = BatchReport(
                number, tuple(h.name for h in batch), tuple(h.name for h in outcome if h.failed)
            )
            reports.append(report)
            if on_batch is not None:
                on_batch(report, len(batches))
            if number < len(batches) and report.fail_percent > options.max_fail_percent:
                stopped = (
                    f"stopped after batch {number} of {len(batches)}"
                    f"{' (canary)' if number == 1 else ''}: {len(report.failed)} of {len(report.hosts)} hosts "
                    f"failed ({report.fail_percent:.0f}% > --max-fail-percent {options.max_fail_percent:g}); "
                    f"{counted(sum(len(b) for b in batches[number:]), 'host')} in later batches not touched"
                )
        run = summary(batches=tuple(reports), stopped=stopped, interrupted=interrupted)
        return run
    finally:
        registered.close()
        ctx.cancel_all("the run ended")
        if run is None:  # an exception (a second Ctrl-C...): still say how the run ended
            run = summary(interrupted=True)
        end_journal(writer, run)
        writer.close()


def end_journal(writer: JournalWriter, run: RemediateRun) -> None:
    """The journal's end record (nothing when the journal already failed)."""
    if writer.failed is None:
        with contextlib.suppress(JournalError):  # the run then reports journal_error
            writer.append(end_record(run))


#: The context of a remediation run (what every host's task reads), for a batch runner.
RunContext = _Context


def work_here(
    ctx: RunContext,
    hosts: Sequence[Host],
    *,
    options: FanoutOptions,
    on_item: Callable[[HostRemediation], None],
    stop: threading.Event | None = None,
) -> bool:
    """Run ``hosts`` on this machine as a batch of ``ctx``'s run does, each host's result
    to ``on_item`` as soon as it is known (the engine's controller and site workers); returns
    whether the run was interrupted."""
    _, interrupted = run_hosts(
        list(hosts),
        _task(ctx),
        fail=_fail(ctx),
        options=options,
        hooks=RemediateHooks(on_result=on_item),
        stop=stop,
    )
    return interrupted


# -- one host ------------------------------------------------------------------------------


def _task(ctx: _Context) -> Callable[[Host, float], HostRemediation]:
    """One host's remediation as the fan-out's task: its :class:`HostRemediation` (what the
    fan-out gives up on, :func:`_fail` judges)."""

    def task(host: Host, deadline: float) -> HostRemediation:
        progress = Progress(guard=HostGuard(deadline))
        with ctx.lock:
            ctx.progress[host.name] = progress
        if ctx.journal_error:
            progress.guard.cancel("the journal could not be written")
        started = time.monotonic()
        lock = LocalLock(ctx.lock_dir, host.name, ctx.run_id) if ctx.lock_dir is not None else None
        try:
            if lock is not None:
                lock.acquire()
            try:
                result = _host_work(ctx, host, progress, started)
            finally:
                if lock is not None:
                    lock.release()
        except Busy as exc:
            result = _busy(host, exc, time.monotonic() - started)
        except Cancelled:  # stopped by the run (journal failure, Ctrl-C) or its deadline
            return _settle(ctx, host, progress.guard.stopped(), time.monotonic() - started, {})
        except JournalWriteError as exc:
            ctx.journal_failed(exc)
            result = _journal_failed(ctx, host, progress, exc, time.monotonic() - started)
        return result.served(progress.transport({}))

    return task


def _fail(ctx: _Context) -> FailureFn[HostRemediation]:
    """The fan-out's ``fail`` for a run: a host it gave up on (deadline, Ctrl-C, a transport
    error, credential not attempted, not run), judged with what its worker got to."""

    def fail(failure: Failure) -> HostRemediation:
        return _settle(ctx, failure.host, failure.error, failure.duration_s, failure.details)

    return fail


def _host_work(ctx: _Context, host: Host, progress: Progress, started: float) -> HostRemediation:
    guard = progress.guard
    guard.check()
    with open_session(host, ctx.credentials.get(host.name), deadline=guard.deadline) as session:
        progress.session = session
        guard.check()
        settings = host_settings(host)
        answer = session.run(read_statements(settings))
        try:
            facts = parse_true_facts(answer, settings)
        except ProbeError as exc:
            error = HostError(exc.kind, f"unexpected answer: {exc.message}")
            return _failed(host, error, None, time.monotonic() - started)
        host_plan = _plan(ctx, host, facts)
        progress.plan = host_plan
        progress.stage = "planned"
        if ctx.journal is None or not host_plan.writes:
            return _host(host, host_plan, host_plan.items, None, time.monotonic() - started)
        # Writes are due: take the host's lease, and plan again from the values read under it.
        try:
            facts = take_lease(session, guard, ctx.run_id, settings)
        except LeaseDenied as exc:
            return _failed(host, exc.error, host_plan, time.monotonic() - started)
        except ProbeError as exc:
            release_lease(session, guard)
            error = HostError(exc.kind, f"unexpected answer: {exc.message}")
            return _failed(host, error, host_plan, time.monotonic() - started)
        try:
            return _write(ctx, session, host, _plan(ctx, host, facts), progress, started)
        finally:
            if not guard.cancelled:
                release_lease(session, guard)


def _plan(ctx: _Context, host: Host, read: TrueFacts) -> HostPlan:
    lookup = ctx.workarounds(host) if ctx.workarounds is not None else None
    return plan_host(
        host,
        read.facts,
        ambiguous=read.ambiguous,
        only=ctx.only,
        allow_insecure=ctx.allow_insecure,
        expires=ctx.expires,
        now=ctx.now,
        workarounds=lookup,
        baselines=baselines_for(host),
    )


def _write(
    ctx: _Context, session: Session, host: Host, host_plan: HostPlan, progress: Progress, started: float
) -> HostRemediation:
    assert ctx.journal is not None
    progress.plan = host_plan
    writes = host_plan.writes
    if not writes:  # another run fixed it meanwhile
        return _host(host, host_plan, host_plan.items, None, time.monotonic() - started)
    try:
        verified = write_and_verify(
            session,
            host,
            writes,
            journal=ctx.journal,
            run_id=ctx.run_id,
            progress=progress,
            settings=host_settings(host),
        )
    except TransportError as exc:
        message = f"{exc.error.message}; the writes were sent and may have happened (not retried)"
        progress.guard.check()
        unknown = journal_unknown(ctx.journal, run_id=ctx.run_id, host=host, writes=writes, error=message)
        error = HostError(exc.error.kind, message)
        return _host(host, host_plan, _merge(host_plan, unknown), error, time.monotonic() - started)
    try:
        _update_workarounds(ctx, host, verified.results)
    except (OSError, JournalError) as exc:
        ctx.journal_failed(
            JournalWriteError(f"cannot record the workaround: {exc}", file=ctx.workaround_file)
        )
    items = _merge(host_plan, verified.results)
    return _host(host, host_plan, items, verified.host_error, time.monotonic() - started)


def _busy(host: Host, exc: Busy, duration: float) -> HostRemediation:
    return HostRemediation(
        name=host.name,
        address=host.address,
        status=RemediateStatus.BUSY,
        error=HostError(ErrorKind.ERROR, exc.message, sent=False),
        duration_s=duration,
        groups=host.groups,
    )


def _journal_failed(
    ctx: _Context, host: Host, progress: Progress, exc: JournalError, duration: float
) -> HostRemediation:
    """The journal failed while this host was worked on: written and read back (outcome not
    journaled), or nothing sent."""
    host_plan = progress.plan
    if progress.verified is not None and host_plan is not None:
        items = _merge(host_plan, progress.verified)
        error = HostError(ErrorKind.ERROR, f"{exc.message}; the outcome below is not in the journal")
        result = _host(host, host_plan, items, error, duration)
    else:
        error = HostError(ErrorKind.ERROR, f"{exc.message}; nothing was written to this host", sent=False)
        result = _failed(host, error, host_plan, duration)
    return result


def _merge(host_plan: HostPlan, results: Sequence[WriteResult]) -> tuple[SettingResult, ...]:
    by_id = {r.spec.setting.id: r for r in results}
    items: list[SettingResult] = []
    for item in host_plan.items:
        r = by_id.get(item.id)
        if r is None:
            items.append(item)
            continue
        if r.outcome is Outcome.CHANGED:
            reason = f"changed to {r.spec.after.describe()}, verified by read-back"
        elif r.outcome is Outcome.UNKNOWN:
            reason = f"state unknown: {r.error}"
        else:
            reason = f"not changed: {r.error}"
        items.append(replace(item, outcome=r.outcome, reason=reason, observed=r.observed))
    return tuple(items)


def _update_workarounds(ctx: _Context, host: Host, results: Sequence[WriteResult]) -> None:
    """Record a verified weakening write (secure negotiate disabled...) as a temporary
    workaround; any other verified write of that check ends one."""
    assert ctx.journal is not None and ctx.workaround_file is not None
    for r in results:
        if not r.spec.setting.weakenable or r.outcome is not Outcome.CHANGED:
            continue
        if r.spec.workaround_expires is not None:
            record_workaround(
                host.name,
                setting=r.spec.setting.id,
                expires=r.spec.workaround_expires,
                run_id=ctx.run_id,
                journal=str(ctx.journal.path.resolve()),
                address=host.address,
                path=ctx.workaround_file,
            )
        else:
            clear_workaround(host.name, setting=r.spec.setting.id, path=ctx.workaround_file)


# -- results -------------------------------------------------------------------------------


def _host(
    host: Host, host_plan: HostPlan, items: Sequence[SettingResult], error: HostError | None, duration: float
) -> HostRemediation:
    return HostRemediation(
        name=host.name,
        address=host.address,
        status=host_status(items, error),
        os=host_plan.os,
        checks=tuple(items),
        error=error,
        duration_s=duration,
        groups=host.groups,
    )


def _failed(host: Host, error: HostError, host_plan: HostPlan | None, duration: float) -> HostRemediation:
    items: tuple[SettingResult, ...] = ()
    if host_plan is not None:
        items = tuple(_not_run(i, error.message) for i in host_plan.items)
    return HostRemediation(
        name=host.name,
        address=host.address,
        status=RemediateStatus.from_error(error.kind),
        os=host_plan.os if host_plan else None,
        checks=items,
        error=error,
        duration_s=duration,
        groups=host.groups,
    )


def _not_run(item: SettingResult, why: str) -> SettingResult:
    if item.outcome is not Outcome.PENDING:
        return item
    return replace(item, outcome=Outcome.NOT_RUN, reason=f"not written: {why}")


def _skipped(host: Host, batch: int, why: str) -> HostRemediation:
    return HostRemediation(
        name=host.name,
        address=host.address,
        status=RemediateStatus.SKIPPED,
        error=HostError(ErrorKind.ERROR, f"not run: {why}", sent=False),
        batch=batch,
        groups=host.groups,
    )


def _settle(
    ctx: _Context, host: Host, error: HostError | None, duration: float, details: Mapping[str, Any]
) -> HostRemediation:
    """A host the fan-out gave up on (``error``: why; None when the run cancelled its worker),
    judged with what its worker got to: nothing more may go out for it, and writes that were
    sent are journaled as unknown."""
    with ctx.lock:
        progress = ctx.progress.get(host.name)
    if progress is None:
        return _judge(ctx, host, error, duration, details, None)
    return progress.settle_once(lambda: _judge(ctx, host, error, duration, details, progress))


def _judge(
    ctx: _Context,
    host: Host,
    error: HostError | None,
    duration: float,
    details: Mapping[str, Any],
    progress: Progress | None,
) -> HostRemediation:
    why = error.message if error else "no result"
    sent = progress.guard.cancel(why) if progress is not None else False
    if progress is not None and sent and progress.plan is not None:
        # Abandoned while its lease or writes were in flight.
        if progress.writes:
            message = f"{why}; the writes were sent and may have happened"
        else:
            message = f"{why}; its lease was being taken, no setting was written"
        unknown: tuple[WriteResult, ...] = ()
        if ctx.journal is not None and progress.writes and ctx.journal.failed is None:
            try:
                unknown = journal_unknown(
                    ctx.journal, run_id=ctx.run_id, host=host, writes=progress.writes, error=message
                )
            except JournalError as exc:
                ctx.journal_failed(exc)
        abandoned = HostError(error.kind if error else ErrorKind.TIMEOUT, message)
        item = HostRemediation(
            name=host.name,
            address=host.address,
            status=RemediateStatus.from_error(abandoned.kind),
            os=progress.plan.os,
            checks=_merge(progress.plan, unknown)
            if unknown
            else tuple(_not_run(i, message) for i in progress.plan.items),
            error=abandoned,
            duration_s=duration,
            groups=host.groups,
        )
    else:
        error = error or HostError(ErrorKind.ERROR, "no result")
        if ctx.journal_error and error.message == "not run: interrupted":
            error = HostError(ErrorKind.ERROR, "not run: the journal could not be written", sent=False)
        elif error.kind is ErrorKind.TIMEOUT and progress is not None and not sent:
            error = HostError(ErrorKind.TIMEOUT, f"{error.message}, no changes", sent=False)
        item = _failed(host, error, progress.plan if progress else None, duration)
    return item.served(progress.transport(details) if progress is not None else details)


def _with_batch(item: HostRemediation, batch: int | None) -> HostRemediation:
    return item if batch is None else replace(item, batch=batch)
