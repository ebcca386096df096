"""FanoutOptions and CredentialGate refuse values that cannot describe a run when they are made
(the library's callers have no Typer bounds in front of them), with a UsageError naming the
field and the value."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from toolkit.errors import UsageError
from toolkit.fanout.lockout import CredentialGate
from toolkit.fanout.runner import run_hosts
from toolkit.fanout.task import FanoutOptions
from toolkit.inventory.model import Host


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"forks": 0}, "forks must be a whole number of at least 1, not 0"),
        ({"forks": -3}, "forks must be a whole number of at least 1, not -3"),
        ({"forks": True}, "forks must be a whole number of at least 1, not True"),
        ({"forks": 2.5}, "forks must be a whole number of at least 1, not 2.5"),
        ({"timeout": 0}, "timeout must be a finite number of seconds, more than 0, not 0"),
        ({"timeout": -1.5}, "timeout must be a finite number of seconds, more than 0, not -1.5"),
        ({"timeout": float("nan")}, "timeout must be a finite number of seconds, more than 0, not nan"),
        ({"timeout": float("inf")}, "timeout must be a finite number of seconds, more than 0, not inf"),
        ({"retries": -1}, "retries must be a whole number of at least 0, not -1"),
        ({"backoff": -0.1}, "backoff must be a finite number of seconds, at least 0, not -0.1"),
        ({"backoff": float("nan")}, "backoff must be a finite number of seconds, at least 0, not nan"),
        ({"processes": 0}, "processes must be a whole number of at least 1, not 0"),
    ],
)
def test_options_that_describe_no_run_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        FanoutOptions(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


@dataclass(frozen=True)
class Ran:
    name: str
    error: None = None  # the credential gate reads a result's error


def _name_of(host: Host, deadline: float) -> Ran:
    return Ran(host.name)


def test_the_smallest_options_run_every_host() -> None:
    options = FanoutOptions(forks=1, timeout=30.0, retries=0, backoff=0.0, processes=1)
    hosts = [Host(name, "127.0.0.1") for name in ("fs01", "fs02", "fs03")]
    results, interrupted = run_hosts(hosts, _name_of, fail=lambda failure: Ran("failed"), options=options)
    assert ([r.name for r in results], interrupted) == (["fs01", "fs02", "fs03"], False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probes": 0}, "probes must be a whole number of at least 1, not 0"),
        ({"limit": 0}, "limit must be a whole number of at least 1, not 0"),
        ({"patience": -1.0}, "patience must be a finite number of seconds, at least 0, not -1.0"),
        ({"patience": float("nan")}, "patience must be a finite number of seconds, at least 0, not nan"),
    ],
)
def test_a_credential_gate_that_would_hold_every_host_back_is_refused(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        CredentialGate(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message
