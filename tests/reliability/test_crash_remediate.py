"""``psfleet remediate`` SIGKILLed mid-batch (a few trials; the full run at random moments is
``scripts/crash_remediate.py``): the journal names every changed value with its prior value,
and ``psfleet rollback`` restores all of them.

The kill comes when the journal holds a given number of intents, not after a delay: on a slow
or busy machine a delay of a few seconds can end the run before its first write, and the
trial then proves nothing."""

from __future__ import annotations

import pytest

from tests.reliability.crash import run_trial

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
