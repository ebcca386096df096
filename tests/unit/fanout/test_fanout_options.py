"""FanoutOptions and CredentialGate refuse values that cannot describe a run, when it is made (the library's
callers have no Typer bounds in front of them)."""

from __future__ import annotations

import pytest

from toolkit.fanout.lockout import CredentialGate
from toolkit.fanout.task import FanoutOptions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"forks": 0}, "forks must be at least 1, not 0"),
        ({"forks": -3}, "forks must be at least 1, not -3"),
        ({"timeout": 0}, "timeout must be more than 0 seconds, not 0"),
        ({"timeout": -1.5}, "timeout must be more than 0 seconds, not -1.5"),
        ({"retries": -1}, "retries and backoff cannot be negative"),
        ({"backoff": -0.1}, "retries and backoff cannot be negative"),
        ({"processes": 0}, "processes must be at least 1 (or None), not 0"),
    ],
)
def test_options_that_describe_no_run_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        FanoutOptions(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_the_smallest_run_is_accepted() -> None:
    options = FanoutOptions(forks=1, timeout=0.001, retries=0, backoff=0.0, processes=1)
    assert (options.forks, options.retries, options.processes) == (1, 0, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probes": 0}, "limit and probes must be at least 1, not 1 and 0"),
        ({"limit": 0}, "limit and probes must be at least 1, not 0 and 2"),
        ({"patience": -1.0}, "patience cannot be negative, not -1.0"),
    ],
)
def test_a_credential_gate_that_would_hold_every_host_back_is_refused(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        CredentialGate(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message
