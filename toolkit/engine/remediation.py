"""Remediation and rollback through the engine: the writes on each site's worker, ONE journal.

The controller runs :func:`toolkit.remediate.remediate` / :func:`toolkit.remediate.rollback`
as a local run does (batches, canary, ``--max-fail-percent``, the report), with each batch
handed to :func:`_through_engine`: it takes every host's engine lease in Redis
(:mod:`toolkit.engine.lease`), sends the sited hosts to their site's workers and runs the
others here, into the run's journal.

A site worker journals its own writes as a local run does, each intent fsynced to its own
journal (``<state dir>/journals/engine-<kind>-<site>-<run id>.jsonl`` on the worker) and
pushed to Redis *before* the write it describes goes out; the controller appends every
record it receives to the run's journal, so ``psfleet rollback --journal MERGED`` works
with or without the engine. When a worker dies mid-batch, Redis hands the batch to another
worker of the site (late acknowledgement): each host is planned again from what it holds
now, so a write that happened is not made twice and the merged journal's *first* intent per
(host, setting) still holds the value from before the run: the one rollback restores.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from toolkit import __version__
from toolkit.engine.controller import EngineOptions, run_engine
from toolkit.errors import JournalError
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.task import Failure, FanoutOptions
from toolkit.inventory.credentials import Credential
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate.journal import (
    Intent,
    JournalWriteError,
    JournalWriter,
    free_journal_path,
    now_iso,
    parse_intent,
    state_dir,
)
from toolkit.remediate.lease import Busy
from toolkit.remediate.model import (
    HostRemediation,
    Outcome,
    RemediateRun,
    RemediateStatus,
    SettingResult,
    value_dict,
    value_from_dict,
)
from toolkit.remediate.options import RemediateOptions
from toolkit.results import ErrorKind, HostError, OsInfo
from toolkit.transport.protocol import CredentialLike

log = logging.getLogger(__name__)

#: The hooks of plan, remediate and rollback (each host's remediation), as locally.
_Hooks = Hooks[HostRemediation]
#: Runs hosts on this machine: (hosts, hooks, stop) -> (results, interrupted), as run_engine wants.
_Here = Callable[[list[Host], _Hooks, threading.Event], tuple[list[HostRemediation], bool]]


# -- controller -------------------------------------------------------------------------------


def plan(
    inventory: Inventory,
    *,
    engine: EngineOptions,
    options: RemediateOptions | None = None,
    hooks: Hooks[Any] | None = None,
    **kwargs: Any,
) -> RemediateRun:
    """:func:`toolkit.remediate.plan` (``--check``) with sited hosts planned on their site;
    ``kwargs`` are that function's (credentials, only, allow_insecure...)."""
    from toolkit.remediate.apply import plan as local_plan

    options = options or RemediateOptions()
    batches = _remediate_batches(engine, options.fanout, hooks, check=True)
    return local_plan(inventory, options=options, hooks=hooks, batch_runner=batches, **kwargs)


def remediate(
    inventory: Inventory,
    *,
    engine: EngineOptions,
    options: RemediateOptions | None = None,
    hooks: Hooks[Any] | None = None,
    **kwargs: Any,
) -> RemediateRun:
    """:func:`toolkit.remediate.remediate` with sited hosts written by their site's worker;
    ``kwargs`` are that function's, and its ``journal`` is the run's one journal (the workers'
    records merged into it)."""
    from toolkit.remediate.apply import remediate as local_remediate

    options = options or RemediateOptions()
    batches = _remediate_batches(engine, options.fanout, hooks, check=False)
    return local_remediate(inventory, options=options, hooks=hooks, batch_runner=batches, **kwargs)


