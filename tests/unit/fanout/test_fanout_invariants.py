"""The fan-out's safety rules with fake tasks and a fake clock (no lab, no real waiting):
a host's deadline is ``--timeout`` from its start, a deadline counts as "sent", a host is retried
only when nothing was sent and never after a failed logon, exactly ``--retries`` times, and a
backoff never carries an attempt past the host's deadline."""

from __future__ import annotations

import threading

import pytest

from tests.unit.fanout.helpers import FakeClock
from toolkit.fanout import runner
from toolkit.fanout.runner import FanoutOptions, run_hosts
from toolkit.inventory.model import Host, PasswordSource
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus
from toolkit.transport.protocol import TransportError


class Failing:
    """A task that fails every attempt with one error, recording when each attempt started
    and the deadline it was given."""

    def __init__(self, clock: FakeClock, kind: ErrorKind, *, sent: bool) -> None:
        self.clock = clock
        self.error = HostError(kind, f"{kind.value} for the test", sent)
        self.calls: list[tuple[float, float]] = []  # (started at, deadline)

    def __call__(self, host: Host, deadline: float) -> HostResult:
        self.calls.append((self.clock.monotonic(), deadline))
        raise TransportError(self.error)


def host(name: str = "fs01") -> Host:
    return Host(name=name, address="127.0.0.1", username="admin", password=PasswordSource("env", "PW"))


def run_one(task: object, **options: float) -> HostResult:
    (result,), interrupted = run_hosts([host()], task, options=FanoutOptions(**options))  # type: ignore[arg-type]
    assert not interrupted
    return result


@pytest.mark.parametrize("kind", [ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT])
@pytest.mark.parametrize("retries", [0, 1, 3])
def test_a_failure_before_anything_was_sent_is_retried_exactly_retries_times(
    clock: FakeClock, kind: ErrorKind, retries: int
) -> None:
    task = Failing(clock, kind, sent=False)
    result = run_one(task, retries=retries, backoff=0.5, timeout=3600)
    assert len(task.calls) == retries + 1
    assert result.status is HostStatus.from_error(kind)
    assert result.error is not None and result.error.sent is False


@pytest.mark.parametrize("kind", [ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT, ErrorKind.PROTOCOL_ERROR])
def test_nothing_is_retried_once_a_pipeline_may_have_been_sent(clock: FakeClock, kind: ErrorKind) -> None:
    task = Failing(clock, kind, sent=True)
    result = run_one(task, retries=5, backoff=0.5, timeout=3600)
    assert len(task.calls) == 1
    assert result.error is not None and result.error.sent is True


@pytest.mark.parametrize("kind", [ErrorKind.AUTH_FAILED, ErrorKind.ACCESS_DENIED, ErrorKind.PROTOCOL_ERROR])
def test_failed_logons_and_other_kinds_are_never_retried(clock: FakeClock, kind: ErrorKind) -> None:
    task = Failing(clock, kind, sent=False)
    result = run_one(task, retries=5, backoff=0.5, timeout=3600)
    assert len(task.calls) == 1
    assert result.status is HostStatus.from_error(kind)


def test_backoff_doubles_and_never_runs_past_the_deadline(clock: FakeClock) -> None:
    task = Failing(clock, ErrorKind.UNREACHABLE, sent=False)
    # attempts at 0 and 4; the next wait (8 s) would end at 12 s, past the 10 s deadline
    result = run_one(task, retries=5, backoff=4, timeout=10)
    starts = [start for start, _ in task.calls]
    deadline = task.calls[0][1]
    assert starts == [1000.0, 1004.0]
    assert all(start < deadline for start in starts)
    assert sum(clock.slept) < 10
    assert result.status is HostStatus.UNREACHABLE


def test_a_backoff_that_ends_exactly_at_the_deadline_is_not_taken(clock: FakeClock) -> None:
    """Attempts at 0 and 4 s; the next wait (8 s) would start an attempt at 12 s, exactly the
    deadline, with no time left to run: the host fails at 4 s instead."""
    task = Failing(clock, ErrorKind.UNREACHABLE, sent=False)
    result = run_one(task, retries=5, backoff=4, timeout=12)
    assert [start for start, _ in task.calls] == [1000.0, 1004.0]
    assert clock.slept == [4]
    assert result.status is HostStatus.UNREACHABLE


