"""The worker-process executor on its own: a host goes out and its result comes back, workers
stop when told (not killed), a worker that died costs its hosts an error result (never the
run), and only what pickles goes to worker processes. The task is ``dict`` (a builtin that
pickles anywhere: called with (host, deadline) it raises TypeError, which the worker's retry
loop turns into an "internal error" result), because worker processes run isolated
(``python -I``) and cannot import the tests' modules."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.unit.fanout.helpers import children_of, collect, needs_proc
from toolkit.fanout.executors import ProcessExecutor, picklable, warm_up
from toolkit.fanout.runner import FanoutOptions, audit_failure
from toolkit.inventory.model import Host
from toolkit.results import HostResult, HostStatus

HOSTS = [Host(name=f"fs0{i}", address=f"192.0.2.{i}") for i in range(1, 4)]


def test_a_host_result_comes_back_from_a_worker_process_and_workers_stop_when_told() -> None:
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 2, fail=audit_failure)
    try:
        for index, host in enumerate(HOSTS):
            ex.submit(index, host, time.monotonic() + 60)
        results = collect(ex, len(HOSTS))
    finally:
        ex.close()
    assert sorted(results) == [0, 1, 2]
    for index, result in results.items():
        assert result.name == HOSTS[index].name and result.status is HostStatus.ERROR
        assert result.error is not None and "internal error: TypeError" in result.error.message
    # told to stop (None), they exit on their own: not killed after the grace period (the
    # started worker's status is 0 only when the worker it forked ended cleanly too)
    assert ex._proc.returncode == 0
    assert all(w.jobs.closed and w.results.closed for w in ex._workers)  # no descriptor left open


def test_a_dead_worker_costs_its_hosts_an_error_not_the_run() -> None:
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 1, fail=audit_failure)
    try:
        (worker,) = ex._workers
        ex._proc.kill()
        ex._proc.wait(10)
        ex.submit(0, HOSTS[0], time.monotonic() + 60)
        assert not worker.alive  # buried: never given another host
        ex.submit(1, HOSTS[1], time.monotonic() + 60)  # no worker left at all
        results = collect(ex, 2, within=10)
    finally:
        ex.close()
    assert sorted(results) == [0, 1]
    for result in results.values():
        assert result.status is HostStatus.ERROR
        assert (
            result.error is not None and result.error.message == "internal error: the worker process exited"
        )


def test_the_forked_worker_serves_on_when_the_started_one_dies() -> None:
    # The started worker forked the second; each process holds only its own pipes, so the
    # started one's death shows at once (its results pipe ends) and the other serves the run.
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 2, fail=audit_failure)
    try:
        first, second = ex._workers
        ex._proc.kill()
        ex._proc.wait(10)
        limit = time.monotonic() + 10
        while first.alive and time.monotonic() < limit:
            ex.wait(0.2)
        assert not first.alive and second.alive
        for index, host in enumerate(HOSTS):
            ex.submit(index, host, time.monotonic() + 60)
        results = collect(ex, len(HOSTS), within=20)
    finally:
        ex.close()
    assert sorted(results) == [0, 1, 2]
    for result in results.values():  # answered by the forked worker, not lost with the first
        assert result.error is not None and "internal error: TypeError" in result.error.message


def module_level_task(host: Host, deadline: float) -> HostResult:
    return HostResult(host.name, host.address, HostStatus.COMPLIANT)


def test_only_what_pickles_and_is_not_from_main_goes_to_workers() -> None:
    assert picklable(dict) and picklable(warm_up) and picklable(module_level_task)
    assert not picklable(lambda host, deadline: None)
    assert not picklable(threading.Lock())

    class FromMain:
        def __call__(self, host: Host, deadline: float) -> None:
            return None

    FromMain.__module__ = "__main__"
    assert not picklable(FromMain())


def test_workers_leave_ctrl_c_to_the_parent() -> None:
    import os
    import signal

    # A shell's background job starts with SIGINT ignored, and children inherit that: give
    # the workers the terminal's default, as an operator's psfleet has.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 1, fail=audit_failure)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert len(ex._workers) == 1
        os.kill(ex._proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends the group
        time.sleep(0.5)  # a worker that took it would be gone by now
        assert ex._proc.poll() is None
        ex.submit(0, HOSTS[0], time.monotonic() + 60)
        results = collect(ex, 1)
    finally:
        ex.close()
    assert results[0].error is not None and "internal error: TypeError" in results[0].error.message


@needs_proc
def test_ctrl_c_while_the_workers_start_leaves_no_worker_and_no_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C before the workers said ready: the run never gets the executor to close, so the
    executor stops and reaps its worker and closes its pipes and selector itself."""

    def interrupted(self: ProcessExecutor[HostResult]) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ProcessExecutor, "_await_ready", interrupted)
    fds, children = set(os.listdir("/proc/self/fd")), set(children_of(os.getpid()))
    with pytest.raises(KeyboardInterrupt):
        ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 2, fail=audit_failure)
    assert (
        set(children_of(os.getpid())) == children
    )  # the started worker was waited for: no zombie, no orphan
    assert set(os.listdir("/proc/self/fd")) == fds


@needs_proc
def test_a_worker_that_cannot_be_started_leaves_no_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the worker process fails (no more processes or descriptors, say): the error
    reaches the caller and the executor's pipes and selector are closed, not leaked."""

    def no_process(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("toolkit.fanout.executors.subprocess.Popen", no_process)
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError, match="Resource temporarily unavailable"):
        ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 2, fail=audit_failure)
    assert set(os.listdir("/proc/self/fd")) == fds