def rollback(
    journal_path: Path,
    *,
    inventory: Inventory,
    credentials: Mapping[str, CredentialLike | None],
    engine: EngineOptions,
    hooks: Hooks[Any] | None = None,
    **kwargs: Any,
) -> RemediateRun:
    """:func:`toolkit.remediate.rollback` with each host's undo sent to its site's worker
    (the journal may be a merged engine journal or a local run's: the inventory says where
    each host is); the rollback journal is written here, as locally."""
    from toolkit.remediate.rollback import HostWork, RollbackContext, rollback_here
    from toolkit.remediate.rollback import rollback as local_rollback
    from toolkit.remediate.workarounds import workarounds_path

    def runner(work: list[HostWork], ctx: RollbackContext) -> tuple[list[HostRemediation], bool]:
        by_name = {w.host.name: w for w in work}

        def here(
            hosts: list[Host], local_hooks: _Hooks, _stop: threading.Event
        ) -> tuple[list[HostRemediation], bool]:
            chosen = [by_name[h.name] for h in hosts]
            return [], rollback_here(ctx, chosen, on_item=local_hooks.finished)

        params = {
            "run_id": ctx.run_id,
            "source_run_id": ctx.source_run_id,
            "force": ctx.force,
            "intents": {w.host.name: [intent_to_wire(i) for i in w.intents] for w in work},
        }
        return _through_engine(
            [w.host for w in work],
            kind="rollback",
            params=params,
            run_id=ctx.run_id,
            journal=ctx.journal,
            journal_failed=ctx.state.journal_failed,
            here=here,
            engine=engine,
            options=ctx.options or FanoutOptions(),
            hooks=hooks,
            stop=ctx.state.stop,
            book=WorkaroundBook(
                ctx.workaround_file or workarounds_path(),
                ctx.run_id,
                str(ctx.journal.path),
                rollback_of=ctx.source_run_id,
                restores=[i for w in work for i in w.intents],
            ),
        )

    return local_rollback(
        journal_path, inventory=inventory, credentials=credentials, hooks=hooks, runner=runner, **kwargs
    )


def _remediate_batches(
    engine: EngineOptions, options: FanoutOptions, hooks: Hooks[Any] | None, *, check: bool
) -> Callable[[Sequence[Host], Any], tuple[list[HostRemediation], bool]]:
    from toolkit.remediate.apply import RunContext, work_here

    def batch_runner(batch: Sequence[Host], ctx: RunContext) -> tuple[list[HostRemediation], bool]:
        def here(
            hosts: list[Host], local_hooks: _Hooks, _stop: threading.Event
        ) -> tuple[list[HostRemediation], bool]:
            return [], work_here(ctx, hosts, options=options, on_item=local_hooks.finished, stop=ctx.stop)

        lookup = ctx.workarounds
        params = {
            "run_id": ctx.run_id,
            "check": check,
            "only": list(ctx.only) if ctx.only else None,
            "allow_insecure": ctx.allow_insecure,
            "expires": ctx.expires.isoformat() if ctx.expires else None,
            "now": ctx.now.isoformat(),
            "workarounds": {
                h.name: {k: v.isoformat() for k, v in table.items()}
                for h in batch
                if lookup is not None and (table := lookup(h))
            },
        }
        journal = ctx.journal
        book = None
        if journal is not None and ctx.workaround_file is not None:
            book = WorkaroundBook(
                ctx.workaround_file,
                ctx.run_id,
                str(journal.path.resolve()),
                allowed_until=ctx.expires if ctx.allow_insecure else None,
            )
        return _through_engine(
            list(batch),
            kind="remediate",
            params=params,
            run_id=ctx.run_id,
            journal=journal,
            journal_failed=ctx.journal_failed,
            here=here,
            engine=engine,
            options=options,
            hooks=hooks,
            stop=ctx.stop,
            leases=not check,
            book=book,
        )

    return batch_runner


