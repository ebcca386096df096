#!/usr/bin/env python3
"""Audit a large lab fleet (default 1,000 hosts) with 10% faulty hosts spread over every fault
kind, and check the report against what the lab holds.

The lab runs as ``psfleet lab serve --spec ... --state DIR --inventory-out ...`` (worker
processes) and the audit as ``psfleet audit --format json`` in another process, as a user
would run them. Checks: every host in the report exactly once with the right status; the run
ends within the per-host deadline plus a bounded margin; no traceback in either process's
stdout/stderr; healthy (and flaky/non_admin) hosts' verdicts and values match the lab's
persisted registry (``--state`` JSON files). Then the same fleet is remediated (``--yes
--journal``) and rolled back: statuses per fault kind, the journal accounts for every value
that changed on every host (prior value included), rollback restores every prior value.

    python scripts/faults_at_scale.py                 # 1,000 hosts
    python scripts/faults_at_scale.py --hosts 300 --timeout 6 --margin 60

Exit 0 when every check holds, 1 otherwise (each problem printed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.journal_check import Snapshot, snapshot, verify_journal
from tests.reliability.scale import (
    FAULT_STATUS,
    REMEDIATE_STATUS,
    has_traceback,
    plan,
    spec_text,
    verify_report,
)
from toolkit.lab.registry import Registry


def start_lab(spec: Path, work: Path, workers: int) -> tuple[subprocess.Popen[str], Path]:
    inventory = work / "lab.yml"
    state = work / "state"
    lab = subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", "lab", "serve", "--spec", str(spec), "--addressing", "port",
         "--workers", str(workers), "--state", str(state), "--inventory-out", str(inventory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not inventory.exists():
        if lab.poll() is not None or time.monotonic() > deadline:
            _, err = lab.communicate(timeout=10)
            raise SystemExit(f"lab did not start (exit {lab.returncode}): {err[-2000:]}")
        time.sleep(0.2)
    return lab, state


def psfleet(args: argparse.Namespace, *argv: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PSFLEET_STATE_DIR": str(Path(args.work) / "psfleet-state")}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *argv, "--format", "json", "--timeout", str(args.timeout),
         "--retries", "1", "--forks", str(args.forks)],
        capture_output=True, text=True, timeout=args.timeout + args.margin + 300, env=env,
    )  # fmt: skip
    return proc, time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--faulty", type=float, default=0.10, help="share of faulty hosts (default 0.10)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-host deadline, seconds")
    ap.add_argument("--forks", type=int, default=32)
    ap.add_argument("--margin", type=float, default=300.0, help="allowed run time beyond --timeout, seconds")
    ap.add_argument("--lab-workers", type=int, default=1)
    args = ap.parse_args()

    planned = plan(args.hosts, faulty_share=args.faulty)
    faults = Counter(p.fault for p in planned if p.fault)
    print(f"{args.hosts} hosts, {sum(faults.values())} faulty: "
          + ", ".join(f"{k}={faults[k]}" for k in FAULT_STATUS), flush=True)  # fmt: skip
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="psfleet-scale-") as tmp:
        work = Path(tmp)
        args.work = tmp
        spec = work / "spec.yml"
        spec.write_text(spec_text(planned, timeout_s=args.timeout), encoding="utf-8")
        started = time.monotonic()
        lab, state = start_lab(spec, work, args.lab_workers)
        print(f"lab up in {time.monotonic() - started:.1f}s", flush=True)

        def lab_values(name: str) -> Any:
            return Registry.load(state / f"{name}.json").get_value

        def lab_state() -> dict[str, Snapshot]:
            return {p.name: snapshot(lab_values(p.name)) for p in planned}

        runs: dict[str, tuple[subprocess.CompletedProcess[str], float]] = {}
        try:
            runs["audit"] = psfleet(args, "audit", "-i", str(work / "lab.yml"))
            before = lab_state()
            journal = work / "remediate.jsonl"
            runs["remediate"] = psfleet(args, "remediate", "-i", str(work / "lab.yml"), "--yes",
                                        "--journal", str(journal))  # fmt: skip
            after = lab_state()
            runs["rollback"] = psfleet(args, "rollback", "-i", str(work / "lab.yml"), "--yes",
                                       "--journal", str(journal))  # fmt: skip
            restored = lab_state()
        finally:
            lab.send_signal(signal.SIGTERM)
            lab_out, lab_err = lab.communicate(timeout=60)
        docs: dict[str, dict[str, Any]] = {}
        for command, (proc, elapsed) in runs.items():
            print(f"{command}: exit {proc.returncode} in {elapsed:.1f}s (deadline {args.timeout:g}s + margin "
                  f"{args.margin:g}s)", flush=True)  # fmt: skip
            try:
                docs[command] = json.loads(proc.stdout)
                print(f"  summary: {json.dumps(docs[command]['summary'])}")
            except json.JSONDecodeError:
                docs[command] = {"hosts": []}
                problems.append(f"{command}: stdout is not a JSON report: {proc.stdout[:300]!r} / "
                                f"{proc.stderr[-1000:]}")  # fmt: skip
            if elapsed > args.timeout + args.margin:
                problems.append(f"{command} took {elapsed:.1f}s > {args.timeout + args.margin:g}s")
            for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
                if has_traceback(text):
                    problems.append(f"traceback in {command} {stream}: {text[:1500]}")
        problems += verify_report(docs["audit"], planned, lab_values)
        if runs["audit"][0].returncode != 12:
            problems.append(f"audit exit code {runs['audit'][0].returncode}, expected 12")
        statuses = {h["name"]: h["status"] for h in docs["remediate"]["hosts"]}
        if len(statuses) != len(docs["remediate"]["hosts"]) or set(statuses) != {p.name for p in planned}:
            problems.append("remediate: not every host reported exactly once")
        for p in planned:
            want = REMEDIATE_STATUS[p.fault] if p.fault else "compliant"
            if statuses.get(p.name, want) != want:
                problems.append(f"remediate: {p.name} ({p.fault}): {statuses.get(p.name)}, expected {want}")
        problems += [f"journal: {x}" for x in verify_journal(journal, before, after, complete=True,
                                                                report=docs["remediate"])]  # fmt: skip
        changed = sum(1 for h in before for k in before[h] if before[h][k] != after[h][k])
        print(f"remediate changed {changed} values; rollback left "
              f"{sum(1 for h in before if before[h] != restored[h])} hosts different from before")  # fmt: skip
        if not changed:
            problems.append(
                "remediate changed no value: the journal and rollback checks had nothing to check"
            )
        if restored != before:
            problems.append("rollback did not restore every prior value")
        for what, text in (("lab stdout", lab_out), ("lab stderr", lab_err)):
            if has_traceback(text):
                problems.append(f"traceback in {what}: {text[:1500]}")
        if lab.returncode not in (0, -signal.SIGTERM):
            problems.append(f"lab exited {lab.returncode}")
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problems")
    return 0 if not problems else 1


if __name__ == "__main__":
    os.environ.setdefault("PSFLEET_NO_PROGRESS", "1")
    sys.exit(main())
