"""Entry point of the fan-out's worker processes: :func:`main` with ``JOBS RESULTS`` file
descriptors for every worker, started by :mod:`toolkit.fanout.executors` in isolated mode
(``python -I``, never ``-m`` from the operator's directory).

The started process reads the pickled (task, fail, options, modules to import) from the first
jobs pipe, imports those modules, then forks one process per further pair of pipes (nothing
runs on threads yet, so the fork is safe), so that Python starts and the clients are imported
once per run. Every worker then reads ``(index, host, deadline)`` jobs until None, runs each
host on a thread (with the fan-out's retries, failures turned into results by the caller's
``fail``) and sends ``(index, result)`` back as soon as it is done. Ctrl-C is left to the
parent, which decides what an interrupted host becomes; a worker whose parent goes away exits.
The started process exits once the ones it forked did (its exit status says whether they all
ended cleanly).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing.connection
import os
import pickle
import queue
import signal
import sys
import threading
from typing import Any

from toolkit.fanout.executors import READY, warm_up
from toolkit.fanout.task import FanoutOptions, attempts
from toolkit.inventory.model import Host

Pipes = tuple[multiprocessing.connection.Connection, multiprocessing.connection.Connection]

#: Seconds a thread may hold the GIL while others wait for it (Python's default: 0.005). A
#: worker's threads give the GIL up at every socket call anyway, a few hundred microseconds
#: apart; the forced switches of the default only added hand-overs between 100+ threads
#: (each a context switch and a few futex calls).
SWITCH_INTERVAL = 0.05


def serve(
    jobs: multiprocessing.connection.Connection, results: multiprocessing.connection.Connection, work: Any
) -> None:
    """Run every job of ``jobs`` on a thread (``work`` = (task, fail, options)) until None."""
    task, fail, options = work
    assert isinstance(options, FanoutOptions)
    results.send_bytes(READY)  # the parent dispatches (and starts deadlines) only from here
    send_lock = threading.Lock()
    pool = _Threads()

    def run(index: int, host: Host, deadline: float) -> None:
        result = attempts(task, host, deadline, options, fail)
        # OSError: the parent went away (interrupted), nothing left to tell.
        with send_lock, contextlib.suppress(OSError):
            results.send((index, result))

    while True:
        try:
            job = jobs.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        pool.start(run, job)


class _Threads:
    """Host threads that are kept for the next host once theirs is done: handing a job to an
    idle thread costs a third of starting a thread (about 40 us of CPU against 125 per
    host). A thread is started only when none is idle, so as many hosts run at once as
    before; all are daemons, abandoned with their hosts when the worker exits."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, tuple[Any, ...]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def start(self, run: Any, job: tuple[Any, ...]) -> None:
        with self._lock:
            reuse = self._idle > 0
            if reuse:
                self._idle -= 1  # this job is that thread's: a second one needs another
        if reuse:
            self._jobs.put((run, job))
        else:
            threading.Thread(target=self._serve, args=(run, job), daemon=True).start()

    def _serve(self, run: Any, job: tuple[Any, ...]) -> None:
        me = threading.current_thread()
        while True:
            me.name = f"psfleet-{job[1].name}"  # the host it runs, for stack dumps of a hung worker
            run(*job)
            with self._lock:
                self._idle += 1
            run, job = self._jobs.get()


def fork_workers(pipes: list[Pipes], work: Any) -> list[int]:
    """Fork a worker serving each of ``pipes[1:]``; this process keeps ``pipes[0]`` only, and
    each child only its own pair (a pipe end left in another process would hide that
    process's death from the parent)."""
    gc.freeze()  # the imported modules stay shared: the children's collections skip them
    children = []
    for i in range(1, len(pipes)):
        pid = os.fork()
        if pid == 0:
            for k, pair in enumerate(pipes):
                if k != i:
                    for conn in pair:
                        conn.close()
            code = 1
            try:
                serve(*pipes[i], work)
                code = 0
            finally:
                # Hosts still running past a "stop" are abandoned, as in the started worker.
                os._exit(code)
        children.append(pid)
        for conn in pipes[i]:
            conn.close()
    return children


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fds = [int(a) for a in argv]
    pipes: list[Pipes] = [
        (
            multiprocessing.connection.Connection(fds[i], writable=False),
            multiprocessing.connection.Connection(fds[i + 1], readable=False),
        )
        for i in range(0, len(fds), 2)
    ]
    jobs, results = pipes[0]
    try:
        task, fail, options, warm = pickle.loads(jobs.recv_bytes())
    except (EOFError, OSError):
        return 1
    warm_up(warm)
    sys.setswitchinterval(SWITCH_INTERVAL)  # the forked workers keep it
    work = (task, fail, options)
    children = fork_workers(pipes, work)
    serve(jobs, results, work)
    # Hosts still running past a "stop" are abandoned, as the thread fan-out abandons them.
    clean = True
    for pid in children:
        _, status = os.waitpid(pid, 0)
        clean = clean and os.waitstatus_to_exitcode(status) == 0
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
