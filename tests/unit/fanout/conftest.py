"""Fixtures shared by the fan-out's unit tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.unit.fanout.helpers import FakeClock
from toolkit.fanout import runner, task


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock for the dispatcher's deadlines and each host's retries and backoff."""
    fake = FakeClock()
    fake_time = SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep)
    monkeypatch.setattr(runner, "time", fake_time)  # deadlines (the dispatcher)
    monkeypatch.setattr(task, "time", fake_time)  # retries and backoff (each host's attempts)
    return fake
