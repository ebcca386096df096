"""The fan-out where session 4's mutation runs left survivors that needed a host blocking inside
a worker process, a worker that never starts, or Ctrl-C under a fake clock: a worker's hosts are
spread over the workers and those of one that dies are reported at once; a worker that never said
ready gets no host; a host that never answers does not keep a stopped worker process alive; Ctrl-C
gives running hosts exactly 2 seconds; a worker's kept thread takes the next host unless it is
busy; a closed executor leaves no descriptor open.

Worker processes run isolated (``python -I``) and cannot import the tests' modules: the task
that blocks in them is psfleet's own audit (:class:`toolkit.api.AuditTask`) against a loopback
listener that accepts and never answers; a worker that must not answer is stopped (SIGSTOP)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from tests.unit.fanout.helpers import children_of, collect, needs_proc, thread_states
from toolkit.api import AuditTask
from toolkit.fanout import executors, runner
from toolkit.fanout.executors import ProcessExecutor
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.lockout import CredentialGate
from toolkit.fanout.runner import FanoutOptions, audit_failure, run_hosts
from toolkit.inventory.credentials import Credential
from toolkit.inventory.model import Host, PasswordSource, Transport
from toolkit.results import HostResult, HostStatus

HOSTS = [Host(name=f"fs0{i}", address=f"192.0.2.{i}") for i in range(1, 4)]
LOST = "internal error: the worker process exited"


def started(make: Callable[[], ProcessExecutor[HostResult]]) -> tuple[ProcessExecutor[HostResult], int]:
    """The executor ``make`` returns, and the worker process it started (a new child of this
    process: the process tree shows it, no attribute of the executor is needed)."""
    before = set(children_of(os.getpid()))
    ex = make()
    (pid,) = set(children_of(os.getpid())) - before
    return ex, pid


def within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` holds before ``seconds`` pass (looked at every 10 ms)."""
    limit = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > limit:
            return False
        time.sleep(0.01)
    return True


# -- a worker process that dies, or never starts ---------------------------------------------


@needs_proc
def test_hosts_are_spread_over_the_workers_and_a_dead_workers_hosts_are_reported_at_once() -> None:
    ex, first = started(lambda: ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 2, fail=audit_failure))
    (forked,) = children_of(first)
    try:
        for pid in (first, forked):
            os.kill(pid, signal.SIGSTOP)  # busy: neither answers its host for now
        ex.submit(0, HOSTS[0], time.monotonic() + 60)
        ex.submit(1, HOSTS[1], time.monotonic() + 60)
        os.kill(first, signal.SIGKILL)  # dies with the host it was given
        os.kill(forked, signal.SIGCONT)
        results = collect(ex, 2, within=20)
    finally:
        os.kill(forked, signal.SIGCONT)
        ex.close()
    assert sorted(results) == [0, 1]
    # the dead worker's host is reported as soon as its pipe ends, not left to its deadline
    assert results[0].error is not None and results[0].error.message == LOST
    # the other host went to the other worker, which answered it (the task's own error)
    assert results[1].status is HostStatus.ERROR
    assert results[1].error is not None and results[1].error.message != LOST


