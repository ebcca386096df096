"""The fan-out's choices pinned where session 4's mutation run of toolkit/fanout found them
unpinned: how many worker processes a run gets (one per core from 200 hosts, never more than
hosts or --forks, one when the task cannot travel), and what a task that raises leaves in its
failure (a 300-character message, marked as possibly sent, its duration)."""

from __future__ import annotations

import pytest

from toolkit.fanout import runner as runner_module
from toolkit.fanout.runner import run_hosts
from toolkit.fanout.task import Failure, FanoutOptions
from toolkit.inventory.model import Host
from toolkit.results import HostResult


def travelling_task(host: Host, deadline: float) -> str:
    return host.name


def travelling_fail(failure: Failure) -> str:
    return failure.error.message


def hosts(n: int) -> list[Host]:
    return [Host(name=f"h{i}", address=f"10.0.{i // 250}.{i % 250}") for i in range(n)]


@pytest.mark.parametrize(
    ("count", "cores", "processes", "forks", "wanted"),
    [
        (200, 4, None, 64, 4),  # one per core from 200 hosts
        (199, 4, None, 64, 1),
        (200, 1, None, 64, 1),
        (200, None, None, 64, 1),  # the core count unknown: one
        (200, 4, None, 3, 3),  # never more than --forks
        (2, 4, 8, 64, 2),  # nor than hosts
        (0, 4, 8, 64, 1),  # at least one
        (5, 4, 3, 64, 3),
    ],
)
def test_how_many_worker_processes_a_run_gets(
    monkeypatch: pytest.MonkeyPatch,
    count: int,
    cores: int | None,
    processes: int | None,
    forks: int,
    wanted: int,
) -> None:
    monkeypatch.setattr(runner_module.os, "cpu_count", lambda: cores)
    options = FanoutOptions(forks=forks, processes=processes)
    assert runner_module._processes_for(hosts(count), travelling_task, travelling_fail, options) == wanted


def test_a_task_that_cannot_travel_runs_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module.os, "cpu_count", lambda: 4)
    options = FanoutOptions(forks=64, processes=4)
    assert runner_module._processes_for(hosts(300), lambda h, d: h.name, travelling_fail, options) == 1


def test_a_task_that_raises_leaves_a_300_character_error_marked_as_maybe_sent() -> None:
    failures: list[Failure] = []

    def broken(host: Host, deadline: float) -> HostResult:
        raise ValueError("x" * 500)

    def fail(failure: Failure) -> HostResult:
        failures.append(failure)
        return runner_module.failed_result(failure.host, failure.error, duration=failure.duration_s)

    options = FanoutOptions(forks=1, retries=0, processes=1)
    results, _ = run_hosts(hosts(1), broken, fail=fail, options=options)
    assert [r.name for r in results] == ["h0"]
    (failure,) = failures
    assert failure.error.message == ("internal error: ValueError: " + "x" * 500)[:300]
    assert len(failure.error.message) == 300 and failure.error.sent is True
    assert 0 <= failure.duration_s < 3600
