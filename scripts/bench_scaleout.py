#!/usr/bin/env python3
"""Benchmark: an audit through the scale-out engine (Celery + Redis) against a local run.

One run starts a lab fleet (``--hosts``, default 1,000, with a latency per HTTP response and a
delay per runspace-pool open), a real ``redis-server`` on loopback (tests/support/redis.py),
and one ``psfleet worker`` per site (``--sites``, default 4; hosts dealt round-robin). Then,
each in a child process of its own:

1. ``local``: ``psfleet audit -i INVENTORY -f json -o FILE``, every host from this machine;
2. ``celery``: the same inventory with a ``site`` per host and ``--engine celery``, with
   ``--forks`` divided by the number of sites (``--forks`` is per site through the engine:
   the same hosts in flight in total) and workers started with ``--processes 1`` (they share
   this machine's cores; on a machine of its own a worker would use the default).

Measured per host: wall time, the controller's CPU (the ``psfleet audit`` process tree), the
workers' CPU over the run (from /proc), and the engine's overhead: (controller + workers CPU)
- local CPU, and wall over local. Redis memory per 1,000 host results is what 1,000 result
records (the wire format workers stream) add to Redis' ``used_memory``. Both runs must read
the same statuses, otherwise the comparison is void (exit 1). Targets (issue 21): overhead
<= 2 ms CPU per host and <= 10% wall over local.

    python scripts/bench_scaleout.py                    # 1,000 hosts, 4 sites
    python scripts/bench_scaleout.py --hosts 200 --json
    python scripts/bench_scaleout.py --hosts 200 --remediate   # + remediate/rollback rows
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "Bench-Lab-1!"
CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / CLK


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def write_inventory(lab: Any, path: Path, sites: int | None) -> None:
    lines = ["psfleet: 1", "defaults:", "  username: admin", "  password_env: BENCH_PASSWORD", "hosts:"]
    for i, h in enumerate(lab.hosts):
        lines += [f"  {h.name}:", f"    address: {h.address}", f"    port: {h.port}"]
        if sites:
            lines.append(f"    site: s{i % sites}")
    path.write_text("\n".join(lines) + "\n")


def audit(inventory: Path, out: Path, env: dict[str, str], extra: list[str]) -> dict[str, Any]:
    return measure(["audit", "-i", str(inventory), *extra], out, env)


def measure(command: list[str], out: Path, env: dict[str, str]) -> dict[str, Any]:
    """``psfleet COMMAND -f json -o OUT`` in a child process: wall, CPU, statuses, report."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *command, "-f", "json", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode not in (0, 4, 8, 12):
        raise SystemExit(f"{command[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    return {"wall": wall, "cpu": cpu, "statuses": {h["name"]: h["status"] for h in doc["hosts"]}, "doc": doc}


def remediate_rows(
    local_inv: Path, sited_inv: Path, tmp: Path, env: dict[str, str], workers: list[Any], args: Any
) -> dict[str, Any]:
    """Remediate locally, roll back locally, then the same through the engine (each
    rollback puts the fleet back as it was): wall and CPU per host of each."""
    n = args.hosts
    forks = ["--forks", str(args.forks)]
    site_forks = ["--forks", str(max(1, args.forks // args.sites)), "--engine", "celery"]
    rows: dict[str, Any] = {}
    statuses: dict[str, dict[str, str]] = {}
    for name, inv, extra in (("local", local_inv, forks), ("celery", sited_inv, site_forks)):
        journal = tmp / f"remediate-{name}.jsonl"
        for verb, command in (
            ("remediate", ["remediate", "-i", str(inv), "--yes", "--journal", str(journal), *extra]),
            ("rollback", ["rollback", "--journal", str(journal), "-i", str(inv), "--yes", *extra]),
        ):
            print(f"running {verb} {name} ...", file=sys.stderr, flush=True)
            w0 = sum(proc_cpu(w.pid) for w in workers)
            run = measure(command, tmp / f"{verb}-{name}.json", env)
            row = {"wall_s": round(run["wall"], 2), "cpu_ms_per_host": round(run["cpu"] * 1000 / n, 2)}
            if name == "celery":
                row["workers_cpu_ms_per_host"] = round(
                    (sum(proc_cpu(w.pid) for w in workers) - w0) * 1000 / n, 2
                )
            rows[f"{verb}_{name}"] = row
            statuses[f"{verb}_{name}"] = run["statuses"]
    rows["same_statuses"] = (
        statuses["remediate_local"] == statuses["remediate_celery"]
        and statuses["rollback_local"] == statuses["rollback_celery"]
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--sites", type=int, default=4)
    p.add_argument("--lab-workers", type=int, default=2, help="lab worker processes (default 2)")
    p.add_argument("--latency-ms", type=int, default=20)
    p.add_argument("--pool-open-ms", type=int, default=100)
    p.add_argument("--forks", type=int, default=256)
    p.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="psfleet worker --processes (default 1: the site workers share this machine's cores)",
    )
    p.add_argument(
        "--remediate",
        action="store_true",
        help="also remediate (and roll back) the fleet locally and through the engine",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from tests.support.redis import RedisServer, redis_available
    from toolkit.engine.tasks import results_key
    from toolkit.engine.wire import result_to_wire
    from toolkit.lab.fleet import Fleet
    from toolkit.lab.spec import spec_from_args

    why = redis_available()
    if why:
        print(f"bench_scaleout: {why}", file=sys.stderr)
        return 2
    spec = spec_from_args(
        args.hosts, "mixed", password=PASSWORD, latency_ms=args.latency_ms, pool_open_ms=args.pool_open_ms
    )
    with tempfile.TemporaryDirectory(prefix="psfleet-scaleout-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "redis").mkdir()
        server = RedisServer(tmp / "redis")
        server.start()
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with Fleet(spec, addressing="port", workers=args.lab_workers, workdir=tmp / "lab") as lab:
                local_inv, sited_inv = tmp / "local.yml", tmp / "sited.yml"
                write_inventory(lab, local_inv, None)
                write_inventory(lab, sited_inv, args.sites)
                env = dict(
                    os.environ,
                    BENCH_PASSWORD=PASSWORD,
                    PSFLEET_BROKER=server.url,
                    PSFLEET_CONFIG="",
                    PSFLEET_STATE_DIR=str(tmp / "state"),
                )
                for s in range(args.sites):
                    workers.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                *("-m", "toolkit.cli", "worker", "--site", f"s{s}"),
                                *("--processes", str(args.worker_processes)),
                            ],
                            env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=(tmp / f"worker-s{s}.log").open("wb"),
                        )
                    )
                from tests.integration.engine.conftest import wait_for_sites

                wait_for_sites(server.url, [f"s{s}" for s in range(args.sites)], timeout=60)
                forks = ["--forks", str(args.forks)]
                print("running local ...", file=sys.stderr, flush=True)
                local = audit(local_inv, tmp / "local.json", env, forks)
                print("running celery ...", file=sys.stderr, flush=True)
                w0 = sum(proc_cpu(w.pid) for w in workers)
                mem0 = server.used_memory()
                # The same hosts in flight in total: --forks is per site through the engine.
                site_forks = ["--forks", str(max(1, args.forks // args.sites))]
                engine = audit(sited_inv, tmp / "celery.json", env, [*site_forks, "--engine", "celery"])
                workers_cpu = sum(proc_cpu(w.pid) for w in workers) - w0
                mem_after_run = server.used_memory()
                # Redis memory per 1,000 results: the records workers stream, held in one list.
                import redis

                from toolkit.engine.wire import result_from_wire

                client = redis.Redis.from_url(server.url)
                key = results_key("bench-memory")
                records = [
                    json.dumps({"index": i, "site": "s0", "result": result_to_wire(result_from_wire(h))})
                    for i, h in enumerate(engine["doc"]["hosts"])
                ]
                before = server.used_memory()
                client.rpush(key, *records)
                per_1000 = (server.used_memory() - before) * 1000 / len(records)
                client.delete(key)
                client.close()
                if args.remediate:
                    remediation = remediate_rows(local_inv, sited_inv, tmp, env, workers, args)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
            server.stop()
    n = args.hosts
    same = local["statuses"] == engine["statuses"]
    if args.remediate:
        same = same and remediation.pop("same_statuses")
    overhead_cpu_ms = (engine["cpu"] + workers_cpu - local["cpu"]) * 1000 / n
    overhead_wall = (engine["wall"] - local["wall"]) / local["wall"]
    figures = {
        "hosts": n,
        "sites": args.sites,
        "cores": os.cpu_count(),
        "local": {"wall_s": round(local["wall"], 2), "cpu_ms_per_host": round(local["cpu"] * 1000 / n, 2)},
        "celery": {
            "wall_s": round(engine["wall"], 2),
            "controller_cpu_ms_per_host": round(engine["cpu"] * 1000 / n, 2),
            "workers_cpu_ms_per_host": round(workers_cpu * 1000 / n, 2),
        },
        "overhead": {"cpu_ms_per_host": round(overhead_cpu_ms, 2), "wall_pct": round(overhead_wall * 100, 1)},
        "redis_bytes_per_1000_results": int(per_1000),
        "redis_used_memory_delta_over_run": mem_after_run - mem0,
        **({"remediate": remediation} if args.remediate else {}),
        "same_statuses": same,
        "targets": {
            "cpu_le_2ms": overhead_cpu_ms <= 2.0,
            "wall_le_10pct": overhead_wall <= 0.10,
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{n} lab hosts, {args.sites} sites (one worker each), {os.cpu_count()} cores")
        print(
            f"  local : wall {figures['local']['wall_s']} s, client CPU {figures['local']['cpu_ms_per_host']} ms/host"
        )
        c = figures["celery"]
        print(
            f"  celery: wall {c['wall_s']} s, controller CPU {c['controller_cpu_ms_per_host']} ms/host, "
            f"workers CPU {c['workers_cpu_ms_per_host']} ms/host"
        )
        o = figures["overhead"]
        print(
            f"  engine overhead: {o['cpu_ms_per_host']} ms CPU/host "
            f"({'met' if figures['targets']['cpu_le_2ms'] else 'MISSED'} <= 2 ms), "
            f"wall {o['wall_pct']:+}% ({'met' if figures['targets']['wall_le_10pct'] else 'MISSED'} <= 10%)"
        )
        print(
            f"  Redis memory per 1,000 host results: {figures['redis_bytes_per_1000_results'] / 1024:.0f} KiB"
        )
        if args.remediate:
            for row, r in remediation.items():
                workers_text = (
                    f", workers CPU {r['workers_cpu_ms_per_host']} ms/host"
                    if "workers_cpu_ms_per_host" in r
                    else ""
                )
                print(
                    f"  {row}: wall {r['wall_s']} s, controller CPU {r['cpu_ms_per_host']} ms/host{workers_text}"
                )
        print(f"  same statuses: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
