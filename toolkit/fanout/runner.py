"""Run one task per host on a bounded pool of workers, with a wall-clock deadline per host
that the toolkit enforces itself (pypsrp has none, docs/windows-facts.md#pypsrp-timeouts).

Generic over the command's result: a task returns any result type ``R`` (an audit's
:class:`~toolkit.results.HostResult`, ``run``'s answer, the SMB probe's, a remediation), and
the caller's ``fail`` function turns every failure the fan-out sees (a classified transport
error, a task bug, a deadline, an interruption, a refused credential, a dead worker process)
into that same type. Nothing travels beside the results.

A host whose deadline passes is reported as ``timeout`` at once and its worker abandoned (the
worker's own socket timeouts, capped by the same deadline, end it shortly after). Retries
happen only for ``unreachable`` and ``timeout`` failures before any request was sent, never
for an authentication failure (:mod:`toolkit.fanout.task`). A credential that has not logged
on anywhere yet goes to few hosts at a time, and after its first failed logons its other
hosts are ``not_attempted`` (:mod:`toolkit.fanout.lockout`). Workers never print: results
flow to the caller through the hooks (:mod:`toolkit.fanout.hooks`) and the returned list
(inventory order).
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, overload

from toolkit.fanout.hooks import Hooks
from toolkit.fanout.lockout import CredentialGate, credential_key
from toolkit.fanout.task import Failure, FailureFn, FanoutOptions, Outcome, R, Task
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus

__all__ = [
    "PROCESS_THRESHOLD",
    "Failure",
    "FailureFn",
    "FanoutHooks",
    "FanoutOptions",
    "Outcome",
    "Task",
    "audit_failure",
    "failed_result",
    "run_hosts",
]

log = logging.getLogger(__name__)

#: Below this many hosts, starting worker processes costs more than it saves.
PROCESS_THRESHOLD = 200

#: The hooks of the audit and remediation (former class, kept for runbooks): the one
#: protocol, :class:`toolkit.fanout.hooks.Hooks`, with audit results.
FanoutHooks = Hooks[HostResult]


def failed_result(
    host: Host, error: HostError, *, duration: float = 0.0, extra: Mapping[str, Any] | None = None
) -> HostResult:
    """An audit result for a host that failed. ``extra``: e.g. the client that failed
    (``transport``, ``transport_fallback``)."""
    return HostResult(
        name=host.name,
        address=host.address,
        status=HostStatus.from_error(error.kind),
        error=error,
        duration_s=duration,
        groups=host.groups,
        extra=dict(extra or {}),
    )


def audit_failure(failure: Failure) -> HostResult:
    """The audit's ``fail`` function (the default of :func:`run_hosts`)."""
    return failed_result(failure.host, failure.error, duration=failure.duration_s, extra=failure.details)


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
        for index, host in enumerate(hosts):  # each queue grows in index order: already a heap
            key = credential_key(host)
            self._queues.setdefault(key, []).append(index)
            self._first.setdefault(key, host)

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


def _processes_for(hosts: Sequence[Host], task: Task[R], fail: FailureFn[R], options: FanoutOptions) -> int:
    """How many worker processes to use: ``options.processes``, or (None) one per core when
    the run is large enough to pay for starting them and the task can travel to them."""
    from toolkit.fanout.executors import picklable

    wanted = options.processes
    if wanted is None:
        cores = os.cpu_count() or 1
        wanted = cores if len(hosts) >= PROCESS_THRESHOLD and cores > 1 else 1
    wanted = min(wanted, max(1, len(hosts)), options.forks)
    if wanted > 1 and not (picklable(task) and picklable(fail)):
        log.debug("task %r or %r does not pickle: running hosts on threads of this process", task, fail)
        return 1
    return wanted


def _clients_for(hosts: Sequence[Host]) -> tuple[str, ...]:
    """The WinRM clients to import before the first host (the task logs on to hosts: the
    credential gate is on), see :func:`toolkit.fanout.executors.warm_up`."""
    from toolkit.transport.clients import client_modules

    return client_modules(hosts)


@overload
def run_hosts(
    hosts: Sequence[Host],
    task: Task[HostResult],
    *,
    options: FanoutOptions | None = None,
    hooks: Hooks[HostResult] | None = None,
    stop: threading.Event | None = None,
    gate: CredentialGate | None = None,
) -> tuple[list[HostResult], bool]: ...


@overload
def run_hosts(
    hosts: Sequence[Host],
    task: Task[R],
    *,
    fail: FailureFn[R],
    options: FanoutOptions | None = None,
    hooks: Hooks[R] | None = None,
    stop: threading.Event | None = None,
    gate: CredentialGate | None = None,
) -> tuple[list[R], bool]: ...