def test_a_worker_that_never_said_ready_is_given_no_host(monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen = executors.subprocess.Popen
    hung: list[subprocess.Popen[bytes]] = []

    def hung_at_start(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        os.kill(proc.pid, signal.SIGSTOP)  # as a worker stuck importing psfleet
        hung.append(proc)
        return proc  # type: ignore[no-any-return]

    monkeypatch.setattr(executors.subprocess, "Popen", hung_at_start)
    monkeypatch.setattr(executors, "WORKER_START_TIMEOUT", 1.0)
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS[:1], 1, fail=audit_failure)
    try:
        ex.submit(0, HOSTS[0], time.monotonic() + 60)
        results = collect(ex, 1, within=10)
    finally:
        hung[0].kill()  # or close() would wait 5 s for it before killing it
        ex.close()
    assert results[0].error is not None and results[0].error.message == LOST


# -- a host that never answers inside a worker process ---------------------------------------


@pytest.fixture
def silent_port() -> Iterator[tuple[int, threading.Event]]:
    """A loopback port that accepts connections and never answers; the event says one came."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    came = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            came.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1], came
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_a_host_that_never_answers_does_not_keep_a_stopped_worker_alive(
    silent_port: tuple[int, threading.Event],
) -> None:
    port, connected = silent_port
    host = Host(name="fs01", address="127.0.0.1", transport=Transport(port=port, auth="ntlm"))
    task = AuditTask(credentials={"fs01": Credential("admin", "pw")}, now=datetime.now(UTC), workarounds={})
    ex = ProcessExecutor(task, FanoutOptions(retries=0), [host], 1, fail=audit_failure)
    try:
        ex.submit(0, host, time.monotonic() + 60)
        assert connected.wait(30)  # the host is in flight inside the worker, waiting for an answer
        assert ex.wait(0.0) == []
    finally:
        ex.close()
    # told to stop, the worker abandons the hung host and exits on its own (not killed after 5 s).
    # How the worker ended is only in the executor's Popen: close() reaps it (so os.waitpid
    # cannot), and neither close() nor wait() reports it.
    assert ex._proc.returncode == 0


@needs_proc
def test_a_hung_host_does_not_hold_up_the_next_host_of_its_worker(
    silent_port: tuple[int, threading.Event],
) -> None:
    """A worker keeps a finished host's thread for its next host (6e17872): the kept thread
    really takes that host (the worker starts no new thread for it), and a thread busy with a
    hung host is given no other host (the next one gets a new thread and is answered while the
    hung one waits). The worker's threads are counted in /proc/<pid>/task."""
    port, connected = silent_port
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    closed.close()  # nothing listens there: refused at once

    def host(name: str, to: int) -> Host:
        return Host(name=name, address="127.0.0.1", transport=Transport(port=to, auth="ntlm"))

    quick, hung, after = host("quick", refused), host("hung", port), host("after", refused)
    task = AuditTask(
        credentials=dict.fromkeys(("quick", "hung", "after"), Credential("admin", "pw")),
        now=datetime.now(UTC),
        workarounds={},
    )
    ex, pid = started(
        lambda: ProcessExecutor(task, FanoutOptions(retries=0), [quick, hung, after], 1, fail=audit_failure)
    )
    try:
        ex.submit(0, quick, time.monotonic() + 60)
        first = collect(ex, 1, within=30)
        # quick's thread is idle once every thread of the worker sleeps: its main thread reads
        # the jobs pipe (nothing was sent) and holds no lock, so a host thread that sent its
        # result sleeps only waiting for its next host
        assert within(10, lambda: set(thread_states(pid)) == {"S"})
        threads = len(thread_states(pid))  # the main thread and quick's
        ex.submit(1, hung, time.monotonic() + 60)
        assert connected.wait(30)  # the hung host reached its host
        assert len(thread_states(pid)) == threads  # on quick's thread: no thread was started
        ex.submit(2, after, time.monotonic() + 60)
        later = collect(ex, 1, within=30)
        assert len(thread_states(pid)) == threads + 1  # the kept one was busy: a new one
    finally:
        ex.close()
    assert first[0].status is HostStatus.UNREACHABLE
    # answered while the hung host still waits: not queued behind it
    assert list(later) == [2] and later[2].status is HostStatus.UNREACHABLE


# -- Ctrl-C's grace, under a fake clock ------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedExecutor:
    """Each host answers (compliant) a set time after the run starts; waiting moves the clock."""

    def __init__(self, clock: FakeClock, answers_at: dict[str, float]) -> None:
        self.clock = clock
        self.answers_at = answers_at
        self.pending: list[tuple[float, int, Host]] = []

    def submit(self, index: int, host: Host, deadline: float) -> None:
        self.pending.append((1000.0 + self.answers_at[host.name], index, host))

    def wait(self, timeout: float) -> list[tuple[int, HostResult]]:
        self.pending.sort(key=lambda p: p[0])
        if self.pending and self.pending[0][0] <= self.clock.now + timeout:
            at, index, host = self.pending.pop(0)
            self.clock.now = max(self.clock.now, at)
            return [(index, HostResult(host.name, host.address, HostStatus.COMPLIANT))]
        self.clock.now += timeout
        return []

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("after_ctrl_c", "status"), [(1.9, "compliant"), (2.1, "error")])
def test_ctrl_c_gives_running_hosts_two_seconds(
    monkeypatch: pytest.MonkeyPatch, after_ctrl_c: float, status: str
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep))
    # "quick" answers 0.1 s in, and Ctrl-C comes as its result is handled; "slow" answers later
    scripted = ScriptedExecutor(clock, {"quick": 0.1, "slow": 0.1 + after_ctrl_c})
    monkeypatch.setattr(executors, "ThreadExecutor", lambda run: scripted)

    def ctrl_c(result: HostResult) -> None:
        if result.name == "quick":
            raise KeyboardInterrupt

    hosts = [Host(name="quick", address="192.0.2.1"), Host(name="slow", address="192.0.2.2")]
    results, interrupted = run_hosts(
        hosts,
        dict,  # type: ignore[arg-type]
        options=FanoutOptions(forks=2, timeout=60, processes=1),
        hooks=Hooks(on_result=ctrl_c),
        gate=CredentialGate(enabled=False),
    )
    assert interrupted
    slow = results[1]
    assert slow.status.value == status
    if status == "error":
        assert slow.error is not None and slow.error.message == "interrupted while running"