def _through_engine(
    hosts: list[Host],
    *,
    kind: str,
    params: Mapping[str, Any],
    run_id: str,
    journal: JournalWriter | None,
    journal_failed: Callable[[JournalError], None],
    here: _Here,
    engine: EngineOptions,
    options: FanoutOptions,
    hooks: Hooks[Any] | None,
    stop: threading.Event,
    leases: bool = True,
    book: WorkaroundBook | None = None,
) -> tuple[list[HostRemediation], bool]:
    """Run ``hosts`` (one batch) through the engine under their engine leases; the workers'
    journal records go to ``journal`` as they arrive. Results in the hosts' order.

    ``hooks`` get what a local run's hooks get: each host's :class:`HostRemediation`."""
    from toolkit.engine.app import redis_client
    from toolkit.engine.lease import EngineLeases

    book_path = book.path if book is not None else None
    client = redis_client(engine.broker) if hosts else None
    held = EngineLeases(client, run_id) if client is not None and leases else None
    call = uuid.uuid4().hex
    params = {**params, "call": call}
    writes = kind != "remediate" or not params.get("check")
    hooks = hooks or _Hooks()
    try:
        busy = held.take([h.name for h in hosts]) if held is not None else {}
        todo = [h for h in hosts if h.name not in busy]

        sent = {h.name for h in todo}

        def on_journal(got: list[dict[str, Any]]) -> None:
            if journal is None or journal.failed is not None:
                return
            records = own_records(got, run_id, sent)
            if len(records) < len(got):
                print(
                    f"psfleet: ignored {len(got) - len(records)} journal record(s) from the broker "
                    f"that are not run {run_id}'s or name a host it did not send",
                    file=sys.stderr,
                )
            if not records:
                return
            try:
                journal.append(*records)
                if book is not None:
                    book.see(records)
            except JournalError as exc:
                journal_failed(exc)
            except OSError as exc:
                journal_failed(JournalWriteError(f"cannot record the workaround: {exc}", file=book_path))

        results, interrupted = run_engine(
            todo,
            kind=kind,
            params=params,
            options=options,
            engine=engine,
            local=here,
            decode=remediation_from_wire,
            fail=remediation_failure if not writes else lost_remediation,
            hooks=Hooks(on_start=hooks.on_start, on_result=hooks.on_result),
            stop=stop,
            on_journal=on_journal,
        )
        done = {r.name: r for r in results}
        out: list[HostRemediation] = []
        for h in hosts:
            if h.name in done:
                out.append(done[h.name])
                continue
            item = busy_host(h, busy[h.name])
            hooks.finished(item)
            out.append(item)
        return out, interrupted
    finally:
        if held is not None:
            held.release()
        if client is not None:
            with contextlib.suppress(Exception):  # Redis away: a late copy finds its hosts done
                client.set(ended_key(call), "1", px=int(DONE_TTL * 1000))
            client.close()


def own_records(got: Sequence[dict[str, Any]], run_id: str, sent: set[str]) -> list[dict[str, Any]]:
    """The journal records a run accepts from the broker: its own (``run_id``), for hosts it
    sent. Whoever can write to the broker must not put another run's intents (which a rollback
    would replay) or a workaround for a host outside the run into the journal and the book."""
    return [r for r in got if r.get("run_id") == run_id and r.get("host") in sent]