def run_hosts(
    hosts: Sequence[Host],
    task: Task[Any],
    *,
    fail: FailureFn[Any] | None = None,
    options: FanoutOptions | None = None,
    hooks: Hooks[Any] | None = None,
    stop: threading.Event | None = None,
    gate: CredentialGate | None = None,
) -> tuple[list[Any], bool]:
    """Run ``task`` for every host. Returns (results in inventory order, interrupted).

    ``fail`` turns a :class:`~toolkit.fanout.task.Failure` into the task's result type
    (default: :func:`audit_failure`, for tasks returning :class:`~toolkit.results.HostResult`);
    every host appears exactly once, as the task's result or as ``fail``'s. Both ``task`` and
    ``fail`` must be module-level (picklable) for hosts to go to worker processes.

    At most ``options.forks`` hosts run at once, on threads of this process or spread over
    worker processes (see :mod:`toolkit.fanout.executors`); either way ``hooks`` fire in
    this thread and each host's deadline is enforced here. ``stop`` (or KeyboardInterrupt
    in the calling thread) stops dispatching; hosts already running finish or hit their
    deadline (Ctrl-C: a grace of 2 s, then "interrupted while running"), hosts never started
    are reported as ``error`` "not run: interrupted".

    ``gate`` (a new :class:`toolkit.fanout.lockout.CredentialGate` by default; pass one
    to share it between batches) holds back the hosts of a credential that has not logged
    on yet and reports them ``not_attempted`` once it failed: a result whose ``error`` is
    ``auth_failed`` counts. Hosts may therefore start out of inventory order.
    """
    return _Fanout(
        hosts,
        task,
        fail or audit_failure,
        options or FanoutOptions(),
        hooks or Hooks(),
        gate if gate is not None else CredentialGate(),
    ).run(stop or threading.Event())


class _Fanout(Generic[R]):
    """One :func:`run_hosts` call: the dispatcher's state, in the calling thread only."""

    def __init__(
        self,
        hosts: Sequence[Host],
        task: Task[R],
        fail: FailureFn[R],
        options: FanoutOptions,
        hooks: Hooks[R],
        gate: CredentialGate,
    ) -> None:
        from toolkit.fanout.executors import Executor, ProcessExecutor, ThreadExecutor, warm_up
        from toolkit.fanout.task import attempts

        self.hosts = hosts
        self.fail = fail
        self.options = options
        self.hooks = hooks
        self.gate = gate
        self.results: list[R | None] = [None] * len(hosts)
        self.running: dict[int, _Slot] = {}
        self.waiting = _Waiting(hosts)
        processes = _processes_for(hosts, task, fail, options)
        warm = _clients_for(hosts) if hosts and gate.enabled else ()
        self.executor: Executor[R]
        if processes > 1:
            self.executor = ProcessExecutor(task, options, list(hosts), processes, fail=fail, warm=warm)
        else:
            warm_up(warm)
            self.executor = ThreadExecutor(
                lambda host, deadline: attempts(task, host, deadline, options, fail)
            )

    def run(self, stop: threading.Event) -> tuple[list[R], bool]:
        interrupted = False
        try:
            while self.waiting or self.running:
                if stop.is_set():
                    interrupted = True
                taken = self.dispatch() if not interrupted else 0
                if not self.running:
                    if interrupted or not self.waiting or not taken:
                        break
                    continue  # only refusals so far: look at the rest
                # The first slot has the nearest deadline (see :meth:`dispatch`).
                wake = next(iter(self.running.values())).deadline - time.monotonic()
                self.harvest(max(0.005, min(wake, 0.25)))
        except KeyboardInterrupt:
            interrupted = True
            self.wind_down(grace=2.0)
        finally:
            self.executor.close()
        done: list[R] = []
        for index, result in enumerate(self.results):
            if result is None:  # never dispatched: interrupted (or stopped) first
                error = HostError(ErrorKind.ERROR, "not run: interrupted", False)
                result = self.fail(Failure(self.hosts[index], error))
            done.append(result)
        self.hooks.done(done, interrupted)
        return done, interrupted

    def complete(self, slot: _Slot, result: R) -> None:
        self.results[slot.index] = result
        self.gate.finished(slot.host, result)
        self.hooks.finished(result)

    def dispatch(self) -> int:
        """Start (or refuse) hosts while there is room; how many it took.

        Every slot's deadline is its start plus the one ``options.timeout``, and ``running``
        keeps insertion order: its slots are in deadline order, so the dispatcher finds the
        nearest deadline and the expired hosts from the front (with 256 hosts running, a
        scan of them all at every wake-up was a tenth of the dispatcher's CPU)."""
        taken = 0
        while len(self.running) < self.options.forks:
            index = self.waiting.pop_next(self.gate)
            if index is None:
                return taken
            taken += 1
            host = self.hosts[index]
            refusal = self.gate.refusal(host)
            if refusal is not None:
                result = self.results[index] = self.fail(Failure(host, refusal))
                self.hooks.finished(result)
                continue
            now = time.monotonic()
            slot = _Slot(host, index, now + self.options.timeout, now)
            self.running[index] = slot
            self.gate.started(host)
            self.hooks.started(host)
            self.executor.submit(index, host, slot.deadline)
        return taken

    def harvest(self, timeout: float) -> None:
        for index, result in self.executor.wait(timeout):
            if index in self.running:  # else its deadline already reported it
                self.complete(self.running.pop(index), result)
        now = time.monotonic()
        expired = []
        for slot in self.running.values():  # in deadline order (see dispatch)
            if now < slot.deadline:
                break
            expired.append(slot)
        for slot in expired:
            del self.running[slot.index]
            message = f"no result within the {self.options.timeout:g}s deadline"
            err = HostError(ErrorKind.TIMEOUT, message, True)
            self.complete(slot, self.fail(Failure(slot.host, err, now - slot.started)))

    def wind_down(self, *, grace: float) -> None:
        """Ctrl-C: give running hosts ``grace`` seconds to finish; report the rest."""
        limit = time.monotonic() + grace
        while self.running and time.monotonic() < limit:
            for index, result in self.executor.wait(max(0.0, limit - time.monotonic())):
                if index in self.running:
                    self.complete(self.running.pop(index), result)
        for slot in list(self.running.values()):
            err = HostError(ErrorKind.ERROR, "interrupted while running", True)
            self.complete(slot, self.fail(Failure(slot.host, err)))
