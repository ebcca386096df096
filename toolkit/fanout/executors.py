"""Where host tasks run: threads of this process, or worker processes on every core.

One Python process uses one core, and a WinRM audit costs the client a few milliseconds of
CPU per host (NTLM, message encryption, XML): at a thousand hosts the client, not the
network, becomes the bound. :class:`ProcessExecutor` spreads hosts over worker processes,
each running its hosts on threads, and streams every result back as it finishes. One worker
is started as ``python -I`` running :mod:`toolkit.fanout.worker` (so the caller's
``__main__`` is never re-imported); once it has imported psfleet and loaded the task it forks
the others, still single-threaded, so a run pays for starting Python and importing the
clients once (about half a second of CPU on a busy 2-core machine), not once per worker. The dispatcher in :func:`toolkit.fanout.runner.run_hosts` stays in the calling
process: hooks fire there, deadlines are enforced there. Hosts are handed out only once every
worker has imported psfleet and the clients its hosts are served by (:func:`warm_up`) and said
it is ready, so starting Python never eats into a host's deadline.

A task (and the caller's failure function) can only go to worker processes when it pickles
(a module-level callable with picklable state); anything else runs on threads, as before.
Results are whatever the task returns (they pickle back); this module knows no result type.

Workers receive every host's password, so they import only the psfleet this process runs:
isolated mode (``-I``: no current directory or script directory on ``sys.path``, no
``PYTHON*`` variables, no user site-packages), ``/`` as their working directory, and the
folder holding this process's ``toolkit`` package put on ``sys.path`` only when isolated
Python would not find that same package (a checkout run without installing it). A
``toolkit/`` folder in the operator's directory is never imported.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing.connection
import os
import pickle
import queue
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from toolkit.fanout.task import Failure, FailureFn, FanoutOptions, Task
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError

log = logging.getLogger(__name__)

#: Seconds a worker process may take to start (import psfleet, load the task).
WORKER_START_TIMEOUT = 60.0
#: Every client a run may import before its first host; a run warms only those its hosts are
#: served by (:func:`toolkit.transport.clients.client_modules`).
WARM_MODULES = ("toolkit.transport.lean", "toolkit.transport.pypsrp_session")


def warm_up(modules: Sequence[str] = WARM_MODULES) -> None:
    """Import ``modules`` before the first host starts (a second or more on a cold, busy
    machine), so that no host's deadline, nor the lockout guard's patience, is spent importing
    the client that serves it. Missing ones are left to the first host to report.

    Trade-off: a run whose hosts the lean client serves warms only the lean client (pypsrp's
    client, with requests, costs ~0.1 s of CPU to import). A host that falls back
    to pypsrp imports it then, inside its own deadline, and the first such host in each
    process waits for the import (about 0.1 s idle, more on a busy machine; hosts of that
    process falling back meanwhile wait for the same import)."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the host that needs it reports the error
            log.debug("could not import %s ahead of the hosts", name, exc_info=True)


#: Sent by a worker process once the task is loaded, before any result.
READY = b"ready"

T = TypeVar("T")

#: Runs one host with its retries: (host, deadline) -> result (never raises).
HostRunner = Callable[[Host, float], T]


class Executor(Protocol[T]):
    def submit(self, index: int, host: Host, deadline: float) -> None: ...

    def wait(self, timeout: float) -> list[tuple[int, T]]:
        """Results that finished, waiting up to ``timeout`` for the first one."""
        ...

    def close(self) -> None: ...


