"""Roll back a remediation journal: put every journaled value back as it was before.

For each (host, setting) the first ``intent`` of the journal gives the prior value (absent
values are deleted again). Only intents count, not outcomes: after a crash the journal may
end with intents whose outcome was never written, and those writes may or may not have
happened. The host is probed first, so rollback is idempotent:

* current value == prior value: nothing to do (``compliant``; a second rollback changes
  nothing);
* current value == the value remediation wrote (or ``force``): restore it with the registry
  provider (``Set-ItemProperty -Type <prior kind> -Force`` or ``Remove-ItemProperty``),
  verified by read-back in the same round trip (``restored``);
* anything else: someone changed it since; left alone (``conflict``) unless ``force``.

Only (path, value name) pairs psfleet's settings own are touched, with the prior kinds
such values can have (:func:`toolkit.remediate.journal.read_journal` refuses anything else
with file:line). A host the inventory places at another address than the journal's is
refused unless ``force``. An incomplete last line (the journal cut short) is reported and
skipped. Rollback journals its own work (same format, ``command: rollback``) next to the
journal; its intents record the command it actually sends.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from toolkit import __version__
from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.checks.osinfo import os_info
from toolkit.checks.probe import ProbeError
from toolkit.checks.smbconfig import smb_write
from toolkit.errors import JournalError
from toolkit.fanout.runner import Failure, FailureFn, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate.apply import RemediateHooks, end_journal, new_run_id
from toolkit.remediate.execute import (
    LeaseDenied,
    Progress,
    journal_unknown,
    release_lease,
    take_lease,
    write_and_verify,
)
from toolkit.remediate.interrupt import cancellable, in_fanout
from toolkit.remediate.journal import (
    Intent,
    Journal,
    JournalWriteError,
    JournalWriter,
    free_journal_path,
    now_iso,
    read_journal,
    state_dir,
)
from toolkit.remediate.lease import Busy, Cancelled, HostGuard, LocalLock
from toolkit.remediate.model import (
    SETTINGS,
    HostRemediation,
    Outcome,
    RemediateRun,
    RemediateStatus,
    Setting,
    SettingResult,
    host_status,
    same_value,
)
from toolkit.remediate.plan import AMBIGUOUS_REASON, PlannedWrite, registry_write
from toolkit.remediate.truekind import TrueFacts, parse_true_facts, read_statements
from toolkit.remediate.workarounds import clear_workaround, workarounds_path
from toolkit.results import ErrorKind, HostError
from toolkit.transport.model import Command
from toolkit.transport.protocol import CredentialLike, TransportError, endpoint_of
from toolkit.transport.select import open_session


def default_rollback_journal(journal: Path) -> Path:
    """``<journal stem>.rollback-<UTC timestamp>.jsonl`` next to the journal (a free name)."""
    return free_journal_path(journal.parent, f"{journal.stem}.rollback")


@dataclass(frozen=True)
class _HostWork:
    host: Host
    intents: tuple[Intent, ...]


#: One host to roll back and its journal's first intents (a runner's unit of work).
HostWork = _HostWork


def rollback(
    journal_path: Path,
    *,
    inventory: Inventory,
    credentials: Mapping[str, CredentialLike | None],
    rollback_journal: Path | None = None,
    options: FanoutOptions | None = None,
    force: bool = False,
    salvage: bool = False,
    workaround_file: Path | None = None,
    hooks: RemediateHooks | None = None,
    stop: threading.Event | None = None,
    lock_dir: Path | None = None,
    journal: Journal | None = None,
    runner: RollbackRunner | None = None,
) -> RemediateRun:
    """Restore every prior value recorded in ``journal_path`` and verify it by read-back.

    Hosts are looked up by name in ``inventory`` (for their transport and credentials); a
    host whose address (``address:port``) differs from the journal's is refused unless
    ``force`` (:func:`host_mismatches`). ``salvage`` skips damaged records instead of
    refusing the journal (the run then exits 2 and lists them). Each host is restored under
    its lease and this box's lock, like a remediation.
    Raises :class:`toolkit.errors.JournalError` for a journal that cannot be used.
    """
    parsed = journal or read_journal(journal_path, salvage=salvage)
    per_host = intents_by_host(parsed)
    known = {h.name: h for h in inventory.hosts}
    mismatched = dict(host_mismatches(parsed, inventory))
    refused = {} if force else mismatched
    # In inventory order, as every command reports its hosts (the journal's order is the
    # order the remediation's hosts happened to finish).
    work = [
        _HostWork(host, tuple(per_host[host.name]))
        for host in inventory.hosts
        if host.name in per_host and host.name not in refused
    ]
    missing = [name for name in per_host if name not in known]

    notes: list[str] = list(journal_notes(parsed))
    if force and mismatched:
        notes += [f"--force: rolling back despite {why}" for why in mismatched.values()]
    notes += later_writes(parsed, [w.host.name for w in work])

    run_id = new_run_id()
    started = now_iso()
    target = rollback_journal or default_rollback_journal(journal_path)
    writer = JournalWriter.create(
        target,
        {
            "run_id": run_id,
            "command": "rollback",
            "started": started,
            "inventory": inventory.source,
            "psfleet_version": __version__,
            "source_journal": str(journal_path),
            "source_run_id": parsed.run_id,
            "hosts": len(work),
            "force": force,
            "salvage": salvage,
        },
    )
    progress: dict[str, Progress] = {}
    lock = threading.Lock()
    by_name = {w.host.name: w for w in work}
    state = _State(stop or threading.Event(), lock_dir or state_dir() / "locks")
    task = _task(
        by_name,
        credentials,
        writer,
        run_id,
        parsed.run_id,
        force,
        progress,
        lock,
        workaround_file or workarounds_path(),
        state,
    )
    hosts: list[HostRemediation] = []
    interrupted = True
    run: RemediateRun | None = None

    def summary(**outcome: Any) -> RemediateRun:
        """The rollback as it stands: the hosts done so far and the journal's state."""
        return RemediateRun(
            hosts=tuple(hosts),
            mode="rollback",
            run_id=run_id,
            started=started,
            finished=now_iso(),
            inventory=inventory.source,
            version=__version__,
            journal=str(target),
            journal_error=state.journal_error,
            **outcome,
        )

    def cancel_all(why: str) -> None:
        for item in list(progress.values()):
            item.guard.cancel(why)

    registered = contextlib.ExitStack()
    registered.enter_context(cancellable(cancel_all))
    try:
        if runner is not None:
            context = RollbackContext(
                run_id, parsed.run_id, force, writer, credentials, options, workaround_file, state, progress
            )
            hosts, interrupted = runner(work, context)
        else:
            with in_fanout():
                hosts, interrupted = run_hosts(
                    [w.host for w in work],
                    task,
                    fail=_fail(by_name, progress, writer, run_id, state),
                    options=options,
                    hooks=hooks,
                    stop=state.stop,
                )
        if state.journal_error:
            interrupted = False
        hosts += [
            _refused(name, per_host[name][0], "not in the inventory: cannot connect to roll it back")
            for name in missing
        ]
        hosts += [
            _refused(name, per_host[name][0], f"{why}; refused (--force to roll back anyway)")
            for name, why in refused.items()
            if name in known
        ]
        skipped = tuple(f"{journal_path}:{line}: {why}" for line, why in parsed.skipped)
        run = summary(interrupted=interrupted, notes=tuple(notes), skipped_lines=skipped)
        return run
    finally:
        registered.close()
        cancel_all("the run ended")
        if run is None:  # an exception (a second Ctrl-C...): still say how the run ended
            run = summary(interrupted=True)
        end_journal(writer, run)
        writer.close()


