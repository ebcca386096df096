"""Recording never changes a run's outcome: a locked, read-only or impossible SQLite store
leaves the run complete, its report written and its exit code unchanged, with one warning.
Two writer processes on one SQLite file both get every run in."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.store.concurrency import two_writers
from tests.integration.store.conftest import Result, Story
from toolkit.store import open_store
from toolkit.store.schema import host_results, runs


def _audit(story: Story, db: str, *extra: str, env: dict[str, str] | None = None) -> Result:
    return story.psfleet(
        "audit", "-i", str(story.inventory), "-f", "json", *extra, env={"PSFLEET_DB": db, **(env or {})}
    )


def _assert_unrecorded_but_whole(result: Result, baseline: Result) -> str:
    assert result.code == baseline.code == 12
    assert json.loads(result.out)["summary"] == json.loads(baseline.out)["summary"]
    warnings = [line for line in result.err.splitlines() if "warning: run not recorded" in line]
    assert len(warnings) == 1, result.err
    return warnings[0]


def test_a_locked_database_delays_then_skips_recording(story: Story) -> None:
    db = story.tmp / "locked.db"
    open_store(str(db)).close()
    baseline = story.runs["audit2"]
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another writer that does not let go
        result = _audit(story, str(db), env={"PSFLEET_DB_BUSY_TIMEOUT": "0.5"})
    finally:
        holder.close()
    assert "locked" in _assert_unrecorded_but_whole(result, baseline)
    with open_store(str(db)) as store, store.read() as conn:
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 0


def test_a_read_only_database_is_read_but_not_written(story: Story) -> None:
    db = story.tmp / "ro.db"
    open_store(str(db)).close()
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    baseline = story.runs["audit2"]
    result = _audit(story, read_only)
    assert "readonly" in _assert_unrecorded_but_whole(result, baseline).replace("read-only", "readonly")
    history = story.psfleet("history", "--db", read_only)
    assert history.code == 0 and "no runs recorded" in history.out
    # The URI filename is SQLite's to resolve: no ./file:/... folder made where psfleet ran.
    assert not (Path.cwd() / "file:").exists()


def test_a_database_that_cannot_be_created(story: Story) -> None:
    blocker = story.tmp / "a-file"
    blocker.write_text("not a folder\n")
    baseline = story.runs["audit2"]
    result = _audit(story, str(blocker / "psfleet.db"))
    assert str(blocker) in _assert_unrecorded_but_whole(result, baseline)


def test_the_default_store_is_created_in_the_state_directory(story: Story) -> None:
    state = story.tmp / "xdg-state"
    env = {"PSFLEET_DB": "", "PSFLEET_STATE_DIR": "", "XDG_STATE_HOME": str(state)}
    result = story.psfleet("audit", "-i", str(story.inventory), "-f", "json", env=env)
    assert result.code == 12 and "not recorded" not in result.err
    assert (state / "psfleet" / "psfleet.db").exists()
    history = story.psfleet("history", "-f", "json", env=env)
    assert len(json.loads(history.out)["runs"]) == 1


@pytest.mark.parametrize(
    "lite", [(False, False), (True, False), (True, True)], ids=["sqlalchemy", "mixed", "sqlite3"]
)
def test_two_writers_at_once_on_one_sqlite_file(story: Story, lite: tuple[bool, bool]) -> None:
    db = story.tmp / f"shared-{'-'.join(map(str, lite))}.db"
    two_writers(str(db), runs=8, hosts=40, lite=lite)
    with open_store(str(db)) as store, store.read() as conn:
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 16
        assert conn.execute(select(func.count()).select_from(host_results)).scalar_one() == 16 * 40
