"""``psfleet remediate`` SIGKILLed at random moments (a few trials; the full run is
``scripts/crash_remediate.py``): the journal names every changed value with its prior value,
and ``psfleet rollback`` restores all of them."""

from __future__ import annotations

import pytest

from tests.reliability.crash import kill_moments, run_trial

HOSTS = 60
MOMENTS = kill_moments(3, up_to_s=6.0, seed=20261121)

pytestmark = pytest.mark.timeout(150)


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_then_journal_and_rollback_hold(moment: float) -> None:
    trial = run_trial(MOMENTS.index(moment) + 1, hosts=HOSTS, kill_after_s=moment, forks=16)
    assert trial.problems == [], trial.line()
    if trial.killed and trial.journal_exists:
        assert trial.rollback_exit in (0, 4)