class WorkaroundBook:
    """The controller's ``workarounds.json`` for what its sites wrote: a verified weakening
    write journaled with an expiry records a workaround, any other verified write of that
    check ends it, a verified restore by a rollback ends the one its remediation recorded;
    read from the records the workers stream back (hosts run here record their own)."""

    def __init__(
        self,
        path: Path,
        run_id: str,
        journal: str,
        rollback_of: str | None = None,
        restores: Sequence[Intent] = (),
        allowed_until: datetime | None = None,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.journal = journal
        #: A rollback's book: the run it undoes, and the remediation's intents it restores
        #: (a restore's own intent may write an absent value, which no remediation does).
        self.rollback_of = rollback_of
        self._weak = {(i.host, i.setting) for i in restores if i.owner is not None and i.owner.weakenable}
        self._intents: dict[tuple[str, str], Intent] = {}
        #: A remediation's ``--allow-insecure`` expiry: the only workaround its sites may
        #: record (None: the run allowed no weakening, so none is recorded).
        self.allowed_until = allowed_until

    def see(self, records: Sequence[Mapping[str, Any]]) -> None:
        from toolkit.remediate.workarounds import clear_workaround, record_workaround

        for record in records:
            if record.get("type") == "intent":
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    intent = parse_intent(0, dict(record))
                    self._intents[(intent.host, intent.setting)] = intent
                continue
            if record.get("type") != "outcome":
                continue
            pair = (str(record.get("host")), str(record.get("setting")))
            outcome = record.get("outcome")
            if self.rollback_of is not None:
                if outcome == Outcome.RESTORED.value and pair in self._weak:
                    clear_workaround(pair[0], setting=pair[1], run_id=self.rollback_of, path=self.path)
                continue
            found = self._intents.get(pair)
            if found is None or found.owner is None or not found.owner.weakenable:
                continue
            if outcome == Outcome.CHANGED.value:
                if found.workaround_expires is not None:
                    if self.allowed_until is None or found.workaround_expires > self.allowed_until:
                        continue  # a weakening this run did not allow, or for longer
                    record_workaround(
                        found.host,
                        setting=found.setting,
                        expires=found.workaround_expires,
                        run_id=self.run_id,
                        journal=self.journal,
                        address=found.address,
                        path=self.path,
                    )
                else:
                    clear_workaround(found.host, setting=found.setting, path=self.path)


def busy_host(host: Host, exc: Busy) -> HostRemediation:
    return HostRemediation(
        name=host.name,
        address=host.address,
        status=RemediateStatus.BUSY,
        error=HostError(ErrorKind.ERROR, exc.message, sent=False),
        groups=host.groups,
    )


def remediation_failure(failure: Failure) -> HostRemediation:
    """A host the engine or a worker got no remediation for (no worker for its site, not
    sendable, its credential missing on the worker, no result in the run's bound,
    interrupted), as its remediation: the ``fail`` function of a run that writes nothing
    (``--check``) and of a worker's refusals."""
    return HostRemediation(
        name=failure.host.name,
        address=failure.host.address,
        status=RemediateStatus.from_error(failure.error.kind),
        error=failure.error,
        duration_s=failure.duration_s,
        groups=failure.host.groups,
    )


def lost_remediation(failure: Failure) -> HostRemediation:
    """:func:`remediation_failure` for a run that writes: a host given up on after its batch
    may have reached it says that its writes may have happened."""
    error = failure.error
    if error.sent:
        error = HostError(
            error.kind,
            f"{error.message}; its writes may have happened (its site worker's journal and the "
            "run's journal have every intent that went out)",
        )
    return remediation_failure(Failure(failure.host, error, failure.duration_s, failure.details))


# -- wire -------------------------------------------------------------------------------------


def remediation_to_wire(item: HostRemediation) -> dict[str, Any]:
    return {
        "name": item.name,
        "address": item.address,
        "status": item.status.value,
        "os": asdict(item.os) if item.os else None,
        "checks": [_setting_to_wire(c) for c in item.checks],
        "error": {"kind": item.error.kind.value, "message": item.error.message, "sent": item.error.sent}
        if item.error
        else None,
        "batch": item.batch,
        "duration_s": item.duration_s,
        "groups": list(item.groups),
        "transport": item.transport,
        "transport_fallback": item.transport_fallback,
    }


def remediation_from_wire(data: Mapping[str, Any]) -> HostRemediation:
    error = data.get("error")
    os_info = data.get("os")
    return HostRemediation(
        name=str(data["name"]),
        address=str(data["address"]),
        status=RemediateStatus(data["status"]),
        os=OsInfo(**os_info) if os_info else None,
        checks=tuple(_setting_from_wire(c) for c in data.get("checks") or ()),
        error=HostError(ErrorKind(error["kind"]), str(error["message"]), bool(error.get("sent", True)))
        if error
        else None,
        batch=data.get("batch"),
        duration_s=float(data.get("duration_s") or 0.0),
        groups=tuple(str(g) for g in data.get("groups") or ()),
        transport=data.get("transport"),
        transport_fallback=data.get("transport_fallback"),
    )


def _setting_to_wire(c: SettingResult) -> dict[str, Any]:
    return {
        "id": c.id,
        "path": c.path,
        "name": c.name,
        "before": value_dict(c.before),
        "after": value_dict(c.after),
        "command": c.command,
        "outcome": c.outcome.value,
        "reason": c.reason,
        "rule": c.rule,
        "expected": c.expected,
        "observed": value_dict(c.observed),
    }


def _setting_from_wire(data: Mapping[str, Any]) -> SettingResult:
    return SettingResult(
        id=str(data["id"]),
        path=str(data["path"]),
        name=str(data["name"]),
        before=value_from_dict(data["before"]),
        after=value_from_dict(data["after"]) if data.get("after") else None,
        command=str(data["command"]),
        outcome=Outcome(data["outcome"]),
        reason=str(data["reason"]),
        rule=str(data["rule"]),
        expected=str(data.get("expected") or ""),
        observed=value_from_dict(data["observed"]) if data.get("observed") else None,
    )


def intent_to_wire(intent: Intent) -> dict[str, Any]:
    """An intent as its journal record (plus its line): the worker checks it again."""
    return {
        "line": intent.line,
        "type": "intent",
        "run_id": intent.run_id,
        "time": intent.time,
        "host": intent.host,
        "address": intent.address,
        "endpoint": intent.endpoint,
        "setting": intent.setting,
        "path": intent.path,
        "name": intent.name,
        "before": value_dict(intent.before),
        "after": value_dict(intent.after),
        "command": intent.command,
        "workaround_expires": intent.workaround_expires.isoformat() if intent.workaround_expires else None,
        "baseline": intent.baseline or None,
        "baseline_digest": intent.baseline_digest or None,
    }


# -- worker -----------------------------------------------------------------------------------


class StreamedJournal(JournalWriter):
    """A worker's own journal: every append is fsynced here, then pushed to the controller
    (through Redis) before it returns, so no write goes out before both hold its intent."""

    send: Callable[[list[dict[str, Any]]], None] | None = None

    def append(self, *records: dict[str, Any]) -> None:
        super().append(*records)
        if self.send is None:
            return
        try:
            self.send(list(records))
        except Exception as exc:  # Redis away longer than a push waits
            raise JournalWriteError(
                f"cannot send the journal to the controller: {type(exc).__name__}", file=self.path
            ) from None


#: Seconds a worker's claim on a host of its batch outlives its last renewal.
CLAIM_TTL = 15.0
#: A claim's value once the host's result is in Redis: no copy of the batch works it again.
DONE = '{"run_id":"done"}'
#: Seconds a host's "done" claim, and a batch's "ended" mark, stay in Redis.
DONE_TTL = 86400.0


def ended_key(call: str) -> str:
    """Set by the controller when it stops waiting for a batch: a copy of the batch still
    queued or running starts no more hosts."""
    return f"psfleet:call:{call}:ended"


def claims_prefix(run_id: str) -> str:
    return f"psfleet:run:{run_id}:claim:"


def run_writes(
    kind: str,
    payload: Mapping[str, Any],
    hosts: Sequence[Host],
    credentials: Mapping[str, Credential],
    options: FanoutOptions,
    *,
    site: str,
    client: Any,
    on_item: Callable[[HostRemediation], None],
    send_journal: Callable[[list[dict[str, Any]]], None],
) -> None:
    """A site worker's batch of remediation (``kind`` remediate) or rollback: the same
    per-host work as a local run, journaled here and streamed back.

    A batch may run twice (Redis hands it to another worker when its worker died, or when
    it ran longer than the visibility timeout): each host is claimed in Redis while it is
    worked on, and marked done once ``on_item`` sent its result. A copy skips the hosts
    marked done, waits for those another live copy holds, and takes over those whose claim
    expired (a dead worker's, :data:`CLAIM_TTL`): planned again from what the host holds
    now. Once the controller stopped waiting for the batch, no copy starts a host."""
    from toolkit.engine.lease import EngineLeases

    params = payload.get(kind) or {}
    run_id = str(params["run_id"])
    check = kind == "remediate" and bool(params.get("check"))
    writer: StreamedJournal | None = None
    if not check:
        header: dict[str, Any] = {
            "run_id": run_id,
            "command": kind,
            "started": now_iso(),
            "psfleet_version": __version__,
            "site": site,
            "hosts": len(hosts),
        }
        if kind == "rollback":
            header["source_run_id"] = str(params.get("source_run_id") or "")
        folder = state_dir() / "journals"
        created = StreamedJournal.create(free_journal_path(folder, f"engine-{kind}-{site}-{run_id}"), header)
        assert isinstance(created, StreamedJournal)
        writer = created
        writer.send = send_journal
    claims = EngineLeases(client, uuid.uuid4().hex, ttl=CLAIM_TTL, prefix=claims_prefix(run_id))

    def done(item: HostRemediation) -> None:
        on_item(item)
        if not check:
            claims.settle([item.name], DONE, DONE_TTL)

    try:
        if kind == "remediate":
            run = _remediate_here(params, credentials, options, writer, done, check=check)
        elif kind == "rollback":
            assert writer is not None
            run = _rollback_here(params, credentials, options, writer, done)
        else:
            raise ValueError(f"unknown batch kind {kind!r}")
        if check:
            run(list(hosts))
            return
        todo = list(hosts)
        give_up = time.monotonic() + CLAIM_TTL + options.timeout * (options.retries + 1) * len(hosts)
        call = str(params.get("call") or "")
        while todo:
            if call and client.exists(ended_key(call)):
                log.warning(
                    "site %s: the controller no longer waits for this batch: %d hosts left", site, len(todo)
                )
                return
            held = claims.take([h.name for h in todo])
            ready = [h for h in todo if h.name not in held]
            todo = [h for h in todo if h.name in held and held[h.name].run_id != "done"]
            if ready:
                run(ready)
            elif time.monotonic() >= give_up:
                log.warning(
                    "site %s: %d hosts held by another copy of the batch: left to it", site, len(todo)
                )
                return
            else:
                time.sleep(0.5)
    finally:
        claims.release()
        if writer is not None:
            writer.send = None
            if writer.failed is None:
                with contextlib.suppress(JournalError):
                    writer.append({"type": "end", "run_id": run_id, "time": now_iso(), "hosts": len(hosts)})
            writer.close()


def _remediate_here(
    params: Mapping[str, Any],
    credentials: Mapping[str, Credential],
    options: FanoutOptions,
    writer: JournalWriter | None,
    on_item: Callable[[HostRemediation], None],
    *,
    check: bool,
) -> Callable[[list[Host]], None]:
    from toolkit.remediate.apply import RunContext, work_here
    from toolkit.remediate.workarounds import workarounds_path

    table = {
        name: {k: datetime.fromisoformat(v) for k, v in entry.items()}
        for name, entry in (params.get("workarounds") or {}).items()
        if entry
    }
    expires = params.get("expires")
    only = params.get("only")
    ctx = RunContext(
        run_id=str(params["run_id"]),
        credentials=credentials,
        only=tuple(str(o) for o in only) if only else None,
        allow_insecure=bool(params.get("allow_insecure")),
        expires=datetime.fromisoformat(expires) if expires else None,
        now=datetime.fromisoformat(str(params["now"])),
        workarounds=lambda host: table.get(host.name),
        journal=writer,
        workaround_file=None if check else workarounds_path(),
        lock_dir=None if check else state_dir() / "locks",
    )

    def run(hosts: list[Host]) -> None:
        work_here(ctx, hosts, options=options, on_item=on_item, stop=ctx.stop)

    return run


def _rollback_here(
    params: Mapping[str, Any],
    credentials: Mapping[str, Credential],
    options: FanoutOptions,
    writer: JournalWriter,
    on_item: Callable[[HostRemediation], None],
) -> Callable[[list[Host]], None]:
    from toolkit.remediate.rollback import HostWork, RollbackContext, RollbackState, rollback_here
    from toolkit.remediate.workarounds import workarounds_path

    intents = params.get("intents") or {}
    ctx = RollbackContext(
        run_id=str(params["run_id"]),
        source_run_id=str(params.get("source_run_id") or ""),
        force=bool(params.get("force")),
        journal=writer,
        credentials=credentials,
        options=options,
        workaround_file=workarounds_path(),
        state=RollbackState(threading.Event(), state_dir() / "locks"),
        progress={},
    )

    def run(hosts: list[Host]) -> None:
        work: list[HostWork] = []
        for host in hosts:
            records = intents.get(host.name) or []
            try:
                parsed = tuple(parse_intent(int(r["line"]), dict(r)) for r in records)
            except (KeyError, TypeError, ValueError) as exc:
                error = HostError(ErrorKind.ERROR, f"intent refused by the site worker: {exc}", sent=False)
                on_item(
                    HostRemediation(
                        host.name, host.address, RemediateStatus.ERROR, error=error, groups=host.groups
                    )
                )
                continue
            work.append(HostWork(host, parsed))
        rollback_here(ctx, work, on_item=on_item)

    return run