# -- descriptors ---------------------------------------------------------------------------


@needs_proc
def test_a_closed_executor_leaves_no_descriptor_open() -> None:
    # A runbook or a site worker runs many fan-outs in one process: each must give back its
    # pipes and its selector, or the process runs out of descriptors.
    def open_fds() -> list[str]:
        return sorted(os.listdir("/proc/self/fd"))

    before = open_fds()
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS[:1], 2, fail=audit_failure)
    try:
        ex.submit(0, HOSTS[0], time.monotonic() + 60)
        results = collect(ex, 1, within=30)
    finally:
        ex.close()
    assert sorted(results) == [0]
    assert open_fds() == before


@needs_proc
def test_a_host_answered_is_not_reported_again_when_its_worker_dies_later() -> None:
    ex, pid = started(
        lambda: ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS[:2], 1, fail=audit_failure)
    )
    try:
        ex.submit(0, HOSTS[0], time.monotonic() + 60)
        first = collect(ex, 1, within=30)
        os.kill(pid, signal.SIGKILL)  # the worker dies after it answered
        # the next host goes to the dead worker (or is refused at once): it is reported lost,
        # and so would be any host still counted in flight on that worker
        ex.submit(1, HOSTS[1], time.monotonic() + 60)
        later: list[tuple[int, HostResult]] = []
        limit = time.monotonic() + 10
        while not later and time.monotonic() < limit:
            later += ex.wait(0.2)
        later += ex.wait(0.0)
    finally:
        ex.close()
    assert first[0].status is HostStatus.ERROR
    assert first[0].error is not None and first[0].error.message != LOST
    # each host is answered once: no "worker process exited" for the one already answered
    assert [(index, result.error and result.error.message) for index, result in later] == [(1, LOST)]


def test_the_smallest_credential_gate_is_accepted_and_lets_one_host_start() -> None:
    # one failed logon gives a credential up, one host proves it, no patience for a second one
    gate = CredentialGate(limit=1, probes=1, patience=0.0)
    first, second = (
        Host(name=n, address="192.0.2.9", username="admin", password=PasswordSource("env", "PW"))
        for n in ("fs01", "fs02")
    )
    assert gate.may_start(first)
    gate.started(first)
    assert not gate.may_start(second)  # the one probe is out: the next host waits for it
