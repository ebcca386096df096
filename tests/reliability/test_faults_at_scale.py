"""200 lab hosts, 10% faulty over every fault kind, audited, remediated and rolled back
through the CLI in subprocesses: every host reported once with the right status, each run
bounded by the per-host deadline, no traceback on stdout/stderr (client) or in the lab's logs,
the healthy hosts' verdicts and values matching what the lab holds, and the journal
accounting for every value that changed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.journal_check import Snapshot, snapshot, verify_journal
from tests.reliability.scale import (
    FAULT_STATUS,
    REMEDIATE_STATUS,
    PlannedHost,
    has_traceback,
    plan,
    spec_text,
    verify_report,
)
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

HOSTS = 200
TIMEOUT_S = 8.0
#: a run may take the deadline plus this long (200 hosts through 16 forks on 2 cores, maybe shared)
MARGIN_S = 60.0


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Lab:
    fleet: Fleet
    planned: list[PlannedHost]
    inventory: Path
    work: Path
    log: _Records

    def state(self) -> dict[str, Snapshot]:
        return {p.name: snapshot(self.fleet.sim(p.name).registry.get_value) for p in self.planned}

    def psfleet(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float, dict[str, Any]]:
        env = {**os.environ, "PSFLEET_STATE_DIR": str(self.work / "psfleet-state")}
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "toolkit.cli", *args, "--format", "json",
             "--timeout", str(TIMEOUT_S), "--retries", "1", "--forks", "16"],
            capture_output=True, text=True, timeout=180, env=env,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        doc = json.loads(proc.stdout) if proc.stdout.lstrip().startswith("{") else {}
        return proc, elapsed, doc


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    planned = plan(HOSTS)
    work = tmp_path_factory.mktemp("scale")
    records = _Records()
    logging.getLogger().addHandler(records)
    try:
        with Fleet(loads_spec(spec_text(planned, timeout_s=TIMEOUT_S), "scale.yml"), workdir=work) as fleet:
            inventory = work / "lab.yml"
            fleet.write_inventory(inventory)
            yield Lab(fleet, planned, inventory, work, records)
    finally:
        logging.getLogger().removeHandler(records)


@pytest.fixture(scope="module")
def audit_run(lab: Lab) -> dict[str, Any]:
    proc, elapsed, doc = lab.psfleet("audit", "-i", str(lab.inventory))
    problems = verify_report(doc, lab.planned, lambda name: lab.fleet.sim(name).registry.get_value)
    return {"proc": proc, "elapsed": elapsed, "doc": doc, "problems": problems}


@pytest.fixture(scope="module")
def remediate_run(lab: Lab, audit_run: dict[str, Any]) -> dict[str, Any]:
    before = lab.state()
    journal = lab.work / "remediate.jsonl"
    proc, elapsed, doc = lab.psfleet(
        "remediate", "-i", str(lab.inventory), "--yes", "--journal", str(journal)
    )
    after = lab.state()
    problems = verify_journal(journal, before, after, complete=True, report=doc)
    rb_proc, rb_elapsed, rb_doc = lab.psfleet(
        "rollback", "-i", str(lab.inventory), "--yes", "--journal", str(journal)
    )
    restored = lab.state()
    return {
        "proc": proc, "elapsed": elapsed, "doc": doc, "problems": problems, "before": before,
        "after": after, "restored": restored, "rb_proc": rb_proc, "rb_elapsed": rb_elapsed, "rb_doc": rb_doc,
    }  # fmt: skip


def _statuses(doc: dict[str, Any]) -> dict[str, str]:
    names = [h["name"] for h in doc.get("hosts", [])]
    assert len(names) == len(set(names)), "a host reported twice"
    return {h["name"]: h["status"] for h in doc["hosts"]}


def test_every_fault_kind_is_present(lab: Lab) -> None:
    faults = Counter(p.fault for p in lab.planned if p.fault)
    assert set(faults) == set(FAULT_STATUS)
    assert sum(faults.values()) == HOSTS // 10


def test_audit_report_matches_the_lab(audit_run: dict[str, Any]) -> None:
    proc = audit_run["proc"]
    assert audit_run["doc"], f"no JSON report (exit {proc.returncode}): {proc.stderr[-2000:]}"
    assert audit_run["problems"] == []
    assert proc.returncode == 12  # drift and unassessed hosts
    assert audit_run["doc"]["summary"]["total"] == HOSTS


def test_remediation_reports_every_host_once_with_its_status(lab: Lab, remediate_run: dict[str, Any]) -> None:
    proc = remediate_run["proc"]
    assert remediate_run["doc"], f"no JSON report (exit {proc.returncode}): {proc.stderr[-2000:]}"
    statuses = _statuses(remediate_run["doc"])
    assert sorted(statuses) == sorted(p.name for p in lab.planned)
    wrong = {
        p.name: (p.fault, statuses[p.name])
        for p in lab.planned
        if statuses[p.name] != (REMEDIATE_STATUS[p.fault] if p.fault else "compliant")
    }
    assert wrong == {}
    assert proc.returncode == 8


def test_remediation_journal_matches_what_the_hosts_hold(remediate_run: dict[str, Any]) -> None:
    assert remediate_run["problems"] == []
    assert remediate_run["before"] != remediate_run["after"]  # something was written


def test_rollback_restores_every_prior_value(lab: Lab, remediate_run: dict[str, Any]) -> None:
    rb = remediate_run["rb_proc"]
    assert remediate_run["rb_doc"], rb.stderr[-2000:]
    assert remediate_run["restored"] == remediate_run["before"]
    statuses = _statuses(remediate_run["rb_doc"])
    assert set(statuses.values()) <= {"compliant"}, Counter(statuses.values())


def test_runs_end_within_deadline_plus_margin(
    audit_run: dict[str, Any], remediate_run: dict[str, Any]
) -> None:
    assert audit_run["elapsed"] < TIMEOUT_S + MARGIN_S
    assert remediate_run["elapsed"] < TIMEOUT_S + MARGIN_S
    assert remediate_run["rb_elapsed"] < TIMEOUT_S + MARGIN_S


def test_no_traceback_anywhere(lab: Lab, audit_run: dict[str, Any], remediate_run: dict[str, Any]) -> None:
    for proc in (audit_run["proc"], remediate_run["proc"], remediate_run["rb_proc"]):
        assert not has_traceback(proc.stdout)
        assert not has_traceback(proc.stderr), proc.stderr[:3000]
    lab_errors = [r for r in lab.log.records if r.exc_info or r.levelno >= logging.ERROR]
    assert lab_errors == [], [r.getMessage() for r in lab_errors[:5]]
