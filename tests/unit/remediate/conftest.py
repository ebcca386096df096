"""Fixtures the remediate unit tests share (their other helpers: tests/unit/remediate/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """psfleet's state directory (locks, workarounds) inside the test's tmp_path; a module
    takes it for every test with ``pytestmark = pytest.mark.usefixtures("state_dir")``."""
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"
