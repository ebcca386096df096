"""Rollbacks and SMB probes are recorded too: a rollback's restores appear in the host's
timeline with the rollback journal's run id; a probe run is listed with its statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.store.conftest import SPEC, Story, psfleet_env
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec


def test_rollback_restores_are_in_the_timeline(tmp_path: Path) -> None:
    with Fleet(loads_spec(SPEC, "rollback-fleet.yml"), addressing="port", workdir=tmp_path / "lab") as fleet:
        inventory = tmp_path / "fleet.yml"
        fleet.write_inventory(inventory)
        db = tmp_path / "psfleet.db"
        story = Story(inventory, db, psfleet_env(tmp_path, db), tmp_path)
        journal = tmp_path / "fix.jsonl"
        fix = story.psfleet("remediate", "-i", str(inventory), "--limit", "hq-drift", "--yes", "-f", "json",
                            "--journal", str(journal))  # fmt: skip
        assert fix.code == 0, fix.err
        undo = story.psfleet(
            "rollback", "--journal", str(journal), "-i", str(inventory), "--yes", "-f", "json"
        )
        assert undo.code == 0, undo.err
        rollback_id = undo.json()["run"]["id"]
    timeline = story.psfleet("history", "--host", "hq-drift", "-f", "json").json()["entries"]
    assert [(e["kind"], e["mode"]) for e in timeline] == [("remediate", "apply"), ("rollback", "rollback")]
    restored = timeline[1]["changes"]
    assert {c["setting"] for c in restored} == {"client_signing", "server_signing"}
    assert all(c["journal_run_id"] == rollback_id for c in restored)
    assert all(c["after"] == "0 (DWord)" for c in restored), restored
    # the rollback put back values that fail the baseline: it is no "compliant" host in history
    table = story.psfleet("history", "--host", "hq-drift").out.splitlines()
    (undo_line,) = [line for line in table if " rollback " in line]
    assert " restored " in undo_line and " compliant " not in undo_line, undo_line
    runs = story.psfleet("history", "-f", "csv").out.splitlines()
    header = runs[0].split(",")
    (undo_row,) = [row.split(",") for row in runs[1:] if ",rollback" in row]
    assert undo_row[header.index("COMPLIANT")] == undo_row[header.index("DRIFT")] == "", runs
    assert "restored" in undo_row[header.index("CHANGES")], runs


def test_a_probe_run_is_listed_with_its_statuses(story: Story, tmp_path: Path) -> None:
    env = {"PSFLEET_DB": str(tmp_path / "probe.db")}
    probe = story.psfleet("probe", "smb", "-i", str(story.inventory), "-f", "json", env=env)
    assert probe.code in (0, 8), probe.err
    expected = {k: v for k, v in json.loads(probe.out)["summary"].items() if v and k != "total"}
    history = story.psfleet("history", "--kind", "probe", "-f", "json", env=env)
    (run,) = history.json()["runs"]
    assert run["kind"] == "probe" and run["hosts"] == 4
    assert run["counts"] == expected
    if not expected:
        pytest.fail("the probe counted no host")
