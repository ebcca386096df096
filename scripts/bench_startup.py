#!/usr/bin/env python3
"""Benchmark: the psfleet CLI process's fixed CPU - start-up and reading the inventory - before
the first host goes out.

For each size in ``--hosts`` (default 1,000 and 10,000) it writes a native inventory shaped as
the lab writes it (one entry per host: address, port, scheme, auth, smb_port; a shared
password file in ``defaults``) and measures, each in a fresh child process:

1. ``read``: CPU of ``toolkit.inventory.loader.read_inventory`` on that file (best of
   ``--repeat`` reads in one process, the readers already imported);
2. ``audit``: CPU of ``psfleet audit -i INVENTORY --format json --no-record`` from the
   interpreter's start until the command starts its first worker process (a
   ``subprocess.Popen`` audit hook ends the child there): interpreter, imports, options,
   inventory, credentials, task set-up;
3. ``probe``: CPU of ``psfleet probe smb -i INVENTORY --format json --no-record`` (the question
   nmap asks: ``--no-per-dialect --no-smb1 --no-identify``) until its first connection to a
   host (a ``socket.connect`` audit hook).

No host answers and none is needed: the children end before anything is sent. ``--no-record``
leaves the store's start-up out (scripts/bench_store.py and bench_probe.py measure it). A bare
interpreter (``python -c pass``) is measured too: what no change in psfleet can remove. The
machine's load average is shown before and after; on a shared machine alternate runs of two
trees (``--python-path``) rather than comparing with an old figure.

    python scripts/bench_startup.py
    python scripts/bench_startup.py --hosts 1000 --repeat 5 --json
    python scripts/bench_startup.py --python-path /tmp/old-tree   # another checkout's toolkit
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Runs in the child: ends the process (printing its CPU seconds) at the first ``EVENT``.
_UNTIL = textwrap.dedent(
    """
    import os, resource, sys
    EVENT = sys.argv[1]
    def hook(event, args):
        if event == EVENT:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            os.write(2, f"CPU {usage.ru_utime + usage.ru_stime:.4f}\\n".encode())
            os._exit(0)
    sys.addaudithook(hook)
    sys.argv = ["psfleet", *sys.argv[2:]]
    from toolkit.cli import main
    main()
    """
)

_READ = textwrap.dedent(
    """
    import sys, time
    from toolkit.inventory.loader import read_inventory
    read_inventory(sys.argv[1])
    times = []
    for _ in range(int(sys.argv[2])):
        started = time.process_time()
        read_inventory(sys.argv[1])
        times.append(time.process_time() - started)
    print(f"CPU {min(times):.4f}")
    """
)


def write_inventory(folder: Path, hosts: int) -> Path:
    secret = folder / "admin.password"
    secret.write_text("Bench-P@ss-2026\n")
    secret.chmod(0o600)
    lines = ["psfleet: 1", "defaults:", '  username: "admin"', f"  password_file: {json.dumps(str(secret))}"]
    lines.append("hosts:")
    for i in range(hosts):
        lines += [
            f'  "lab-{i + 1:05d}":',
            f'    address: "127.{10 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"',
            "    port: 5985",
            "    scheme: http",
            "    auth: negotiate",
            "    smb_port: 445",
        ]
    path = folder / f"inventory-{hosts}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def child_cpu(argv: list[str], env: dict[str, str]) -> float:
    # Run from / so that ``python -c`` (current directory first on sys.path) imports the
    # toolkit installed or named by --python-path, not one in the caller's directory.
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False, cwd="/")
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("CPU "):
            return float(line.split()[1])
    raise RuntimeError(f"{' '.join(argv[:4])}...: no CPU line (exit {proc.returncode}): {proc.stderr[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="1000,10000", help="comma-separated inventory sizes")
    parser.add_argument("--repeat", type=int, default=3, help="child processes per figure (median shown)")
    parser.add_argument("--python-path", help="put this folder first on PYTHONPATH (another tree's toolkit)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    args = parser.parse_args(argv)
    env = {**os.environ, "PSFLEET_DB": os.devnull}
    for name in ("PSFLEET_INVENTORY", "PSFLEET_CONFIG", "PSFLEET_FORKS", "PSFLEET_TIMEOUT"):
        env.pop(name, None)
    if args.python_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.python_path, env.get("PYTHONPATH")) if p)
    load_before = os.getloadavg()[0]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="psfleet-bench-startup-") as tmp:
        env["XDG_CONFIG_HOME"] = tmp  # no config file of the user's
        bare = [child_cpu([sys.executable, "-c", "import resource as r; u=r.getrusage(r.RUSAGE_SELF); "
                           "print(f'CPU {u.ru_utime + u.ru_stime:.4f}')"], env) for _ in range(args.repeat)]  # fmt: skip
        rows.append({"hosts": 0, "figure": "python -c pass", "cpu_s": statistics.median(bare)})
        for hosts in (int(h) for h in args.hosts.split(",")):
            inventory = str(write_inventory(Path(tmp), hosts))
            runs = {
                "read": [sys.executable, "-c", _READ, inventory, "3"],
                "audit": [sys.executable, "-c", _UNTIL, "subprocess.Popen", "audit", "-i", inventory,
                          "--format", "json", "--no-record", "-o", os.devnull],
                "probe": [sys.executable, "-c", _UNTIL, "socket.connect", "probe", "smb", "-i", inventory,
                          "--format", "json", "--no-record", "--no-per-dialect", "--no-smb1", "--no-identify"],
            }  # fmt: skip
            for figure, command in runs.items():
                cpu = [child_cpu(command, env) for _ in range(args.repeat)]
                rows.append({"hosts": hosts, "figure": figure, "cpu_s": statistics.median(cpu), "all": cpu})
    load_after = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"rows": rows, "load_before": load_before, "load_after": load_after}, indent=2))
        return 0
    print(f"{'hosts':>6}  {'figure':<16} {'CPU s (median)':>14}  {'ms/host':>8}")
    for row in rows:
        hosts = int(row["hosts"])  # type: ignore[call-overload]
        cpu = float(row["cpu_s"])  # type: ignore[arg-type]
        per_host = f"{cpu * 1000 / hosts:8.3f}" if hosts else ""
        print(f"{hosts:>6}  {row['figure']!s:<16} {cpu:14.3f}  {per_host}")
    print(f"load average (1 min) before/after: {load_before:.1f} / {load_after:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
