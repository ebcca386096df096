"""The fan-out's credential gate (toolkit.fanout.lockout) with a task that plays the hosts:
how many logons a failing credential may cost, and that working credentials are not held back."""

from __future__ import annotations

import threading
import time

from toolkit.fanout.lockout import AUTH_FAILURE_LIMIT, CredentialGate
from toolkit.fanout.runner import FanoutOptions, run_hosts
from toolkit.inventory.model import Host, PasswordSource
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus
from toolkit.transport.pypsrp_session import TransportError


class FakeFleet:
    """Hosts whose names say what happens: ``bad-*`` refuse the logon, ``down-*`` are
    unreachable, ``denied-*`` log on but deny access, ``slow-*`` answer after 1.5 s, anything
    else answers at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logons: dict[str, int] = {}
        self.in_flight = 0
        self.peak = 0
        self.calls: dict[str, int] = {}

    def __call__(self, host: Host, deadline: float) -> HostResult:
        with self.lock:
            self.calls[host.name] = self.calls.get(host.name, 0) + 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(1.5 if host.name.startswith("slow-") else 0.01)
            if host.name.startswith("down-"):
                raise TransportError(HostError(ErrorKind.UNREACHABLE, "refused", sent=False))
            with self.lock:
                self.logons[host.username or ""] = self.logons.get(host.username or "", 0) + 1
            if "bad-" in host.name:
                raise TransportError(HostError(ErrorKind.AUTH_FAILED, "credentials rejected", sent=False))
            if host.name.startswith("denied-"):
                raise TransportError(HostError(ErrorKind.ACCESS_DENIED, "access is denied"))
            return HostResult(host.name, host.address, HostStatus.COMPLIANT)
        finally:
            with self.lock:
                self.in_flight -= 1


def host(name: str, user: str = "admin", env: str = "PW") -> Host:
    return Host(name=name, address="127.0.0.1", username=user, password=PasswordSource("env", env))


def statuses(results: list[HostResult]) -> list[str]:
    return [r.status.value for r in results]


def test_a_rejected_credential_costs_at_most_the_limit_and_the_rest_are_not_attempted() -> None:
    fleet = FakeFleet()
    hosts = [host(f"bad-{i}") for i in range(50)]
    results, interrupted = run_hosts(hosts, fleet, options=FanoutOptions(forks=64, retries=3, backoff=0))
    assert not interrupted
    assert fleet.logons["admin"] == AUTH_FAILURE_LIMIT
    assert statuses(results).count("auth_failed") == AUTH_FAILURE_LIMIT
    assert statuses(results).count("not_attempted") == 50 - AUTH_FAILURE_LIMIT
    skipped = results[-1]
    assert skipped.error is not None and skipped.error.kind is ErrorKind.NOT_ATTEMPTED
    assert "admin (password_env PW)" in skipped.error.message and "bad-0" in skipped.error.message
    assert [r.name for r in results] == [h.name for h in hosts]  # inventory order kept


def test_auth_failures_are_never_retried() -> None:
    fleet = FakeFleet()
    run_hosts([host("bad-1")], fleet, options=FanoutOptions(retries=5, backoff=0))
    assert fleet.calls == {"bad-1": 1}


def test_unreachable_hosts_are_retried_and_do_not_count_as_failed_logons() -> None:
    fleet = FakeFleet()
    hosts = [host(f"down-{i}") for i in range(5)] + [host(f"ok-{i}") for i in range(20)]
    results, _ = run_hosts(hosts, fleet, options=FanoutOptions(forks=64, retries=1, backoff=0))
    assert fleet.calls["down-0"] == 2
    assert statuses(results) == ["unreachable"] * 5 + ["compliant"] * 20


def test_an_unproven_credential_goes_to_few_hosts_at_once_then_to_all() -> None:
    fleet = FakeFleet()
    hosts = [host(f"ok-{i}") for i in range(40)]
    results, _ = run_hosts(hosts, fleet, options=FanoutOptions(forks=64))
    assert set(statuses(results)) == {"compliant"}
    assert fleet.peak > AUTH_FAILURE_LIMIT  # once proven, full concurrency


def test_access_denied_proves_the_logon() -> None:
    fleet = FakeFleet()
    hosts = [host("denied-0"), *(host(f"bad-{i}") for i in range(6))]
    results, _ = run_hosts(hosts, fleet, options=FanoutOptions(forks=1))
    # The credential logged on once: later failures are host-specific, not a lockout risk.
    assert statuses(results) == ["access_denied"] + ["auth_failed"] * 6


def test_each_credential_is_judged_on_its_own() -> None:
    fleet = FakeFleet()
    hosts = [host(f"bad-{i}", user="typo") for i in range(10)] + [
        host(f"ok-{i}", user="good") for i in range(10)
    ]
    results, _ = run_hosts(hosts, fleet, options=FanoutOptions(forks=64))
    assert statuses(results)[10:] == ["compliant"] * 10
    assert statuses(results)[:10].count("not_attempted") == 10 - AUTH_FAILURE_LIMIT
    assert fleet.logons["typo"] == AUTH_FAILURE_LIMIT


def test_a_shared_gate_counts_failures_across_batches() -> None:
    fleet = FakeFleet()
    gate = CredentialGate()
    for batch in range(3):
        run_hosts([host(f"bad-{batch}-{i}") for i in range(5)], fleet, gate=gate)
    assert fleet.logons["admin"] == AUTH_FAILURE_LIMIT


def test_hooks_see_not_attempted_hosts() -> None:
    from toolkit.fanout.runner import FanoutHooks

    seen: list[str] = []
    run_hosts(
        [host(f"bad-{i}") for i in range(5)],
        FakeFleet(),
        hooks=FanoutHooks(on_result=lambda r: seen.append(r.status.value)),
    )
    assert sorted(seen) == sorted(
        ["auth_failed"] * AUTH_FAILURE_LIMIT + ["not_attempted"] * (5 - AUTH_FAILURE_LIMIT)
    )


def test_an_unproven_credential_is_tried_on_one_host_at_a_time() -> None:
    fleet = FakeFleet()
    run_hosts([host(f"down-{i}") for i in range(6)], fleet, options=FanoutOptions(forks=64, retries=0))
    assert fleet.peak == 1


def test_a_disabled_gate_holds_nothing_back() -> None:
    """Tasks that send no credentials (the SMB probe) run at full concurrency from the start."""
    fleet = FakeFleet()
    results, _ = run_hosts(
        [host(f"bad-{i}") for i in range(6)],
        fleet,
        options=FanoutOptions(forks=64, retries=0),
        gate=CredentialGate(enabled=False),
    )
    assert fleet.peak > 1
    assert statuses(results) == ["auth_failed"] * 6


def test_a_slow_first_host_does_not_hold_the_run_back() -> None:
    """The first host of an unproven credential is slow: after PROBE_PATIENCE the next host
    gets the credential, logs on, and the rest run at once, finishing before the slow one."""
    from toolkit.fanout.runner import FanoutHooks

    finished: list[str] = []
    hosts = [host("slow-0"), *(host(f"ok-{i}") for i in range(5))]
    results, _ = run_hosts(
        hosts,
        FakeFleet(),
        options=FanoutOptions(forks=64),
        hooks=FanoutHooks(on_result=lambda r: finished.append(r.name)),
    )
    assert set(statuses(results)) == {"compliant"}
    assert finished[-1] == "slow-0"


def test_at_most_probe_hosts_refuse_a_credential_even_when_slow() -> None:
    from toolkit.fanout.lockout import PROBE_HOSTS

    fleet = FakeFleet()
    hosts = [host(f"slow-bad-{i}") for i in range(6)]
    results, _ = run_hosts(hosts, fleet, options=FanoutOptions(forks=64))
    assert fleet.logons["admin"] <= PROBE_HOSTS
    assert statuses(results).count("not_attempted") >= 6 - PROBE_HOSTS
