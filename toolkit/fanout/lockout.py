"""Keep one wrong password from locking an account out across the fleet.

Domain lockout thresholds count failed logons per account, not per host: with ``--forks 256``
a mistyped domain password would cost one failed logon per host within a second. The fan-out
therefore treats every distinct credential (username and password source, see
:func:`credential_key`) as unproven until it has logged on somewhere:

* an unproven credential is tried on one host first; only while that host is slow to answer
  (no result within :data:`PROBE_PATIENCE` seconds) does one more host get it, up to
  :data:`PROBE_HOSTS` hosts at once, so a slow or unreachable first host does not hold the
  whole run back;
* once a host answers after logging on (any result but ``auth_failed``, ``unreachable``,
  ``timeout``, ``protocol_error`` or ``error``), the credential is proven and its hosts run
  at full concurrency;
* after :data:`AUTH_FAILURE_LIMIT` authentication failure(s) without a single logon, no
  other host gets the credential: the hosts still waiting are reported ``not_attempted``,
  with the reason. At most ``PROBE_HOSTS`` hosts can have refused it by then.

Hosts that cannot be reached do not count: they free their slot for the next host.
Certificate authentication has no password to lock out and is never held back.
Not thread-safe: the dispatcher calls it from one thread.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, field

from toolkit.fanout.task import Outcome, require_count, require_seconds
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError

#: Hosts that may refuse one credential's logon before its other hosts are not attempted.
#: Windows' lockout thresholds are typically 5 to 10 failed logons per account (CIS: 5 or
#: fewer); one host costs one failed logon (two on the lean transport, which retries a
#: refused piggy-backed AUTHENTICATE once), which leaves room for the operator's next try.
AUTH_FAILURE_LIMIT = 1

#: Most hosts an unproven credential goes to at once (each may cost a failed logon).
PROBE_HOSTS = 2
#: Seconds without an answer from an unproven credential's host before the next one gets it.
PROBE_PATIENCE = 1.0

#: Results that prove the credential logged on (the host answered after authentication).
_PROVEN_KINDS = frozenset({ErrorKind.ACCESS_DENIED})


def credential_key(host: Host) -> Hashable | None:
    """Which hosts share a credential (and so a lockout counter); None: nothing to lock out."""
    if host.transport.auth == "certificate":
        return None
    user = host.username.lower() if host.username else None
    return (user, host.password.kind, host.password.ref)


def _describe(host: Host) -> str:
    who = host.username or "the default user"
    source = host.password
    if source.kind == "env":
        return f"{who} (password_env {source.ref})"
    if source.kind in ("keyring", "file"):
        return f"{who} (password_{source.kind})"
    return who


@dataclass
class _State:
    failures: list[str] = field(default_factory=list)
    in_flight: int = 0
    proven: bool = False
    last_start: float = 0.0


@dataclass
class CredentialGate:
    """Which hosts may start now, given what each credential did so far in this run.

    Pass the same gate to several :func:`toolkit.fanout.runner.run_hosts` calls (batches of
    one rollout) so that a credential's failures count across them.
    """

    limit: int = AUTH_FAILURE_LIMIT
    probes: int = PROBE_HOSTS
    patience: float = PROBE_PATIENCE
    #: False for tasks that send no credentials (the SMB probe): nothing is held back.
    enabled: bool = True
    _states: dict[Hashable, _State] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        # probes=0 would hold every host of an unproven credential back for ever (nothing
        # runs, nothing is refused): the run would end with every host "not run".
        require_count("limit", self.limit, 1)
        require_count("probes", self.probes, 1)
        require_seconds("patience", self.patience, positive=False)

    def _state(self, host: Host) -> _State | None:
        key = credential_key(host) if self.enabled else None
        if key is None:
            return None
        return self._states.setdefault(key, _State())

    def refusal(self, host: Host) -> HostError | None:
        """The ``not_attempted`` error for ``host`` once its credential is given up, else None."""
        state = self._state(host)
        if state is None or state.proven or len(state.failures) < self.limit:
            return None
        shown = ", ".join(state.failures[:3]) + (" ..." if len(state.failures) > 3 else "")
        return HostError(
            ErrorKind.NOT_ATTEMPTED,
            f"not attempted: the credential {_describe(host)} failed to log on to {shown}; "
            "psfleet stopped using it so that the account is not locked out (failed logons "
            "count per account). Fix the credential and run again",
            sent=False,
        )

    def may_start(self, host: Host) -> bool:
        state = self._state(host)
        if state is None or state.proven:
            return True
        if state.in_flight >= self.probes:
            return False
        if state.failures:  # refused somewhere but not given up (limit > 1): one host at a time
            return state.in_flight == 0
        return state.in_flight == 0 or time.monotonic() - state.last_start >= self.patience

    def started(self, host: Host) -> None:
        state = self._state(host)
        if state is not None:
            state.in_flight += 1
            state.last_start = time.monotonic()

    def finished(self, host: Host, result: Outcome) -> None:
        state = self._state(host)
        if state is None:
            return
        state.in_flight = max(0, state.in_flight - 1)
        error = result.error
        if error is None or error.kind in _PROVEN_KINDS:
            state.proven = True
        elif error.kind is ErrorKind.AUTH_FAILED:
            state.failures.append(host.name)
