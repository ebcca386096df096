"""Run one task per host on a bounded pool of worker threads, with a wall-clock deadline per
host that the toolkit enforces itself (pypsrp has none, docs/windows-facts.md#pypsrp-timeouts).

A host whose deadline passes is reported as ``timeout`` at once and its worker abandoned (the
worker's own socket timeouts, capped by the same deadline, end it shortly after). Retries
happen only for ``unreachable`` and ``timeout`` failures before any request was sent, never
for an authentication failure. A credential that has not logged on anywhere yet goes to few
hosts at a time, and after its first failed logons its other hosts are ``not_attempted``
(:mod:`toolkit.fanout.lockout`). Workers never print: results flow to the caller through
``on_result`` and the returned list (inventory order).
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.fanout.hooks import Hooks
from toolkit.fanout.lockout import CredentialGate, credential_key
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus
from toolkit.transport.protocol import TransportError

log = logging.getLogger(__name__)

#: Below this many hosts, starting worker processes costs more than it saves.
PROCESS_THRESHOLD = 200

#: A task gets the host and its absolute deadline (time.monotonic() based).
Task = Callable[[Host, float], HostResult]


@dataclass(frozen=True)
class FanoutOptions:
    forks: int = 64
    timeout: float = 60.0
    retries: int = 1
    backoff: float = 0.5
    #: Worker processes: None = one per core for runs of PROCESS_THRESHOLD hosts or more
    #: (when the task pickles), 1 = threads of this process only.
    processes: int | None = None


#: The hooks of the audit and remediation (former class, kept for runbooks): the one
#: protocol, :class:`toolkit.fanout.hooks.Hooks`, with audit results.
FanoutHooks = Hooks[HostResult]


def failed_result(
    host: Host, error: HostError, *, duration: float = 0.0, extra: Mapping[str, Any] | None = None
) -> HostResult:
    """``extra``: e.g. the client that failed (``transport``, ``transport_fallback``)."""
    return HostResult(
        name=host.name,
        address=host.address,
        status=HostStatus.from_error(error.kind),
        error=error,
        duration_s=duration,
        groups=host.groups,
        extra=dict(extra or {}),
    )


def _attempts(task: Task, host: Host, deadline: float, options: FanoutOptions) -> HostResult:
    attempt = 0
    started = time.monotonic()
    while True:
        try:
            return task(host, deadline)
        except TransportError as exc:
            err = exc.error
            # Never auth_failed: each retry would be one more failed logon towards a lockout.
            retryable = not err.sent and err.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT)
            wait = options.backoff * (2**attempt)
            if not retryable or attempt >= options.retries or time.monotonic() + wait >= deadline:
                return failed_result(host, err, duration=time.monotonic() - started, extra=exc.details())
            attempt += 1
            time.sleep(wait)
        except Exception as exc:  # a bug in a check must not take the run down
            err = HostError(ErrorKind.ERROR, f"internal error: {type(exc).__name__}: {exc}"[:300], True)
            return failed_result(host, err, duration=time.monotonic() - started)


@dataclass
class _Slot:
    host: Host
    index: int
    deadline: float
    started: float


class _Waiting:
    """Hosts not started yet, one queue per credential; :meth:`pop_next` gives the lowest
    inventory index among the credentials the gate lets start (or whose hosts it refuses)."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        self._queues: dict[Hashable, list[int]] = {}
        self._first: dict[Hashable, Host] = {}
        for index, host in enumerate(hosts):
            key = credential_key(host)
            self._queues.setdefault(key, []).append(index)
            self._first.setdefault(key, host)
        for queue in self._queues.values():
            heapq.heapify(queue)

    def __bool__(self) -> bool:
        return any(self._queues.values())

    def pop_next(self, gate: CredentialGate) -> int | None:
        best: list[int] | None = None
        for key, queue in self._queues.items():
            if not queue:
                continue
            host = self._first[key]
            if gate.refusal(host) is None and not gate.may_start(host):
                continue
            if best is None or queue[0] < best[0]:
                best = queue
        return heapq.heappop(best) if best is not None else None


def _processes_for(hosts: Sequence[Host], task: Task, options: FanoutOptions) -> int:
    """How many worker processes to use: ``options.processes``, or (None) one per core when
    the run is large enough to pay for starting them and the task can travel to them."""
    from toolkit.fanout.executors import picklable

    wanted = options.processes
    if wanted is None:
        cores = os.cpu_count() or 1
        wanted = cores if len(hosts) >= PROCESS_THRESHOLD and cores > 1 else 1
    wanted = min(wanted, max(1, len(hosts)), options.forks)
    if wanted > 1 and not picklable(task):
        log.debug("task %r does not pickle: running hosts on threads of this process", task)
        return 1
    return wanted