def test_backoff_waits_grow_as_powers_of_two(clock: FakeClock) -> None:
    task = Failing(clock, ErrorKind.TIMEOUT, sent=False)
    run_one(task, retries=3, backoff=0.5, timeout=3600)
    assert clock.slept == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("timeout", [1.0, 7.0, 60.0])
def test_a_host_gets_exactly_timeout_seconds_from_its_start(clock: FakeClock, timeout: float) -> None:
    seen: list[tuple[float, float]] = []

    def task(h: Host, deadline: float) -> HostResult:
        seen.append((clock.monotonic(), deadline))
        return HostResult(h.name, h.address, HostStatus.COMPLIANT)

    result = run_one(task, timeout=timeout)
    assert result.status is HostStatus.COMPLIANT
    ((started, deadline),) = seen
    assert deadline - started == pytest.approx(timeout)


def test_a_host_past_its_deadline_is_reported_at_the_deadline_as_sent(clock: FakeClock) -> None:
    release = threading.Event()

    def task(h: Host, deadline: float) -> HostResult:
        clock.advance(5.5)  # the host takes longer than --timeout 5, not longer than 2x
        release.wait(10)
        return HostResult(h.name, h.address, HostStatus.COMPLIANT)

    try:
        result = run_one(task, timeout=5)
    finally:
        release.set()
    assert result.status is HostStatus.TIMEOUT
    assert result.error is not None and result.error.kind is ErrorKind.TIMEOUT
    assert "5s deadline" in result.error.message
    # A host abandoned at its deadline may have received its pipeline: never "nothing sent".
    assert result.error.sent is True


def test_an_internal_error_in_a_task_is_one_host_error_not_a_crash(clock: FakeClock) -> None:
    def task(h: Host, deadline: float) -> HostResult:
        raise KeyError("boom")

    result = run_one(task, retries=3)
    assert result.status is HostStatus.ERROR
    assert result.error is not None and "internal error: KeyError" in result.error.message


def test_a_run_stopped_before_it_starts_reports_every_host_not_run_and_not_sent(clock: FakeClock) -> None:
    calls: list[str] = []

    def task(h: Host, deadline: float) -> HostResult:
        calls.append(h.name)
        return HostResult(h.name, h.address, HostStatus.COMPLIANT)

    stop = threading.Event()
    stop.set()
    hosts = [host("fs01"), host("fs02")]
    results, interrupted = run_hosts(hosts, task, options=FanoutOptions(), stop=stop)
    assert interrupted and calls == []
    assert [r.name for r in results] == ["fs01", "fs02"]
    for r in results:
        assert r.status is HostStatus.ERROR
        assert r.error is not None and r.error.message == "not run: interrupted" and r.error.sent is False


def test_hooks_see_each_host_start_once_and_finish_once(clock: FakeClock) -> None:
    started: list[str] = []
    finished: list[str] = []

    def task(h: Host, deadline: float) -> HostResult:
        return HostResult(h.name, h.address, HostStatus.COMPLIANT)

    hosts = [host(f"fs0{i}") for i in range(1, 4)]
    run_hosts(
        hosts,
        task,
        options=FanoutOptions(forks=1),
        hooks=runner.FanoutHooks(
            on_start=lambda h: started.append(h.name), on_result=lambda r: finished.append(r.name)
        ),
    )
    assert started == ["fs01", "fs02", "fs03"] and sorted(finished) == started


def test_a_host_is_timed_out_at_its_deadline_not_after_it(clock: FakeClock) -> None:
    release = threading.Event()

    def task(h: Host, deadline: float) -> HostResult:
        clock.advance(deadline - clock.monotonic())  # exactly at the deadline
        release.wait(3)
        return HostResult(h.name, h.address, HostStatus.COMPLIANT)

    try:
        result = run_one(task, timeout=5)
    finally:
        release.set()
    assert result.status is HostStatus.TIMEOUT


def test_documented_defaults() -> None:
    """The library's defaults (--timeout 60 --retries 1 as in the README), one failed logon per
    credential before its other hosts are not_attempted, at most two hosts tried at once with a
    credential that has not logged on yet (docs/security.md)."""
    from toolkit.fanout.lockout import AUTH_FAILURE_LIMIT, PROBE_HOSTS

    options = FanoutOptions()
    assert (options.forks, options.timeout, options.retries, options.backoff) == (64, 60.0, 1, 0.5)
    assert (AUTH_FAILURE_LIMIT, PROBE_HOSTS) == (1, 2)