@dataclass(frozen=True)
class RollbackContext:
    """What every host's restore reads (a runner's view of the rollback)."""

    run_id: str
    source_run_id: str
    force: bool
    journal: JournalWriter
    credentials: Mapping[str, CredentialLike | None]
    options: FanoutOptions | None
    workaround_file: Path | None
    state: _State
    progress: dict[str, Progress]


#: Runs the hosts elsewhere (the engine's site workers): (the hosts' work, the rollback's
#: context) -> (their results in the work's order, interrupted). Default: this machine.
RollbackRunner = Callable[[list[_HostWork], RollbackContext], tuple[list[HostRemediation], bool]]


def rollback_here(
    ctx: RollbackContext, work: Sequence[_HostWork], *, on_item: Callable[[HostRemediation], None]
) -> bool:
    """Restore ``work`` from this machine as :func:`rollback` does, each host's result to
    ``on_item`` as soon as it is known (the engine's controller and site workers); returns
    whether the run was interrupted."""
    by_name = {w.host.name: w for w in work}
    task = _task(
        by_name,
        ctx.credentials,
        ctx.journal,
        ctx.run_id,
        ctx.source_run_id,
        ctx.force,
        ctx.progress,
        threading.Lock(),
        ctx.workaround_file or workarounds_path(),
        ctx.state,
    )

    _, interrupted = run_hosts(
        [w.host for w in work],
        task,
        fail=_fail(by_name, ctx.progress, ctx.journal, ctx.run_id, ctx.state),
        options=ctx.options,
        hooks=RemediateHooks(on_result=on_item),
        stop=ctx.state.stop,
    )
    return interrupted


