"""The CLI as users run it, against a lab: the first run into a new store creates it (through
SQLAlchemy and Alembic); the runs after it are written with sqlite3 alone, SQLAlchemy never
imported, and `history` reads every run back with its counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.store.conftest import Story


def _imported(stderr: str) -> set[str]:
    """Top-level packages a ``python -X importtime`` run imported."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("command", [("probe", "smb"), ("audit",)], ids=["probe smb", "audit"])
def test_runs_after_the_first_are_recorded_without_sqlalchemy(
    story: Story, tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = {"PSFLEET_DB": str(tmp_path / "store.db")}
    args = (*command, "-i", str(story.inventory), "-f", "json")
    first = story.psfleet(*args, env=env)
    assert "not recorded" not in first.err, first.err
    env_traced = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    second = story.psfleet(*args, env=env_traced)
    assert second.code == first.code and "not recorded" not in second.err, second.err
    imported = _imported(second.err)
    assert "toolkit" in imported  # the trace is there
    assert not imported & {"sqlalchemy", "alembic"}, sorted(imported & {"sqlalchemy", "alembic"})
    kind = "probe" if command[0] == "probe" else "audit"
    runs = story.psfleet("history", "--kind", kind, "-f", "json", env=env).json()["runs"]
    assert len(runs) == 2
    assert runs[0]["counts"] == runs[1]["counts"] and runs[1]["hosts"] == 4
    assert json.loads(second.out)["summary"] == json.loads(first.out)["summary"]
