"""The fan-out over a result type of the caller's own (no HostResult anywhere), with fake tasks
and no lab: every failure becomes the caller's type through its ``fail`` function (retries
exhausted, deadline, Ctrl-C, a refused credential, a dead worker process), the retry rule holds
for it, and the hooks see that type."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolkit.fanout import executors
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.runner import Failure, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, PasswordSource
from toolkit.results import ErrorKind, HostError
from toolkit.run_command.results import HostRunResult, RunStatus
from toolkit.run_command.runner import run_failure
from toolkit.transport.protocol import TransportError


@dataclass(frozen=True)
class Answer:
    """A command's own per-host result: what it answered, or why not."""

    name: str
    value: int | None = None
    error: HostError | None = None
    details: tuple[tuple[str, str], ...] = ()


def answer_failure(failure: Failure) -> Answer:
    details = tuple(sorted((k, str(v)) for k, v in failure.details.items()))
    return Answer(failure.host.name, error=failure.error, details=details)


def host(name: str, user: str = "admin") -> Host:
    return Host(name=name, address="127.0.0.1", username=user, password=PasswordSource("env", "PW"))


def fast(*, forks: int = 64, timeout: float = 60.0, retries: int = 1) -> FanoutOptions:
    """Threads of this process, no backoff: nothing but the fan-out's own logic is timed."""
    return FanoutOptions(forks=forks, timeout=timeout, retries=retries, backoff=0, processes=1)


