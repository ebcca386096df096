"""``psfleet remediate`` SIGKILLed mid-batch (a few trials; the full run at random moments is
``scripts/crash_remediate.py``): the journal names every changed value with its prior value,
and ``psfleet rollback`` restores all of them.

The kill comes when the journal holds a given number of intents, not after a delay: on a slow
or busy machine a delay of a few seconds can end the run before its first write, and the
trial then proves nothing."""

from __future__ import annotations

import pytest

from tests.reliability.crash import run_concurrent_trial, run_full_disk_trial, run_trial

HOSTS = 60
#: Kill points, as intents journaled: the first write, about a third and two thirds of the run
#: (60 hosts journal about 136 intents).
KILL_AT_INTENTS = (1, 40, 90)

pytestmark = pytest.mark.timeout(150)


@pytest.mark.parametrize("intents", KILL_AT_INTENTS)
def test_sigkill_mid_batch_then_journal_and_rollback_hold(intents: int) -> None:
    trial = run_trial(KILL_AT_INTENTS.index(intents) + 1, hosts=HOSTS, kill_at_intent=intents, forks=16)
    assert trial.problems == [], trial.line()
    assert trial.killed and trial.intents >= intents, f"the kill did not land mid-batch: {trial.line()}"
    assert trial.rollback_exit in (0, 4)


@pytest.mark.parametrize(("same_box", "first"), [(False, "a"), (True, "b")], ids=["two-boxes", "one-box"])
def test_two_operators_at_once_never_undo_each_other(same_box: bool, first: str) -> None:
    trial = run_concurrent_trial(1, hosts=16, forks=8, same_box=same_box, first_rollback=first)
    assert trial.problems == [], trial.line()
    assert trial.overlap == 0 and sum(trial.journaled.values()) > 0, trial.line()


def test_a_full_disk_under_the_journal_stops_the_run_and_rollback_restores() -> None:
    trial = run_full_disk_trial(1, hosts=16, forks=4, free_bytes=8192)
    assert trial.problems == [], trial.line()
    assert trial.exit_code == 2 and trial.not_started > 0, trial.line()
