"""scripts/bench_scaleout.py runs in CI (issue 21: "the tests and benchmark run in CI") at a
small size: it starts its own Redis, site workers and lab, audits, remediates and rolls back
locally and through the engine, and exits 1 when any host's status differs between the two.
No timing is asserted here: the figures are the benchmark's to print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis import redis_available

ROOT = Path(__file__).resolve().parents[3]


def test_the_scale_out_benchmark_runs_and_the_engine_agrees_with_a_local_run() -> None:
    reason = redis_available()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_scaleout.py"),
            "--hosts",
            "12",
            "--sites",
            "2",
            "--remediate",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout)
    assert figures["same_statuses"] is True
    assert figures["hosts"] == 12 and figures["sites"] == 2
    assert figures["local"]["wall_s"] > 0 and figures["celery"]["wall_s"] > 0
    assert "remediate" in figures  # the remediate and rollback rows ran too
