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

A partial last journal line (a crash mid-append) is reported and skipped: an intent is
fsynced before its write is sent, so a write whose intent never completed was never sent.
Rollback journals its own work (same format, ``command: rollback``) next to the journal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from toolkit import __version__
from toolkit.checks.facts import HostFacts, KeyFacts
from toolkit.checks.osinfo import os_info
from toolkit.checks.probe import AUDIT_STATEMENTS, ProbeError, parse_facts
from toolkit.fanout.runner import FanoutHooks, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate.apply import new_run_id
from toolkit.remediate.execute import Progress, journal_unknown, write_and_verify
from toolkit.remediate.journal import (
    Intent,
    JournalWriter,
    end_record,
    free_journal_path,
    now_iso,
    read_journal,
)
from toolkit.remediate.model import (
    SETTINGS,
    HostRemediation,
    Outcome,
    RemediateRun,
    RemediateStatus,
    SettingResult,
    host_status,
    same_value,
)
from toolkit.remediate.plan import PlannedWrite, registry_write
from toolkit.remediate.workarounds import clear_workaround, workarounds_path
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus
from toolkit.transport.session import CredentialLike, HostSession, TransportError


def default_rollback_journal(journal: Path) -> Path:
    """``<journal stem>.rollback-<UTC timestamp>.jsonl`` next to the journal (a free name)."""
    return free_journal_path(journal.parent, f"{journal.stem}.rollback")


@dataclass(frozen=True)
class _HostWork:
    host: Host
    intents: tuple[Intent, ...]


def rollback(
    journal_path: Path,
    *,
    inventory: Inventory,
    credentials: Mapping[str, CredentialLike | None],
    rollback_journal: Path | None = None,
    options: FanoutOptions | None = None,
    force: bool = False,
    workaround_file: Path | None = None,
    hooks: FanoutHooks | None = None,
    stop: threading.Event | None = None,
) -> RemediateRun:
    """Restore every prior value recorded in ``journal_path`` and verify it by read-back.

    Hosts are looked up by name in ``inventory`` (for their transport and credentials).
    Raises :class:`toolkit.errors.JournalError` for a journal that cannot be used.
    """
    journal = read_journal(journal_path)
    firsts: dict[tuple[str, str], Intent] = {}
    for intent in journal.intents:
        firsts.setdefault((intent.host, intent.setting), intent)
    per_host: dict[str, list[Intent]] = {}
    for (host_name, _), intent in firsts.items():
        per_host.setdefault(host_name, []).append(intent)
    known = {h.name: h for h in inventory.hosts}
    work = [_HostWork(known[name], tuple(intents)) for name, intents in per_host.items() if name in known]
    missing = [name for name in per_host if name not in known]

    notes: list[str] = []
    if journal.damaged_line is not None:
        notes.append(
            f"{journal_path}:{journal.damaged_line}: damaged last line (a crash while appending?) ignored: "
            "its write was never sent"
        )
    if not journal.ended:
        notes.append("the journal has no end record: the remediation did not finish (crash or kill)")

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
            "source_run_id": journal.run_id,
            "hosts": len(work),
            "force": force,
        },
    )
    progress: dict[str, Progress] = {}
    lock = threading.Lock()
    by_name = {w.host.name: w for w in work}
    task = _task(
        by_name,
        credentials,
        writer,
        run_id,
        journal.run_id,
        force,
        progress,
        lock,
        workaround_file or workarounds_path(),
    )
    try:
        results, interrupted = run_hosts(
            [w.host for w in work], task, options=options, hooks=hooks, stop=stop
        )
        hosts = [_collect(r, by_name[r.name], progress.get(r.name), writer, run_id) for r in results]
        hosts += [
            HostRemediation(
                name=name,
                address=per_host[name][0].address,
                status=RemediateStatus.ERROR,
                error=HostError(
                    ErrorKind.ERROR, "not in the inventory: cannot connect to roll it back", False
                ),
            )
            for name in missing
        ]
        run = RemediateRun(
            hosts=tuple(hosts),
            mode="rollback",
            run_id=run_id,
            started=started,
            finished=now_iso(),
            inventory=inventory.source,
            version=__version__,
            journal=str(target),
            interrupted=interrupted,
            notes=tuple(notes),
        )
        writer.append(end_record(run))
        return run
    finally:
        writer.close()


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
) -> Callable[[Host, float], HostResult]:
    def task(host: Host, deadline: float) -> HostResult:
        state = Progress()
        with lock:
            progress[host.name] = state
        started = time.monotonic()
        intents = work[host.name].intents
        with HostSession(host, credentials.get(host.name), deadline=deadline) as session:
            try:
                facts = parse_facts(session.run(AUDIT_STATEMENTS))
            except ProbeError as exc:
                error = HostError(exc.kind, f"unexpected answer: {exc.message}")
                state.result = _error_host(host, error)
                return _stub(host, error)
            items, writes = _plan(facts, intents, force)
            state.stage = "planned"
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
                    )
                except TransportError as exc:
                    message = (
                        f"{exc.error.message}; the restores were sent and may have happened (not retried)"
                    )
                    journal_unknown(writer, run_id=run_id, host=host, writes=writes, error=message)
                    error = HostError(exc.error.kind, message)
                    state.result = _error_host(host, error, facts)
                    return _stub(host, error)
                for r in verified.results:
                    items[r.spec.setting.id] = _restored_item(items[r.spec.setting.id], r.outcome, r.error)
                    if r.spec.setting.id == "secure_negotiate" and r.outcome is Outcome.RESTORED:
                        clear_workaround(
                            host.name, setting="secure_negotiate", run_id=source_run_id, path=workaround_file
                        )
                host_error = verified.host_error
            else:
                host_error = None
            checks = tuple(items.values())
            state.result = HostRemediation(
                name=host.name,
                address=host.address,
                status=host_status(checks, host_error),
                os=os_info(facts.current_version),
                checks=checks,
                error=host_error,
                duration_s=time.monotonic() - started,
                groups=host.groups,
            )
            return _stub(host, host_error)

    return task


def _plan(
    facts: HostFacts, intents: tuple[Intent, ...], force: bool
) -> tuple[dict[str, SettingResult], list[PlannedWrite]]:
    items: dict[str, SettingResult] = {}
    writes: list[PlannedWrite] = []
    for intent in intents:
        setting = SETTINGS[intent.setting]
        key = setting.key_in(facts)
        current = key.value(setting.name)
        if same_value(current, intent.before):
            items[intent.setting] = _item(
                intent, key, Outcome.COMPLIANT, f"already at the prior value {intent.before.describe()}"
            )
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
            command = registry_write(intent.path, intent.name, intent.before)
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


def _stub(host: Host, error: HostError | None) -> HostResult:
    status = (
        HostStatus.from_error(error.kind)
        if error and error.kind is not ErrorKind.ERROR
        else HostStatus.COMPLIANT
    )
    return HostResult(name=host.name, address=host.address, status=status, error=error)


def _collect(
    r: HostResult, work: _HostWork, state: Progress | None, writer: JournalWriter, run_id: str
) -> HostRemediation:
    if state is not None and isinstance(state.result, HostRemediation):
        return state.result
    error = r.error or HostError(ErrorKind.ERROR, "no result")
    if state is not None and state.stage == "sent":
        message = f"{error.message}; the restores were sent and may have happened"
        journal_unknown(writer, run_id=run_id, host=work.host, writes=state.writes, error=message)
        error = HostError(error.kind, message)
    return _error_host(work.host, error)
