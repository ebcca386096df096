#!/usr/bin/env python3
"""Kill a 200-host ``psfleet remediate`` with SIGKILL at random moments and check, after each
kill, that every host whose value changed is in the journal with its prior value and that
``psfleet rollback`` restores every prior value (read back from the lab's simulated hosts).

    python scripts/crash_remediate.py                        # 20 trials, 200 hosts
    python scripts/crash_remediate.py --trials 40 --seed 7 --up-to 30
    python scripts/crash_remediate.py --mode concurrent --trials 4 --hosts 60
    python scripts/crash_remediate.py --mode full-disk --trials 4 --hosts 60
    python scripts/crash_remediate.py --mode all --trials 4 --hosts 60

``--mode concurrent``: two ``psfleet remediate`` runs started together on the same drifted
hosts (four trials cover one box or two times which run is rolled back first): no value
journaled by both, every change journaled, ``busy`` names the other run, either rollback order
leaves the other run's changes alone and both give back the state before.
``--mode full-disk``: the journal on a nearly full small tmpfs (root) or under a file-size
limit (a quota stand-in), free space spread over the trials: exit 2 with the report and the
undo command, every change journaled, later hosts not started, rollback restores everything.

Each trial starts a fresh in-process lab (drifted hosts over every OS profile), runs
``psfleet remediate -i INV --yes --journal FILE`` as a subprocess and kills it after a
delay drawn from one equal slice of (0.3 s, --up-to) per trial, so the kills cover the whole
run (before the journal exists, mid-batch, during the last read-backs). Exit 0 when every
trial holds and at least one kill came after the first journaled write, 1 otherwise; each
trial prints one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.crash import kill_moments, run_concurrent_trial, run_full_disk_trial, run_trial


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument(
        "--up-to", type=float, default=20.0, help="latest kill moment, seconds (about the run length)"
    )
    ap.add_argument("--forks", type=int, default=32)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--max-minutes", type=float, default=30.0, help="stop starting trials after this long")
    ap.add_argument("--mode", choices=("crash", "concurrent", "full-disk", "all"), default="crash")
    args = ap.parse_args()
    failed = 0
    if args.mode in ("concurrent", "all"):
        failed += concurrent(args)
    if args.mode in ("full-disk", "all"):
        failed += full_disk(args)
    if args.mode in ("crash", "all"):
        failed += 0 if crash(args) == 0 else 1
    return 1 if failed else 0


def concurrent(args: argparse.Namespace) -> int:
    started = time.monotonic()
    failed = busy = 0
    for number in range(1, args.trials + 1):
        trial = run_concurrent_trial(
            number,
            hosts=args.hosts,
            forks=args.forks,
            same_box=number % 4 in (2, 3),  # four trials: both settings times both orders
            first_rollback="ab"[number % 2],
        )
        busy += trial.busy
        print(trial.line(), flush=True)
        for problem in trial.problems:
            print("  PROBLEM:", problem, flush=True)
        failed += bool(trial.problems)
    print(f"concurrent: {args.trials} trials, {busy} busy hosts in all, in {time.monotonic() - started:.0f}s: "
          f"{f'{failed} failed' if failed else 'OK'}", flush=True)  # fmt: skip
    return failed


def full_disk(args: argparse.Namespace) -> int:
    started = time.monotonic()
    failed = 0
    for number in range(1, args.trials + 1):
        free = 4096 * number  # the failure lands a few hosts later each trial (tmpfs: whole pages)
        trial = run_full_disk_trial(number, hosts=args.hosts, forks=args.forks, free_bytes=free)
        print(trial.line(), flush=True)
        for problem in trial.problems:
            print("  PROBLEM:", problem, flush=True)
        failed += bool(trial.problems)
    print(f"full disk: {args.trials} trials in {time.monotonic() - started:.0f}s: "
          f"{f'{failed} failed' if failed else 'OK'}", flush=True)  # fmt: skip
    return failed


def crash(args: argparse.Namespace) -> int:
    print(f"{args.trials} trials, {args.hosts} hosts, seed {args.seed}", flush=True)
    started = time.monotonic()
    failed = killed = mid_batch = done = 0
    for number, moment in enumerate(kill_moments(args.trials, up_to_s=args.up_to, seed=args.seed), 1):
        if time.monotonic() - started > args.max_minutes * 60:
            print(f"time budget of {args.max_minutes:g} min used up after {done} trials")
            break
        trial = run_trial(number, hosts=args.hosts, kill_after_s=moment, forks=args.forks)
        done += 1
        killed += trial.killed
        mid_batch += trial.killed and trial.intents > 0
        print(trial.line(), flush=True)
        for problem in trial.problems:
            print("  PROBLEM:", problem, flush=True)
        failed += bool(trial.problems)
    verdict = f"{failed} failed" if failed else "OK"
    if not mid_batch:
        verdict += ", but no kill came after the first journaled write (crash safety untested): raise --up-to"
    print(f"{done} trials ({killed} killed mid-run, {mid_batch} after the first journaled write) in "
          f"{time.monotonic() - started:.0f}s: {verdict}")  # fmt: skip
    return 0 if not failed and mid_batch else 1


if __name__ == "__main__":
    os.environ.setdefault("PSFLEET_NO_PROGRESS", "1")
    sys.exit(main())