def run_hosts(
    hosts: Sequence[Host],
    task: Task,
    *,
    options: FanoutOptions | None = None,
    hooks: FanoutHooks | None = None,
    stop: threading.Event | None = None,
    gate: CredentialGate | None = None,
) -> tuple[list[HostResult], bool]:
    """Run ``task`` for every host. Returns (results in inventory order, interrupted).

    At most ``options.forks`` hosts run at once, on threads of this process or spread over
    worker processes (see :mod:`toolkit.fanout.executors`); either way ``hooks`` fire in
    this thread and each host's deadline is enforced here. ``stop`` (or KeyboardInterrupt
    in the calling thread) stops dispatching; hosts already running finish or hit their
    deadline, hosts never started are reported as ``error`` "not run: interrupted", so
    every host appears exactly once.

    ``gate`` (a new :class:`toolkit.fanout.lockout.CredentialGate` by default; pass one
    to share it between batches) holds back the hosts of a credential that has not logged
    on yet and reports them ``not_attempted`` once it failed: a task's ``auth_failed``
    result or error counts. Hosts may therefore start out of inventory order.
    """
    from toolkit.fanout.executors import Executor, ProcessExecutor, ThreadExecutor, warm_up

    options = options or FanoutOptions()
    hooks = hooks or FanoutHooks()
    stop = stop or threading.Event()
    gate = gate if gate is not None else CredentialGate()
    results: list[HostResult | None] = [None] * len(hosts)
    running: dict[int, _Slot] = {}
    waiting = _Waiting(hosts)
    interrupted = False
    processes = _processes_for(hosts, task, options)
    executor: Executor
    if processes > 1:
        executor = ProcessExecutor(task, options, list(hosts), processes)
    else:
        if hosts and gate.enabled:  # the task logs on to hosts: it needs a transport
            warm_up()
        executor = ThreadExecutor(lambda host, deadline: _attempts(task, host, deadline, options))

    def complete(slot: _Slot, result: HostResult) -> None:
        results[slot.index] = result
        gate.finished(slot.host, result)
        hooks.finished(result)

    def not_attempted(index: int, error: HostError) -> None:
        result = results[index] = failed_result(hosts[index], error)
        hooks.finished(result)

    def dispatch() -> int:
        """Start (or refuse) hosts while there is room; how many it took."""
        taken = 0
        while len(running) < options.forks:
            index = waiting.pop_next(gate)
            if index is None:
                return taken
            taken += 1
            host = hosts[index]
            refusal = gate.refusal(host)
            if refusal is not None:
                not_attempted(index, refusal)
                continue
            now = time.monotonic()
            slot = _Slot(host, index, now + options.timeout, now)
            running[index] = slot
            gate.started(host)
            hooks.started(host)
            executor.submit(index, host, slot.deadline)
        return taken

    def harvest(timeout: float) -> None:
        for index, result in executor.wait(timeout):
            if index in running:  # else its deadline already reported it
                complete(running.pop(index), result)
        now = time.monotonic()
        for slot in [s for s in running.values() if now >= s.deadline]:
            del running[slot.index]
            err = HostError(ErrorKind.TIMEOUT, f"no result within the {options.timeout:g}s deadline", True)
            complete(slot, failed_result(slot.host, err, duration=now - slot.started))

    try:
        while waiting or running:
            if stop.is_set():
                interrupted = True
            taken = dispatch() if not interrupted else 0
            if not running:
                if interrupted or not waiting or not taken:
                    break
                continue  # only refusals so far: look at the rest
            wake = min(s.deadline for s in running.values()) - time.monotonic()
            harvest(max(0.005, min(wake, 0.25)))
    except KeyboardInterrupt:
        interrupted = True
        # Give running hosts a moment to finish; report the rest.
        grace = time.monotonic() + 2.0
        while running and time.monotonic() < grace:
            for index, result in executor.wait(max(0.0, grace - time.monotonic())):
                if index in running:
                    complete(running.pop(index), result)
        for slot in list(running.values()):
            complete(
                slot, failed_result(slot.host, HostError(ErrorKind.ERROR, "interrupted while running", True))
            )
        running.clear()
    finally:
        executor.close()
    for i, r in enumerate(results):
        if r is None:
            results[i] = failed_result(hosts[i], HostError(ErrorKind.ERROR, "not run: interrupted", False))
    done = [r for r in results if r is not None]
    hooks.done(done, interrupted)
    return done, interrupted