def intents_by_host(journal: Journal) -> dict[str, list[Intent]]:
    """The first intent of each (host, setting), grouped by host: what rollback restores."""
    firsts: dict[tuple[str, str], Intent] = {}
    for intent in journal.intents:
        firsts.setdefault((intent.host, intent.setting), intent)
    per_host: dict[str, list[Intent]] = {}
    for (host_name, _), intent in firsts.items():
        per_host.setdefault(host_name, []).append(intent)
    return per_host


def host_mismatches(journal: Journal, inventory: Inventory) -> list[tuple[str, str]]:
    """``(host, why)`` for every journaled host the inventory names but places elsewhere:
    another address (``address:port``) than the journal's, or (for journals that recorded
    no address) another inventory file than the journal's."""
    known = {h.name: h for h in inventory.hosts}
    out: list[tuple[str, str]] = []
    journal_inventory = str(journal.header.get("inventory") or "")
    same_inventory = _same_file(journal_inventory, inventory.source)
    for name, intents in intents_by_host(journal).items():
        host = known.get(name)
        if host is None:
            continue
        recorded = {i.endpoint for i in intents if i.endpoint}
        addresses = {i.address for i in intents if i.address}
        now = endpoint_of(host)
        if recorded and now not in recorded:
            out.append(
                (
                    name,
                    f"{name}: the journal wrote to {', '.join(sorted(recorded))}, the inventory says {now}",
                )
            )
        elif not recorded and addresses and host.address not in addresses:
            out.append(
                (
                    name,
                    f"{name}: the journal wrote to {', '.join(sorted(addresses))}, the inventory says {host.address}",
                )
            )
        elif not recorded and not addresses and not same_inventory:
            out.append(
                (
                    name,
                    f"{name}: the journal was written with inventory {journal_inventory or '?'}, not {inventory.source}",
                )
            )
    return out


def _same_file(a: str, b: str) -> bool:
    if not a or not b:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def journal_notes(journal: Journal) -> list[str]:
    notes: list[str] = []
    if journal.damaged_line is not None:
        notes.append(
            f"{journal.path}:{journal.damaged_line}: the journal is cut short there (an incomplete last "
            "record: a crash while appending, or a truncated copy); that record was skipped, and any "
            "write journaled after it is not known to this rollback"
        )
    if not journal.ended:
        notes.append(
            "the journal has no end record: the remediation did not finish (crash, kill, or cut short)"
        )
    for line, why in journal.skipped:
        notes.append(f"{journal.path}:{line}: skipped ({why})")
    return notes