class ThreadExecutor(Generic[T]):
    """One daemon thread per host in flight (the fan-out bounds how many)."""

    def __init__(self, run: HostRunner[T]) -> None:
        self._run = run
        self._done: queue.SimpleQueue[tuple[int, T]] = queue.SimpleQueue()

    def submit(self, index: int, host: Host, deadline: float) -> None:
        def work() -> None:
            self._done.put((index, self._run(host, deadline)))

        threading.Thread(target=work, daemon=True, name=f"psfleet-{host.name}").start()

    def wait(self, timeout: float) -> list[tuple[int, T]]:
        try:
            items = [self._done.get(timeout=max(0.0, timeout))]
        except queue.Empty:
            return []
        while True:
            try:
                items.append(self._done.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        pass


def picklable(obj: object) -> bool:
    """Whether ``obj`` can be sent to a worker process (and rebuilt there)."""
    if getattr(type(obj), "__module__", "__main__") == "__main__":
        return False
    try:
        pickle.dumps(obj)
    except Exception:
        return False
    return True


#: Run by ``python -I -c``: argv is (package root, then a jobs fd and a results fd per worker).
#: The root goes on sys.path only when isolated Python does not already import toolkit from
#: there.
_BOOTSTRAP = """\
import importlib.util, os, sys
root = sys.argv[1]
spec = importlib.util.find_spec("toolkit")
found = spec.origin if spec is not None else None
if found is None or os.path.dirname(os.path.dirname(os.path.realpath(found))) != root:
    sys.path.insert(0, root)
from toolkit.fanout.worker import main
raise SystemExit(main(sys.argv[2:]))
"""


def package_root() -> str:
    """The folder that holds the ``toolkit`` package this process runs (real path)."""
    import toolkit

    return os.path.dirname(os.path.dirname(os.path.realpath(toolkit.__file__)))


def worker_command(*fds: int) -> list[str]:
    """The argv of the worker process (see the module docstring for why it looks like this):
    ``fds`` are the (jobs, results) descriptors of every worker, the started one's first."""
    return [sys.executable, "-I", "-c", _BOOTSTRAP, package_root(), *map(str, fds)]


class _Worker:
    """The parent's ends of one worker's two pipes; ``child_fds`` are the worker's ends."""

    def __init__(self) -> None:
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        self.child_fds = (jobs_r, results_w)
        self.jobs = multiprocessing.connection.Connection(jobs_w, readable=False)
        self.results = multiprocessing.connection.Connection(results_r, writable=False)
        self.in_flight: set[int] = set()
        self.alive = True


class ProcessExecutor(Generic[T]):
    """``processes`` worker processes; each host goes to the least busy one. ``fail`` turns
    the hosts of a worker that died into results (as the task's own failures are, in the
    worker). Each worker imports ``warm`` (module names, see :func:`warm_up`) before it says
    it is ready."""

    def __init__(
        self,
        task: Task[Any],
        options: FanoutOptions,
        hosts: list[Host],
        processes: int,
        *,
        fail: FailureFn[Any],
        warm: Sequence[str] = (),
    ) -> None:
        self._hosts = hosts
        self._fail = fail
        payload = pickle.dumps((task, fail, options, tuple(warm)))
        self._workers = [_Worker() for _ in range(max(1, processes))]
        self._lost: list[tuple[int, T]] = []
        # One selector for the run: a new one per wait (multiprocessing.connection.wait) cost
        # a fifth of the dispatcher's CPU at a wake-up per finished host or two.
        self._selector = selectors.DefaultSelector()
        for worker in self._workers:
            self._selector.register(worker.results, selectors.EVENT_READ, worker)
        fds = [fd for worker in self._workers for fd in worker.child_fds]
        try:
            self._proc = subprocess.Popen(
                worker_command(*fds),
                pass_fds=fds,
                stdin=subprocess.DEVNULL,  # close_fds is forced by pass_fds
                cwd=os.path.abspath(os.sep),
            )
        except BaseException:
            self._close_pipes()
            raise
        finally:
            for fd in fds:
                os.close(fd)
        try:
            self._workers[0].jobs.send_bytes(payload)  # the others are forked with it loaded
            self._await_ready()
        except BaseException:  # Ctrl-C while the workers start, or a worker that died at once
            self.close()
            raise

    def _await_ready(self) -> None:
        """Wait until every worker has imported psfleet and loaded the task, so that no
        host's deadline (nor the lockout guard's patience) is spent starting Python."""
        limit = time.monotonic() + WORKER_START_TIMEOUT
        for worker in self._workers:
            try:
                ready = worker.results.poll(max(0.0, limit - time.monotonic()))
                if ready and worker.results.recv_bytes() == READY:
                    continue
            except (EOFError, OSError):
                pass
            log.debug("worker process %d of %s did not start", self._workers.index(worker), self._proc.pid)
            self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        """Stop listening to a worker that exited or never started."""
        worker.alive = False
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.results)

    def submit(self, index: int, host: Host, deadline: float) -> None:
        alive = [w for w in self._workers if w.alive]
        if not alive:
            self._lost.append((index, self._worker_lost(host)))
            return
        worker = min(alive, key=lambda w: len(w.in_flight))
        try:
            worker.jobs.send((index, host, deadline))
        except OSError:
            self._bury(worker)
            self._lost.append((index, self._worker_lost(host)))
            return
        worker.in_flight.add(index)

    def _bury(self, worker: _Worker) -> None:
        """A worker that exited: its hosts in flight are reported as errors."""
        self._retire(worker)
        for index in sorted(worker.in_flight):  # a buried worker is never read again
            self._lost.append((index, self._worker_lost(self._hosts[index])))

    def _worker_lost(self, host: Host) -> T:
        error = HostError(ErrorKind.ERROR, "internal error: the worker process exited", True)
        result: T = self._fail(Failure(host, error))
        return result

    def wait(self, timeout: float) -> list[tuple[int, T]]:
        out, self._lost = self._lost, []
        if out:
            timeout = 0.0
        if not any(w.alive for w in self._workers):
            return out
        # One message per ready worker, then look again without waiting, until none is ready
        # (Connection.poll builds a new selector at every call).
        events = self._selector.select(max(0.0, timeout))
        while events:
            for key, _ in events:
                worker: _Worker = key.data
                try:
                    index, result = worker.results.recv()
                except (EOFError, OSError):
                    self._bury(worker)  # no longer selected
                    continue
                worker.in_flight.discard(index)
                out.append((index, result))
            events = self._selector.select(0)
        out += self._lost
        self._lost = []
        return out

    def close(self) -> None:
        """Tell every worker to stop; the started one exits once the ones it forked did."""
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.jobs.send(None)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()  # the forked ones stop on their own: their jobs pipe said so
            self._proc.wait(timeout=5)
        self._close_pipes()

    def _close_pipes(self) -> None:
        self._selector.close()
        for worker in self._workers:
            worker.jobs.close()
            worker.results.close()
