"""Entry point of a fan-out worker process: :func:`main` with ``JOBS RESULTS`` (file descriptors),
started by :mod:`toolkit.fanout.executors` in isolated mode (``python -I``, never ``-m`` from
the operator's directory).

Reads the pickled (task, fail, options, modules to import) first, then ``(index, host, deadline)`` jobs until
None; runs each host on a thread (with the fan-out's retries, failures turned into results by
the caller's ``fail``) and sends ``(index, result)`` back as soon as it is done. Ctrl-C is
left to the parent, which decides what an interrupted host becomes; a worker whose parent
goes away exits.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import pickle
import signal
import sys
import threading

from toolkit.fanout.executors import READY, warm_up
from toolkit.fanout.task import FanoutOptions, attempts
from toolkit.inventory.model import Host


def serve(
    jobs: multiprocessing.connection.Connection, results: multiprocessing.connection.Connection
) -> None:
    task, fail, options, warm = pickle.loads(jobs.recv_bytes())
    assert isinstance(options, FanoutOptions)
    warm_up(warm)
    results.send_bytes(READY)  # the parent dispatches (and starts deadlines) only from here
    send_lock = threading.Lock()

    def work(index: int, host: Host, deadline: float) -> None:
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
        threading.Thread(target=work, args=job, daemon=True, name=f"psfleet-{job[1].name}").start()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    jobs = multiprocessing.connection.Connection(int(argv[0]), writable=False)
    results = multiprocessing.connection.Connection(int(argv[1]), readable=False)
    serve(jobs, results)
    # Hosts still running past a "stop" are abandoned, as the thread fan-out abandons them.
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
