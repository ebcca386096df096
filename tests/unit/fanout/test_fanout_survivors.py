"""What the fan-out's callers see where session 4's mutation sample of toolkit/fanout left
mutants alive: the not-attempted message and the credential gate's pacing, the durations a
failure reports, worker processes that end with the run (told to stop, stopped by force when
they hang, their exit status saying whether a forked one died), and a run whose hung host
does not keep psfleet from exiting."""

from __future__ import annotations

import gc
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from tests.unit.fanout.helpers import FakeClock, children_of, collect
from toolkit.fanout import executors, lockout, runner, worker
from toolkit.fanout.executors import ProcessExecutor
from toolkit.fanout.lockout import CredentialGate
from toolkit.fanout.runner import FanoutOptions, audit_failure, failed_result, run_hosts
from toolkit.fanout.task import Failure
from toolkit.inventory.model import Host, PasswordSource
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus
from toolkit.transport.protocol import TransportError


def env_host(name: str) -> Host:
    return Host(name=name, address="127.0.0.1", username="admin", password=PasswordSource("env", "PW"))


def refused(name: str) -> HostResult:
    error = HostError(ErrorKind.AUTH_FAILED, "logon failure", False)
    return HostResult(name, "127.0.0.1", HostStatus.AUTH_FAILED, error=error)


def unreachable(name: str) -> HostResult:
    error = HostError(ErrorKind.UNREACHABLE, "refused", False)
    return HostResult(name, "127.0.0.1", HostStatus.UNREACHABLE, error=error)


# -- the credential gate -------------------------------------------------------------------


def test_the_not_attempted_message_names_the_password_variable_and_the_first_three_hosts() -> None:
    gate = CredentialGate(limit=4)
    for name in ("fs01", "fs02", "fs03", "fs04"):
        gate.started(env_host(name))
        gate.finished(env_host(name), refused(name))
    error = gate.refusal(env_host("fs05"))
    assert error is not None and error.kind is ErrorKind.NOT_ATTEMPTED
    assert "the credential admin (password_env PW) failed to log on to fs01, fs02, fs03 ...;" in error.message
    assert error.sent is False  # nothing went to the host: safe to run again


@pytest.mark.parametrize(
    ("username", "source", "named"),
    [
        ("admin", PasswordSource("keyring", "psfleet"), "admin (password_keyring)"),
        ("admin", PasswordSource("file", "/run/secrets/pw"), "admin (password_file)"),
        ("admin", PasswordSource("prompt"), "admin"),
        (None, PasswordSource("prompt"), "the default user"),
    ],
)
def test_the_not_attempted_message_names_the_credential_by_where_its_password_comes_from(
    username: str | None, source: PasswordSource, named: str
) -> None:
    def with_credential(name: str) -> Host:
        return Host(name=name, address="127.0.0.1", username=username, password=source)

    gate = CredentialGate()
    gate.started(with_credential("fs01"))
    gate.finished(with_credential("fs01"), refused("fs01"))
    error = gate.refusal(with_credential("fs02"))
    assert error is not None
    assert f"the credential {named} failed to log on to fs01;" in error.message


def test_three_refusing_hosts_are_all_named_without_an_ellipsis() -> None:
    gate = CredentialGate(limit=3)
    for name in ("fs01", "fs02", "fs03"):
        gate.started(env_host(name))
        gate.finished(env_host(name), refused(name))
    error = gate.refusal(env_host("fs04"))
    assert error is not None
    assert "failed to log on to fs01, fs02, fs03; psfleet stopped using it" in error.message


def test_a_refused_credential_not_yet_given_up_goes_to_one_host_at_a_time() -> None:
    gate = CredentialGate(limit=2, probes=2, patience=0.0)
    gate.started(env_host("fs01"))
    gate.finished(env_host("fs01"), refused("fs01"))
    assert gate.refusal(env_host("fs02")) is None and gate.may_start(env_host("fs02"))
    gate.started(env_host("fs02"))
    assert not gate.may_start(env_host("fs03"))  # fs02 still running: fs03 waits
    gate.finished(env_host("fs02"), unreachable("fs02"))
    assert gate.may_start(env_host("fs03"))


def test_a_finished_probe_frees_one_slot_not_two() -> None:
    gate = CredentialGate(probes=2, patience=3600.0)
    gate.started(env_host("fs01"))
    gate.started(env_host("fs02"))
    gate.finished(env_host("fs01"), unreachable("fs01"))
    # fs02 still runs with the unproven credential: the next host waits for its patience
    assert not gate.may_start(env_host("fs03"))
    gate.finished(env_host("fs02"), unreachable("fs02"))
    assert gate.may_start(env_host("fs03"))


