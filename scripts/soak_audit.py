#!/usr/bin/env python3
"""Repeat audits against a lab for a while and watch the client process for leaks.

The lab runs in a worker process (so its memory is not counted); this process audits it over
and over through :func:`toolkit.api.audit` (the same path as ``psfleet audit``), with a few
faulty hosts (hang, reset, refuse, http500, auth_fail) so abandoned workers and failed
sessions are part of every round. After each round it samples its own RSS, open file
descriptors and threads; at the end it prints the series and compares the last quarter of the
run with the first quarter after a warm-up.

    python scripts/soak_audit.py                  # 10 minutes, 40 hosts
    python scripts/soak_audit.py --minutes 2 --hosts 20

Exit 0 when every round assessed every healthy host and RSS grew less than
--max-rss-growth-mb and fds less than --max-fd-growth, else 1.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.api import audit
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.credentials import resolve_credentials
from toolkit.inventory.loader import load_inventory
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.lab.spec import loads_spec

FAULTS = ("hang", "reset", "refuse", "http500", "auth_fail")


def fault_of(i: int) -> str | None:
    """Host ``i``'s fault: every 8th host, one of each :data:`FAULTS`, from host 7 on."""
    return FAULTS[i // 8] if i % 8 == 7 and i // 8 < len(FAULTS) else None


def spec_text(hosts: int) -> str:
    lines = ["users:", "  - {name: admin, password: 'S0ak-Lab!', admin: true}", "hosts:"]
    for i in range(hosts):
        lines.append(f"  - name: s{i:03d}\n    profile: {PROFILE_NAMES[i % len(PROFILE_NAMES)]}")
        if fault := fault_of(i):
            lines.append(f"    fault: {fault}")
    return "\n".join(lines) + "\n"


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--hosts", type=int, default=40)
    ap.add_argument(
        "--timeout", type=float, default=3.0, help="per-host deadline (hung hosts take this long)"
    )
    ap.add_argument("--forks", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=3, help="rounds left out of the comparison")
    ap.add_argument("--max-rss-growth-mb", type=float, default=25.0)
    ap.add_argument("--max-fd-growth", type=int, default=8)
    args = ap.parse_args()

    faulty = sum(1 for i in range(args.hosts) if fault_of(i))
    unexpected = 0
    samples: list[tuple[float, int, int, int, int]] = []  # (t, round, rss kB, fds, threads)
    with (
        tempfile.TemporaryDirectory(prefix="psfleet-soak-") as tmp,
        Fleet(loads_spec(spec_text(args.hosts), "soak.yml"), workers=1, workdir=Path(tmp) / "lab") as fleet,
    ):
        inv_path = Path(tmp) / "lab.yml"
        fleet.write_inventory(inv_path)
        options = FanoutOptions(forks=args.forks, timeout=args.timeout, retries=0)
        started = time.monotonic()
        end = started + args.minutes * 60
        rounds = 0
        print(f"soak: {args.hosts} hosts ({faulty} faulty), {args.minutes:g} min, "
              f"timeout {args.timeout:g}s", flush=True)  # fmt: skip
        while time.monotonic() < end:
            inventory = load_inventory(inv_path)
            credentials = resolve_credentials(inventory.hosts, interactive=False)
            run = audit(inventory, credentials=credentials, options=options)
            rounds += 1
            assessed = sum(1 for h in run.hosts if h.status.assessed)
            if len(run.hosts) != args.hosts or assessed != args.hosts - faulty:
                unexpected += 1
                print(f"round {rounds}: {assessed}/{len(run.hosts)} assessed: unexpected", flush=True)
            del run, inventory, credentials
            gc.collect()
            now = time.monotonic() - started
            samples.append((now, rounds, rss_kb(), open_fds(), threading.active_count()))
            if rounds == 1 or rounds % 10 == 0:
                t, r, rss, fds, threads = samples[-1]
                print(f"  t={t:6.0f}s round {r:4d}: rss {rss / 1024:6.1f} MB, fds {fds:3d}, "
                      f"threads {threads:3d}", flush=True)  # fmt: skip
    time.sleep(args.timeout + 1)  # abandoned workers of the last round end on their own
    measured = samples[args.warmup :]
    if len(measured) < 4:
        print("too few rounds to judge; run longer")
        return 1
    quarter = max(1, len(measured) // 4)
    first, last = measured[:quarter], measured[-quarter:]
    rss_growth = (statistics.median(s[2] for s in last) - statistics.median(s[2] for s in first)) / 1024
    fd_growth = statistics.median(s[3] for s in last) - statistics.median(s[3] for s in first)
    print("series (t s, round, rss MB, fds, threads):")
    step = max(1, len(samples) // 20)
    for t, r, rss, fds, threads in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        print(f"  {t:7.1f} {r:5d} {rss / 1024:7.1f} {fds:4d} {threads:4d}")
    print(f"{rounds} rounds ({rounds * args.hosts} host audits); RSS growth {rss_growth:+.1f} MB "
          f"(bound {args.max_rss_growth_mb:g}), fd growth {fd_growth:+g} (bound {args.max_fd_growth}); "
          f"threads now {threading.active_count()}")  # fmt: skip
    ok = rss_growth <= args.max_rss_growth_mb and fd_growth <= args.max_fd_growth
    if unexpected:
        print(f"{unexpected} of {rounds} rounds did not assess every healthy host")
    print("OK" if ok and not unexpected else "GROWTH BEYOND BOUND" if not ok else "UNEXPECTED ROUNDS")
    return 0 if ok and not unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
