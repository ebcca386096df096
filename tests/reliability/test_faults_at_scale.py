"""250 lab hosts, 10% faulty over every fault kind, audited through the CLI in a subprocess:
every host reported once with the right status, the run bounded by the per-host deadline,
no traceback on stdout/stderr (client) or in the lab's logs, and the healthy hosts' verdicts
and values matching what the lab holds."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reliability.scale import FAULT_STATUS, has_traceback, plan, spec_text, verify_report
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

HOSTS = 250
TIMEOUT_S = 8.0
#: the run may take the deadline plus this long (250 hosts through 32 forks on 2 cores)
MARGIN_S = 40.0


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def scale_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    planned = plan(HOSTS)
    work = tmp_path_factory.mktemp("scale")
    lab_log = _Records()
    logging.getLogger().addHandler(lab_log)
    try:
        with Fleet(loads_spec(spec_text(planned, timeout_s=TIMEOUT_S), "scale.yml"), workdir=work) as fleet:
            inventory = work / "lab.yml"
            fleet.write_inventory(inventory)
            started = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "toolkit.cli", "audit", "-i", str(inventory), "--format", "json",
                 "--timeout", str(TIMEOUT_S), "--retries", "1", "--forks", "32"],
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            elapsed = time.monotonic() - started
            doc = json.loads(proc.stdout) if proc.stdout.lstrip().startswith("{") else {}
            problems = verify_report(doc, planned, lambda name: fleet.sim(name).registry.get_value)
            yield {
                "planned": planned, "proc": proc, "elapsed": elapsed, "doc": doc,
                "problems": problems, "lab_log": list(lab_log.records),
            }  # fmt: skip
    finally:
        logging.getLogger().removeHandler(lab_log)


def test_every_fault_kind_is_present(scale_run: dict[str, Any]) -> None:
    faults = Counter(p.fault for p in scale_run["planned"] if p.fault)
    assert set(faults) == set(FAULT_STATUS)
    assert sum(faults.values()) == HOSTS // 10


def test_report_matches_the_lab(scale_run: dict[str, Any]) -> None:
    proc = scale_run["proc"]
    assert scale_run["doc"], f"no JSON report (exit {proc.returncode}): {proc.stderr[-2000:]}"
    assert scale_run["problems"] == []
    assert proc.returncode == 12  # drift and unassessed hosts
    assert scale_run["doc"]["summary"]["total"] == HOSTS


def test_run_ends_within_deadline_plus_margin(scale_run: dict[str, Any]) -> None:
    assert scale_run["elapsed"] < TIMEOUT_S + MARGIN_S


def test_no_traceback_anywhere(scale_run: dict[str, Any]) -> None:
    proc = scale_run["proc"]
    assert not has_traceback(proc.stdout)
    assert not has_traceback(proc.stderr), proc.stderr[:3000]
    lab_errors = [r for r in scale_run["lab_log"] if r.exc_info or r.levelno >= logging.ERROR]
    assert lab_errors == [], [r.getMessage() for r in lab_errors[:5]]
