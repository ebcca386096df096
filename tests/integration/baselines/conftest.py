"""Every baseline test gets its own psfleet state dir (journals, workarounds.json)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(state))
    monkeypatch.setenv("PSFLEET_NO_PROGRESS", "1")
    return state