def later_writes(journal: Journal, hosts: list[str], directories: list[Path] | None = None) -> list[str]:
    """Warnings for (host, setting) pairs another journal wrote *after* this one (in the
    journal's directory and the state dir's journals): rolling this one back undoes them."""
    wanted = {(i.host, i.setting): i.time for i in journal.intents if i.host in set(hosts)}
    if not wanted:
        return []
    folders = directories or list(dict.fromkeys([journal.path.parent, state_dir() / "journals"]))
    seen: set[Path] = set()
    warnings: list[str] = []
    for folder in folders:
        try:
            candidates = sorted(folder.glob("*.jsonl"))
        except OSError:
            continue
        for path in candidates:
            resolved = path.resolve()
            if resolved in seen or resolved == journal.path.resolve():
                continue
            seen.add(resolved)
            try:
                other = read_journal(path, salvage=True)
            except JournalError:
                continue
            if other.header.get("command") != "remediate" or other.run_id == journal.run_id:
                continue
            for intent in other.intents:
                mine = wanted.get((intent.host, intent.setting))
                if mine is not None and intent.time > mine:
                    warnings.append(
                        f"warning: {intent.host} {intent.setting} was written again by run {other.run_id} "
                        f"({path}:{intent.line}) after this journal; rolling back overwrites it only if the "
                        "value still reads as this run left it (else: conflict)"
                    )
    return warnings


@dataclass
class _State:
    """The rollback's stop flag, this box's lock folder, and its journal's failure."""

    stop: threading.Event
    lock_dir: Path
    journal_error: str | None = None

    def journal_failed(self, exc: JournalError) -> None:
        if self.journal_error is None:
            self.journal_error = str(exc)
        self.stop.set()


RollbackState = _State


def _refused(name: str, intent: Intent, why: str) -> HostRemediation:
    return HostRemediation(
        name=name,
        address=intent.address,
        status=RemediateStatus.ERROR,
        error=HostError(ErrorKind.ERROR, why, False),
    )