def test_a_slow_first_host_shares_the_credential_after_exactly_its_patience_and_with_one_host_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(lockout, "time", SimpleNamespace(monotonic=lambda: now[0]))
    gate = CredentialGate(probes=2, patience=1.0)
    gate.started(env_host("fs01"))
    now[0] += 0.5
    assert not gate.may_start(env_host("fs02"))
    now[0] += 0.5  # fs01 has been silent for exactly the patience
    assert gate.may_start(env_host("fs02"))
    gate.started(env_host("fs02"))
    now[0] += 60.0
    assert not gate.may_start(env_host("fs03"))  # two hosts hold the unproven credential: enough


# -- durations -----------------------------------------------------------------------------


def test_a_failed_result_made_without_a_duration_says_zero_seconds() -> None:
    result = failed_result(env_host("fs01"), HostError(ErrorKind.UNREACHABLE, "refused", False))
    assert result.duration_s == 0.0 and result.status is HostStatus.UNREACHABLE


def test_a_transport_failure_reports_how_long_the_host_took(clock: FakeClock) -> None:
    def slow_refusal(host: Host, deadline: float) -> HostResult:
        clock.advance(7.0)
        raise TransportError(HostError(ErrorKind.ACCESS_DENIED, "access denied", True))

    (result,), _ = run_hosts([env_host("fs01")], slow_refusal, options=FanoutOptions(processes=1))
    assert result.status is HostStatus.ACCESS_DENIED and result.duration_s == 7.0


def test_a_host_past_its_deadline_reports_the_deadline_as_its_duration(clock: FakeClock) -> None:
    release = threading.Event()

    def hangs(host: Host, deadline: float) -> HostResult:
        clock.advance(5.5)
        release.wait(10)
        return HostResult(host.name, host.address, HostStatus.COMPLIANT)

    try:
        (result,), _ = run_hosts([env_host("fs01")], hangs, options=FanoutOptions(timeout=5, processes=1))
    finally:
        release.set()
    assert result.status is HostStatus.TIMEOUT and result.duration_s == 5.5


def test_a_host_not_attempted_reports_no_time_spent() -> None:
    failures: list[Failure] = []

    def logon_fails(host: Host, deadline: float) -> HostResult:
        raise TransportError(HostError(ErrorKind.AUTH_FAILED, "logon failure", False))

    def fail(failure: Failure) -> HostResult:
        failures.append(failure)
        return audit_failure(failure)

    hosts = [env_host("fs01"), env_host("fs02")]
    results, _ = run_hosts(hosts, logon_fails, fail=fail, options=FanoutOptions(forks=1, processes=1))
    assert [r.status for r in results] == [HostStatus.AUTH_FAILED, HostStatus.NOT_ATTEMPTED]
    assert failures[1].error.kind is ErrorKind.NOT_ATTEMPTED and failures[1].duration_s == 0.0


# -- how many worker processes -------------------------------------------------------------


def travelling_fail(failure: Failure) -> str:
    return failure.error.message


def test_two_cores_give_two_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 2)
    hosts = [env_host(f"h{i}") for i in range(200)]
    assert runner._processes_for(hosts, dict, travelling_fail, FanoutOptions()) == 2


def test_a_task_that_cannot_travel_runs_on_threads_even_when_two_processes_are_asked_for() -> None:
    results, interrupted = run_hosts(
        [env_host("fs01"), env_host("fs02")],
        lambda host, deadline: host.name,  # type: ignore[arg-type,return-value]
        fail=travelling_fail,
        options=FanoutOptions(processes=2),
        gate=CredentialGate(enabled=False),
    )
    assert results == ["fs01", "fs02"] and not interrupted


# -- worker processes ----------------------------------------------------------------------

HOSTS = [Host(name=f"fs0{i}", address=f"192.0.2.{i}") for i in range(1, 4)]


def exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_worker_processes_have_ended_when_run_hosts_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []
    real_popen = executors.subprocess.Popen

    def recording_popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        started.append(proc)
        return proc  # type: ignore[no-any-return]

    monkeypatch.setattr(executors.subprocess, "Popen", recording_popen)
    results, interrupted = run_hosts(HOSTS, dict, options=FanoutOptions(processes=2, retries=0))  # type: ignore[arg-type]
    assert [r.name for r in results] == [h.name for h in HOSTS] and not interrupted
    assert all(r.error is not None and "internal error: TypeError" in r.error.message for r in results)
    (proc,) = started
    assert proc.poll() == 0  # told to stop and gone (with the worker it forked), not left running


