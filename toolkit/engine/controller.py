"""The controller's side: split hosts by site, send each live site its batches, run the hosts
without a site here, and gather every host's result in inventory order as they arrive.

A site with no live worker (no consumer of its queue answers Celery's ``inspect`` within
``EngineOptions.wait`` seconds) has each of its hosts reported ``unreachable`` with "no worker
for site X". While a run goes on, a site whose results stall is inspected again; if its
queue has lost every consumer for longer than the wait, its missing hosts are reported the
same way, so a run never hangs on a dead site. Redis going away mid-run is waited out (each
call retried) up to the run's bound.

Generic over the command's per-host result, as the local fan-out is
(:func:`toolkit.fanout.runner.run_hosts`): the caller gives the function that runs hosts here,
the one that decodes a worker's result from the wire, and the one that turns a failure the
engine sees (no worker, not sendable, no result in the run's bound, interrupted) into its own
result type. Nothing rides inside another command's result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from toolkit.engine.app import BATCH_TASK, make_app, queue_name, redact, redis_client, results_key
from toolkit.engine.wire import NotPortable, host_to_wire
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.task import Failure, FailureFn, FanoutOptions, Outcome
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError

log = logging.getLogger(__name__)

ENGINES = ("local", "celery")
#: Seconds a site may be without any consumer mid-run (its worker restarting or reconnecting)
#: before its missing hosts are reported "no worker".
MID_RUN_GRACE = 15.0


class EngineResult(Outcome, Protocol):
    """What the controller reads of any command's per-host result: the host's name (results
    arrive from every site in any order) and, as the fan-out does, its error."""

    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=EngineResult)

#: Runs the hosts that have no site, on this machine: (hosts, hooks, stop) -> (results,
#: interrupted). Each host's result goes to ``hooks.on_result`` as it is known (from any
#: thread: the controller queues it); the returned list may hold fewer (those the hooks saw).
LocalRun = Callable[[list[Host], Hooks[R], threading.Event], tuple[list[R], bool]]


@dataclass(frozen=True)
class EngineOptions:
    broker: str
    #: Seconds to wait for a site's worker to answer before its hosts are unreachable.
    wait: float = 5.0
    #: Hosts per task (a unit of redelivery when a worker dies).
    batch_size: int = 250

    @classmethod
    def from_env(cls, broker: str) -> EngineOptions:
        from toolkit.errors import UsageError

        try:
            wait = float(os.environ.get("PSFLEET_ENGINE_WAIT") or 5.0)
        except ValueError:
            raise UsageError(
                "PSFLEET_ENGINE_WAIT must be a number of seconds", field="PSFLEET_ENGINE_WAIT"
            ) from None
        try:
            batch = int(os.environ.get("PSFLEET_ENGINE_BATCH") or 250)
        except ValueError:
            raise UsageError(
                "PSFLEET_ENGINE_BATCH must be a number of hosts", field="PSFLEET_ENGINE_BATCH"
            ) from None
        return cls(broker=broker, wait=max(0.5, wait), batch_size=max(1, batch))


def live_sites(app: Any, sites: Sequence[str], wait: float) -> set[str]:
    """The sites among ``sites`` whose queue has a consumer answering within ``wait`` s."""
    wanted = {queue_name(s): s for s in sites}
    found: set[str] = set()
    give_up = time.monotonic() + wait
    # The first broadcast returns as soon as as many workers answered as sites are asked for
    # (else it always waits its whole timeout); when those were other sites' workers (more
    # workers than sites on the broker), the next ones wait for every worker's answer.
    limit: int | None = len(wanted)
    while True:
        left = give_up - time.monotonic()
        try:
            inspect = app.control.inspect(timeout=max(0.2, min(1.0, left)), limit=limit)
            limit = None
            replies = inspect.active_queues() or {}
        except Exception as exc:  # broker away: the wait is the bound
            log.debug("inspect failed: %s", type(exc).__name__)
            replies = {}
        for queues in replies.values():
            for q in queues or ():
                name = q.get("name") if isinstance(q, Mapping) else None
                if name in wanted:
                    found.add(wanted[name])
        if found >= set(sites) or time.monotonic() >= give_up:
            return found
        time.sleep(0.2)


def _no_worker(host: Host, site: str, wait: float) -> Failure:
    message = f"no worker for site {site} (none consumed queue {queue_name(site)} within {wait:g}s)"
    return Failure(host, HostError(ErrorKind.UNREACHABLE, message, sent=False), details={"site": site})


def run_engine(
    hosts: Sequence[Host],
    *,
    kind: str,
    params: Mapping[str, Any],
    options: FanoutOptions,
    engine: EngineOptions,
    local: LocalRun[R],
    decode: Callable[[Mapping[str, Any]], R],
    fail: FailureFn[R],
    hooks: Hooks[R] | None = None,
    stop: threading.Event | None = None,
    now: datetime | None = None,
    on_journal: Callable[[list[dict[str, Any]]], None] | None = None,
) -> tuple[list[R], bool]:
    """Run ``hosts`` (results in their order, interrupted): sited hosts on their site's
    workers (``kind`` names the batch body, ``params`` its parameters), the rest with
    ``local``. A worker's result is ``decode``d from its JSON; a host the engine gets no
    result for is ``fail(Failure(host, error, details={"site": site}))``: no worker for its
    site, not sendable to it, no result within the run's bound, or (without a site) not run
    because the run was interrupted. ``hooks`` fire in this thread: ``on_start`` as a site's
    batch is sent, ``on_result`` as each result arrives from any site or from here,
    ``on_done`` once at the end; ``on_journal`` gets the journal records a remediating
    worker streams back, in the order it journaled them (before the host's result)."""
    import redis

    hooks = hooks or Hooks()
    stop = stop or threading.Event()
    results: list[R | None] = [None] * len(hosts)
    local_idx = [i for i, h in enumerate(hosts) if h.site is None]
    by_site: dict[str, list[int]] = {}
    for i, h in enumerate(hosts):
        if h.site is not None:
            by_site.setdefault(h.site, []).append(i)

    def complete(index: int, result: R) -> None:
        if results[index] is None:  # the first result per host (a redelivered batch resends)
            results[index] = result
            hooks.finished(result)

    app: Any = None
    client: Any = None
    run_id = uuid.uuid4().hex
    key = results_key(run_id)
    site_of: dict[int, str] = {}
    sent_ids: list[str] = []
    deadline = time.monotonic()
    if by_site:
        app = make_app(engine.broker)
        client = redis_client(engine.broker)
        live = live_sites(app, sorted(by_site), engine.wait)
        for site, indices in sorted(by_site.items()):
            if site not in live:
                for i in indices:
                    complete(i, fail(_no_worker(hosts[i], site, engine.wait)))
                continue
            wire: list[dict[str, Any]] = []
            for i in indices:
                try:
                    wire.append({"index": i, "host": host_to_wire(hosts[i])})
                    site_of[i] = site
                except NotPortable as exc:
                    err = HostError(ErrorKind.ERROR, f"not sent to site {site}: {exc}", sent=False)
                    complete(i, fail(Failure(hosts[i], err, details={"site": site})))
            for start in range(0, len(wire), engine.batch_size):
                batch = wire[start : start + engine.batch_size]
                payload = {
                    "run_id": run_id,
                    "site": site,
                    "kind": kind,
                    "now": (now or datetime.now().astimezone()).isoformat(),
                    "options": {
                        "forks": options.forks,
                        "timeout": options.timeout,
                        "retries": options.retries,
                        "backoff": options.backoff,
                        "processes": options.processes,
                    },
                    kind: {**params, **_per_host(params, [hosts[b["index"]] for b in batch])},
                    "hosts": batch,
                }
                sent_ids.append(app.send_task(BATCH_TASK, args=[payload]).id)
                for b in batch:
                    hooks.started(hosts[b["index"]])
            # Bounded: every wave of forks hosts may take each attempt's full deadline.
            waves = math.ceil(len(indices) / max(1, options.forks))
            bound = waves * options.timeout * (options.retries + 1) + 30.0
            deadline = max(deadline, time.monotonic() + bound)

    local_results: queue.SimpleQueue[R | None] = queue.SimpleQueue()
    local_hosts = [hosts[i] for i in local_idx]
    local_interrupted = [False]
    #: What ``local`` returned: hosts its hooks never saw (never started: interrupted).
    local_returned: list[R] = []
    by_name = {hosts[i].name: i for i in local_idx}

    def run_local() -> None:
        try:
            returned, interrupted = local(local_hosts, Hooks(on_result=local_results.put), stop)
            local_returned.extend(returned)
            local_interrupted[0] = interrupted
        finally:
            local_results.put(None)

    worker = threading.Thread(target=run_local, name="psfleet-local", daemon=True)
    if local_hosts:
        worker.start()
    local_done = not local_hosts
    interrupted = False
    last_seen: dict[str, float] = {s: time.monotonic() for s in by_site}
    #: When a stalled site was first found without a consumer (mid-run: a worker restarting,
    #: reconnecting after a broker restart, gets MID_RUN_GRACE before its hosts are given up).
    absent_since: dict[str, float] = {}
    broker_down_since: float | None = None
    try:
        while True:
            while not local_done:
                try:
                    item = local_results.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    local_done = True
                else:
                    complete(by_name[item.name], item)
            missing = [i for i in site_of if results[i] is None]
            if not missing and local_done:
                break
            if stop.is_set():
                interrupted = True
                break
            if not missing:
                time.sleep(0.02)
                continue
            try:
                got = _read(client, key, block=local_done)
                if broker_down_since is not None:  # back: every site gets its time again
                    last_seen = dict.fromkeys(last_seen, time.monotonic())
                    absent_since.clear()
                broker_down_since = None
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                if broker_down_since is None:
                    broker_down_since = time.monotonic()
                    print(f"psfleet: broker {redact(engine.broker)} unreachable; retrying", file=sys.stderr)
                got = []
                time.sleep(0.5)
            # Journal records read together are handed over together (one fsync of the run's
            # journal for them all), in the order they were journaled.
            records = [r for record in got if "journal" in record for r in record["journal"]]
            if records and on_journal is not None:
                on_journal(records)
            for record in got:
                if "journal" in record:
                    continue
                index = int(record["index"])
                if index in site_of and results[index] is None:
                    last_seen[site_of[index]] = time.monotonic()
                    complete(index, decode(record["result"]))
            now_m = time.monotonic()
            if now_m >= deadline:
                for i in missing:
                    if results[i] is None:
                        err = HostError(
                            ErrorKind.TIMEOUT, f"no result from site {site_of[i]} within the run's bound"
                        )
                        complete(i, fail(Failure(hosts[i], err, details={"site": site_of[i]})))
                continue
            stalled = [s for s in {site_of[i] for i in missing} if now_m - last_seen[s] > engine.wait * 2]
            if stalled and broker_down_since is None:
                alive = live_sites(app, stalled, engine.wait)
                for site in stalled:
                    if site in alive:
                        last_seen[site] = time.monotonic()
                        absent_since.pop(site, None)
                        continue
                    first = absent_since.setdefault(site, now_m)
                    if time.monotonic() - first < max(MID_RUN_GRACE, engine.wait):
                        continue
                    for i in missing:
                        if site_of[i] == site and results[i] is None:
                            complete(i, fail(_no_worker(hosts[i], site, engine.wait)))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if interrupted:
            stop.set()
            if app is not None and sent_ids:
                with contextlib.suppress(Exception):
                    app.control.revoke(sent_ids)
        if local_hosts:
            worker.join(timeout=None if not interrupted else 5.0)
            while True:
                try:
                    item = local_results.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    complete(by_name[item.name], item)
            for item in local_returned:  # never started here: no hook saw them, as locally
                at = by_name.get(item.name)
                if at is not None and results[at] is None:
                    results[at] = item
        if client is not None:
            try:
                client.delete(key, f"psfleet:run:{run_id}:sent")
                for task_id in sent_ids:
                    app.AsyncResult(task_id).forget()
            except Exception:
                pass
            client.close()
        if app is not None:
            app.close()
    for i, r in enumerate(results):
        if r is None:
            results[i] = fail(Failure(hosts[i], HostError(ErrorKind.ERROR, "not run: interrupted", False)))
    final = [r for r in results if r is not None]
    interrupted = interrupted or local_interrupted[0]
    hooks.done(final, interrupted)
    return final, interrupted


def _read(client: Any, key: str, *, block: bool) -> list[dict[str, Any]]:
    """The records waiting in ``key`` (up to 500), after at most 0.2 s for the first."""
    pipe = client.pipeline(transaction=True)
    pipe.lrange(key, 0, 499)
    pipe.ltrim(key, 500, -1)
    raw, _ = pipe.execute()
    if not raw and block:
        popped = client.blpop([key], timeout=0.2)
        raw = [popped[1]] if popped else []
    elif not raw:
        time.sleep(0.02)
    return [json.loads(r) for r in raw]


#: Parameters given per host name, cut down to each batch's hosts.
PER_HOST = ("workarounds", "intents")


def _per_host(params: Mapping[str, Any], hosts: Sequence[Host]) -> dict[str, Any]:
    """Per-host parameters, cut down to the batch's hosts (workarounds of an audit or a
    remediation, a rollback's intents)."""
    names = {h.name for h in hosts}
    out: dict[str, Any] = {}
    for key in PER_HOST:
        table = params.get(key)
        if isinstance(table, Mapping):
            out[key] = {n: v for n, v in table.items() if n in names}
    return out