class Flaky:
    """Fails ``failures`` times with ``error`` (raised as a transport error), then answers."""

    def __init__(self, error: HostError, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    def __call__(self, h: Host, deadline: float) -> Answer:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransportError(self.error, transport="lean")
        return Answer(h.name, value=self.calls)


def test_results_are_the_callers_type_in_inventory_order_and_hooks_see_that_type() -> None:
    seen: list[Answer] = []
    started: list[str] = []
    done: list[tuple[Sequence[Answer], bool]] = []

    def task(h: Host, deadline: float) -> Answer:
        time.sleep(0.05 if h.name == "a" else 0.0)  # "a" finishes last
        return Answer(h.name, value=len(h.name))

    hooks = Hooks[Answer](
        on_start=lambda h: started.append(h.name),
        on_result=seen.append,
        on_done=lambda results, interrupted: done.append((results, interrupted)),
    )
    hosts = [host(n, user=n) for n in ("a", "bb", "ccc")]  # own credentials: all start at once
    results, interrupted = run_hosts(hosts, task, fail=answer_failure, options=fast(), hooks=hooks)
    assert not interrupted
    assert results == [Answer("a", 1), Answer("bb", 2), Answer("ccc", 3)]
    assert sorted(started) == ["a", "bb", "ccc"]
    assert sorted(a.name for a in seen) == ["a", "bb", "ccc"] and seen[-1].name == "a"
    assert done == [(results, False)]


def test_a_failure_before_anything_was_sent_is_retried_and_the_answer_kept() -> None:
    task = Flaky(HostError(ErrorKind.UNREACHABLE, "refused", sent=False), failures=2)
    (result,), _ = run_hosts([host("a")], task, fail=answer_failure, options=fast(retries=2))
    assert task.calls == 3
    assert result == Answer("a", value=3)


@pytest.mark.parametrize("kind", [ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT])
def test_nothing_is_retried_once_something_may_have_been_sent(kind: ErrorKind) -> None:
    task = Flaky(HostError(kind, "mid-pipeline", sent=True), failures=1)
    (result,), _ = run_hosts([host("a")], task, fail=answer_failure, options=fast(retries=3))
    assert task.calls == 1
    assert result.value is None and result.error is not None and result.error.kind is kind
    assert result.details == (("transport", "lean"), ("transport_fallback", "None"))  # the client that failed


def test_a_failed_logon_is_never_retried_and_the_credentials_other_hosts_are_not_attempted() -> None:
    task = Flaky(HostError(ErrorKind.AUTH_FAILED, "credentials rejected", sent=False), failures=99)
    hosts = [host(f"h{i}") for i in range(6)]
    results, _ = run_hosts(hosts, task, fail=answer_failure, options=fast(retries=5, forks=1))
    assert task.calls == 1  # one failed logon: no retry, no second host
    kinds = [r.error.kind for r in results if r.error is not None]
    assert kinds == [ErrorKind.AUTH_FAILED] + [ErrorKind.NOT_ATTEMPTED] * 5


def test_an_auth_failure_the_task_returns_counts_for_the_lockout_guard_too() -> None:
    calls: list[str] = []

    def task(h: Host, deadline: float) -> Answer:
        calls.append(h.name)
        return Answer(h.name, error=HostError(ErrorKind.AUTH_FAILED, "rejected", sent=False))

    results, _ = run_hosts(
        [host("a"), host("b"), host("c")], task, fail=answer_failure, options=fast(forks=1)
    )
    assert calls == ["a"]
    assert [r.error.kind for r in results if r.error] == [ErrorKind.AUTH_FAILED] + [
        ErrorKind.NOT_ATTEMPTED
    ] * 2


def test_a_host_past_its_deadline_becomes_the_callers_timeout_and_its_late_answer_is_dropped() -> None:
    release = threading.Event()

    def task(h: Host, deadline: float) -> Answer:
        if h.name == "stuck":
            release.wait(10)
        return Answer(h.name, value=1)

    try:
        started = time.monotonic()
        results, interrupted = run_hosts(
            [host("ok"), host("stuck")], task, fail=answer_failure, options=fast(timeout=0.3)
        )
        took = time.monotonic() - started
    finally:
        release.set()
    ok, stuck = results
    assert not interrupted and ok == Answer("ok", value=1)
    assert stuck.value is None and stuck.error is not None
    assert stuck.error.kind is ErrorKind.TIMEOUT and stuck.error.sent is True
    assert "0.3s deadline" in stuck.error.message
    assert took < 5  # reported at the deadline, not when the task gave up (10 s)


def test_ctrl_c_keeps_finished_results_and_marks_running_and_waiting_hosts() -> None:
    slow_go = threading.Event()
    stuck_go = threading.Event()
    done: list[bool] = []

    def task(h: Host, deadline: float) -> Answer:
        if h.name == "slow":
            slow_go.wait(10)
        elif h.name == "stuck":
            stuck_go.wait(10)
        return Answer(h.name, value=1)

    def on_result(result: Answer) -> None:
        if result.name == "fast":
            threading.Timer(0.2, slow_go.set).start()  # finishes within the grace period
            raise KeyboardInterrupt

    hooks = Hooks[Answer](on_result=on_result, on_done=lambda _results, interrupted: done.append(interrupted))
    hosts = [host(n, user=n) for n in ("fast", "slow", "stuck", "later1", "later2")]
    try:
        results, interrupted = run_hosts(
            hosts, task, fail=answer_failure, options=fast(forks=3, timeout=60), hooks=hooks
        )
    finally:
        slow_go.set()
        stuck_go.set()
    assert interrupted and done == [True]
    by_name = {r.name: r for r in results}
    assert [r.name for r in results] == [h.name for h in hosts]
    assert by_name["fast"] == Answer("fast", value=1)
    assert by_name["slow"] == Answer("slow", value=1)
    stuck = by_name["stuck"].error
    assert stuck is not None and stuck.message == "interrupted while running" and stuck.sent is True
    for name in ("later1", "later2"):
        error = by_name[name].error
        assert error is not None and error.message == "not run: interrupted" and error.sent is False


def test_failures_in_worker_processes_become_the_callers_type() -> None:
    # ``dict`` is a task that pickles and fails on every host (TypeError): the worker turns
    # it into a run result with the caller's function, which travelled with the task.
    hosts = [host(f"h{i}", user=f"u{i}") for i in range(4)]
    results, _ = run_hosts(
        hosts, dict, fail=run_failure, options=FanoutOptions(processes=2, retries=0, timeout=60)
    )
    assert [r.name for r in results] == [h.name for h in hosts]
    for r in results:
        assert isinstance(r, HostRunResult) and r.status is RunStatus.ERROR
        assert r.error is not None and "internal error: TypeError" in r.error.message


def test_a_dead_worker_process_costs_its_hosts_the_callers_error_not_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[executors.ProcessExecutor[HostRunResult]] = []

    class Recorded(executors.ProcessExecutor[HostRunResult]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(executors, "ProcessExecutor", Recorded)
    killed: list[int] = []

    def kill_workers(_host: Host) -> None:
        for ex in started:  # the started worker and the one it forked
            pid = ex._proc.pid
            if ex._proc.poll() is not None:
                continue
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for worker in map(int, children):
                os.kill(worker, signal.SIGKILL)
                killed.append(worker)
            ex._proc.kill()
            ex._proc.wait(10)
            killed.append(pid)

    hosts = [host(f"h{i}", user=f"u{i}") for i in range(3)]
    results, interrupted = run_hosts(
        hosts,
        dict,
        fail=run_failure,
        options=FanoutOptions(processes=2, retries=0, timeout=60),
        hooks=Hooks[HostRunResult](on_start=kill_workers),
    )
    assert len(killed) == 2 and not interrupted
    assert [r.name for r in results] == [h.name for h in hosts]
    for r in results:
        assert isinstance(r, HostRunResult) and r.status is RunStatus.ERROR
        assert r.error is not None and r.error.message == "internal error: the worker process exited"