def test_the_forked_workers_are_gone_once_the_executor_is_closed() -> None:
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 3, fail=audit_failure)
    try:
        forked = children_of(ex._proc.pid)
        assert len(forked) == 2
    finally:
        ex.close()
    assert ex._proc.returncode == 0
    assert not [pid for pid in forked if exists(pid)]  # waited for, not orphaned


def test_a_killed_forked_worker_is_noticed_and_the_run_goes_on_without_it() -> None:
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 2, fail=audit_failure)
    try:
        first, second = ex._workers
        (forked,) = children_of(ex._proc.pid)
        os.kill(forked, signal.SIGKILL)
        limit = time.monotonic() + 10
        while second.alive and time.monotonic() < limit:
            ex.wait(0.2)
        assert not second.alive and first.alive  # its pipe ended: nothing else held it open
        for index, host in enumerate(HOSTS):
            ex.submit(index, host, time.monotonic() + 60)
        results = collect(ex, len(HOSTS), within=20)
    finally:
        ex.close()
    assert sorted(results) == [0, 1, 2]
    for result in results.values():
        assert result.error is not None and "internal error: TypeError" in result.error.message
    assert ex._proc.returncode == 1  # the started worker says one it forked did not end cleanly


def test_a_host_whose_worker_died_may_have_been_sent() -> None:
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS, 1, fail=audit_failure)
    try:
        ex._proc.kill()
        ex._proc.wait(10)
        ex.submit(0, HOSTS[0], time.monotonic() + 60)
        results = collect(ex, 1, within=10)
    finally:
        ex.close()
    error = results[0].error
    assert error is not None and error.message == "internal error: the worker process exited"
    assert error.sent is True


def test_a_worker_that_hangs_is_killed_when_the_executor_closes() -> None:
    ex = ProcessExecutor(dict, FanoutOptions(retries=0), HOSTS[:1], 1, fail=audit_failure)
    os.kill(ex._proc.pid, signal.SIGSTOP)
    try:
        ex.close()  # does not raise, does not wait for ever
        code = ex._proc.returncode  # and leaves no process behind (killed, reaped)
    finally:
        if ex._proc.poll() is None:
            ex._proc.kill()
            ex._proc.wait(10)
    assert code == -signal.SIGKILL


def test_a_worker_whose_parent_went_away_before_the_task_came_exits_1() -> None:
    jobs_r, jobs_w = os.pipe()
    results_r, results_w = os.pipe()
    os.close(jobs_w)  # the parent is gone: the task never comes
    previous = signal.getsignal(signal.SIGINT)
    try:
        code = worker.main([str(jobs_r), str(results_w)])
    finally:
        signal.signal(signal.SIGINT, previous)
        os.close(results_r)
    assert code == 1


def test_a_forked_worker_that_cannot_report_to_the_parent_exits_1() -> None:
    pairs = [(*os.pipe(), *os.pipe()) for _ in range(2)]  # jobs r/w, results r/w
    pipes = [
        (
            multiprocessing.connection.Connection(jobs_r, writable=False),
            multiprocessing.connection.Connection(results_w, readable=False),
        )
        for jobs_r, _, _, results_w in pairs
    ]
    os.close(pairs[1][2])  # the parent no longer reads the forked worker's results
    try:
        (pid,) = worker.fork_workers(pipes, (dict, audit_failure, FanoutOptions()))
    finally:
        gc.unfreeze()
        for conn in pipes[0]:
            conn.close()
        for pair in pairs:
            os.close(pair[1])  # the jobs pipes' write ends
        os.close(pairs[0][2])
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1


# -- threads -------------------------------------------------------------------------------

_HUNG_RUN = """\
import threading
from toolkit.fanout.runner import FanoutOptions, run_hosts
from toolkit.inventory.model import Host

def hangs(host, deadline):
    threading.Event().wait()  # a host that never answers

(result,), _ = run_hosts([Host(name="fs01", address="192.0.2.1")], hangs,
                         options=FanoutOptions(timeout=0.2, processes=1))
print(result.status.value)
"""


def test_a_host_that_never_answers_does_not_keep_psfleet_from_exiting() -> None:
    root = executors.package_root()
    done = subprocess.run(
        [sys.executable, "-c", _HUNG_RUN], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timeout"