def _task(
    work: Mapping[str, _HostWork],
    credentials: Mapping[str, CredentialLike | None],
    writer: JournalWriter,
    run_id: str,
    source_run_id: str,
    force: bool,
    progress: dict[str, Progress],
    lock: threading.Lock,
    workaround_file: Path,
    run_state: _State,
) -> Callable[[Host, float], HostRemediation]:
    """One host's restore as the fan-out's task: its :class:`HostRemediation` (what the
    fan-out gives up on, :func:`_fail` judges)."""

    def task(host: Host, deadline: float) -> HostRemediation:
        state = Progress(guard=HostGuard(deadline))
        with lock:
            progress[host.name] = state
        if run_state.journal_error:
            state.guard.cancel("the journal could not be written")
        started = time.monotonic()
        local = LocalLock(run_state.lock_dir, host.name, run_id)
        try:
            local.acquire()
            try:
                result = _restore(host, state, started)
            finally:
                local.release()
        except Busy as exc:
            error = HostError(ErrorKind.ERROR, exc.message, sent=False)
            result = replace(_error_host(host, error), status=RemediateStatus.BUSY)
        except Cancelled:  # stopped by the run (journal failure, Ctrl-C) or its deadline
            return _settle(work[host.name], state, state.guard.stopped(), writer, run_id, run_state, {})
        except JournalWriteError as exc:
            run_state.journal_failed(exc)
            for other in list(progress.values()):
                other.guard.cancel("the journal could not be written")
            message = f"{exc.message}; {'the restores were sent, outcome not journaled' if state.verified is not None else 'nothing was written to this host'}"
            error = HostError(ErrorKind.ERROR, message, sent=state.verified is not None)
            result = _error_host(host, error)
        return result.served(state.transport({}))

    def _restore(host: Host, state: Progress, started: float) -> HostRemediation:
        guard = state.guard
        intents = work[host.name].intents
        guard.check()
        with open_session(host, credentials.get(host.name), deadline=guard.deadline) as session:
            state.session = session
            try:
                guard.check()
                owned = owned_settings(intents)
                facts = parse_true_facts(session.run(read_statements(owned)), owned)
                items, writes = _plan(facts, intents, force)
                if writes:
                    facts = take_lease(session, guard, run_id, owned)
            except ProbeError as exc:
                error = HostError(exc.kind, f"unexpected answer: {exc.message}")
                return _error_host(host, error)
            except LeaseDenied as exc:
                return _error_host(host, exc.error, facts.facts)
            try:
                items, writes = _plan(facts, intents, force)  # as read under the lease
                state.stage = "planned"
                host_error = None
                if writes:
                    try:
                        verified = write_and_verify(
                            session,
                            host,
                            writes,
                            journal=writer,
                            run_id=run_id,
                            progress=state,
                            ok=Outcome.RESTORED,
                            settings=owned,
                        )
                    except TransportError as exc:
                        message = (
                            f"{exc.error.message}; the restores were sent and may have happened (not retried)"
                        )
                        guard.check()
                        journal_unknown(writer, run_id=run_id, host=host, writes=writes, error=message)
                        error = HostError(exc.error.kind, message)
                        return _error_host(host, error, facts.facts)
                    for r in verified.results:
                        items[r.spec.setting.id] = _restored_item(
                            items[r.spec.setting.id], r.outcome, r.error
                        )
                        if r.spec.setting.weakenable and r.outcome is Outcome.RESTORED:
                            with contextlib.suppress(OSError, JournalError):
                                clear_workaround(
                                    host.name,
                                    setting=r.spec.setting.id,
                                    run_id=source_run_id,
                                    path=workaround_file,
                                )
                    host_error = verified.host_error
            finally:
                if writes and not guard.cancelled:
                    release_lease(session, guard)
            checks = tuple(items.values())
            return HostRemediation(
                name=host.name,
                address=host.address,
                status=host_status(checks, host_error),
                os=os_info(facts.facts.current_version),
                checks=checks,
                error=host_error,
                duration_s=time.monotonic() - started,
                groups=host.groups,
            )

    return task


def restore_command(setting: Setting, prior: RegValue) -> Command:
    """The write that puts ``prior`` back: the registry, or the ``smb:`` check's Set cmdlet."""
    if setting.smb_type:
        if prior.kind != "DWord" or not isinstance(prior.value, int):
            raise ValueError(f"cannot restore {prior.describe()} through {setting.path}")
        return smb_write(setting.path, setting.name, setting.smb_type, prior.value)
    return registry_write(setting.path, setting.name, prior)


def owned_settings(intents: tuple[Intent, ...]) -> dict[str, Setting]:
    """The settings the intents' baselines own, by id: the only values rollback reads and
    writes (the default baseline's for journals written before baselines)."""
    return {i.setting: i.owner or SETTINGS[i.setting] for i in intents}


def _plan(
    read: TrueFacts, intents: tuple[Intent, ...], force: bool
) -> tuple[dict[str, SettingResult], list[PlannedWrite]]:
    facts = read.facts
    items: dict[str, SettingResult] = {}
    writes: list[PlannedWrite] = []
    for intent in intents:
        setting = intent.owner or SETTINGS[intent.setting]
        key = setting.key_in(facts)
        current = key.value(setting.name)
        if same_value(current, intent.before):
            items[intent.setting] = _item(
                intent, key, Outcome.COMPLIANT, f"already at the prior value {intent.before.describe()}"
            )
            continue
        if intent.setting in read.ambiguous:
            items[intent.setting] = _item(intent, key, Outcome.BLOCKED, AMBIGUOUS_REASON)
            continue
        if not key.exists:
            items[intent.setting] = _item(intent, key, Outcome.BLOCKED, f"key {intent.path} does not exist")
            continue
        if not (force or same_value(current, intent.after)):
            items[intent.setting] = _item(
                intent,
                key,
                Outcome.CONFLICT,
                f"changed since the remediation: now {current.describe()}, remediation wrote "
                f"{intent.after.describe()}; left alone (use --force to restore anyway)",
            )
            continue
        try:
            command = restore_command(setting, intent.before)
        except ValueError as exc:
            items[intent.setting] = _item(intent, key, Outcome.BLOCKED, str(exc))
            continue
        spec = PlannedWrite(setting, current, intent.before, (command,))
        writes.append(spec)
        items[intent.setting] = _item(
            intent, key, Outcome.PENDING, f"restore {intent.before.describe()}", spec.command_text
        )
    return items, writes


def _item(intent: Intent, key: KeyFacts, outcome: Outcome, reason: str, command: str = "") -> SettingResult:
    return SettingResult(
        id=intent.setting,
        path=intent.path,
        name=intent.name,
        before=key.value(intent.name),
        after=intent.before if command else None,
        command=command,
        outcome=outcome,
        reason=reason,
        rule=f"journal line {intent.line}",
        expected=f"prior value {intent.before.describe()}",
    )


def _restored_item(item: SettingResult, outcome: Outcome, error: str | None) -> SettingResult:
    reason = (
        f"restored {item.after.describe() if item.after else 'absent'}, verified by read-back"
        if outcome is Outcome.RESTORED
        else f"not restored: {error}"
    )
    return replace(item, outcome=outcome, reason=reason)


def _error_host(host: Host, error: HostError, facts: HostFacts | None = None) -> HostRemediation:
    return HostRemediation(
        name=host.name,
        address=host.address,
        status=RemediateStatus.from_error(error.kind),
        os=os_info(facts.current_version) if facts else None,
        error=error,
        groups=host.groups,
    )


def _fail(
    work: Mapping[str, _HostWork],
    progress: Mapping[str, Progress],
    writer: JournalWriter,
    run_id: str,
    run_state: _State,
) -> FailureFn[HostRemediation]:
    """The fan-out's ``fail`` for a rollback: a host it gave up on (deadline, Ctrl-C, a
    transport error, not attempted, not run), judged with what its worker got to."""

    def fail(failure: Failure) -> HostRemediation:
        state = progress.get(failure.host.name)
        return _settle(
            work[failure.host.name], state, failure.error, writer, run_id, run_state, failure.details
        )

    return fail


def _settle(
    work: _HostWork,
    state: Progress | None,
    error: HostError | None,
    writer: JournalWriter,
    run_id: str,
    run_state: _State,
    details: Mapping[str, Any],
) -> HostRemediation:
    """A host the fan-out gave up on (``error``: why; None when the run cancelled its worker),
    judged once: the fan-out's fail and the cancelled worker may both come here."""
    if state is None:
        return _judge(work, None, error, writer, run_id, run_state, details)
    return state.settle_once(lambda: _judge(work, state, error, writer, run_id, run_state, details))


def _judge(
    work: _HostWork,
    state: Progress | None,
    error: HostError | None,
    writer: JournalWriter,
    run_id: str,
    run_state: _State,
    details: Mapping[str, Any],
) -> HostRemediation:
    """Nothing more may go out for the host, and restores that were sent are journaled as
    unknown."""
    sent = state.guard.cancel(error.message if error else "no result") if state is not None else False
    error = error or HostError(ErrorKind.ERROR, "no result")
    if state is not None and sent and state.writes:
        message = f"{error.message}; the restores were sent and may have happened"
        if writer.failed is None:
            try:
                journal_unknown(writer, run_id=run_id, host=work.host, writes=state.writes, error=message)
            except JournalError as exc:
                run_state.journal_failed(exc)
        error = HostError(error.kind, message)
    elif run_state.journal_error and error.message == "not run: interrupted":
        error = HostError(ErrorKind.ERROR, "not run: the journal could not be written", sent=False)
    elif error.kind is ErrorKind.TIMEOUT and not sent:
        error = HostError(ErrorKind.TIMEOUT, f"{error.message}, nothing restored", sent=False)
    return _error_host(work.host, error).served(state.transport(details) if state is not None else details)
