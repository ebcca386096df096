#!/usr/bin/env python3
"""Benchmark: how many WinRM requests the lab serves per second when saturated.

Starts a lab fleet in ``--workers`` processes (NTLM with WinRM message encryption, no added
latency) on 127.0.0.1 and hammers it from ``--clients`` client processes, in two phases,
each bounded by ``--duration`` seconds and ``--max-ops`` operations per client:

1. requests: each client opens one runspace pool per host it owns, then loops WS-Man Get on
   the shells (one encrypted HTTP request each, fully parsed and answered by the lab);
2. audit sessions: each client loops the toolkit's full audit session per host
   (``HostSession``: auth, open pool, the audit pipeline, close) as ``psfleet audit`` does.

Reported: requests/s, audit sessions/s, requests per session, lab CPU per request (from the
worker processes' own CPU time), and whether a 1,000-host audit (``--requests-per-host``
requests each) fits in ``--audit-window`` seconds with at least 2x headroom.

    python scripts/bench_lab.py                   # 1 lab worker, 2 client processes, 8 s per phase
    python scripts/bench_lab.py --workers 2 --clients 3 --json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.lab.fleet import Fleet
from toolkit.lab.server import POWERSHELL_RESOURCE
from toolkit.lab.spec import spec_from_args


def _wsman(host: dict[str, Any]) -> Any:
    from pypsrp.wsman import WSMan

    return WSMan(
        host["address"],
        port=host["port"],
        ssl=False,
        auth="ntlm",
        username=host["username"],
        password=host["password"],
        connection_timeout=10,
        read_timeout=30,
        operation_timeout=20,
    )


def _requests_client(
    hosts: list[dict[str, Any]], start_at: float, duration: float, max_ops: int
) -> dict[str, Any]:
    """Loop WS-Man Get on one open shell per host: one HTTP request per operation."""
    from pypsrp.powershell import RunspacePool
    from pypsrp.wsman import SelectorSet

    pools = []
    for host in hosts:
        pool = RunspacePool(_wsman(host))
        pool.open()
        selectors = SelectorSet()
        selectors.add_option("ShellId", str(pool.id).upper())
        pools.append((pool, selectors))
    time.sleep(max(0.0, start_at - time.time()))
    ops, t0 = 0, time.time()
    while ops < max_ops and time.time() - t0 < duration:
        pool, selectors = pools[ops % len(pools)]
        pool.connection.get(POWERSHELL_RESOURCE, selector_set=selectors)
        ops += 1
    t1 = time.time()
    for pool, _ in pools:
        pool.close()
    return {"ops": ops, "start": t0, "end": t1}


def _sessions_client(
    hosts: list[dict[str, Any]], start_at: float, duration: float, max_ops: int
) -> dict[str, Any]:
    """Loop the toolkit's audit session (open, audit pipeline, close) over the hosts."""
    from toolkit.checks.probe import AUDIT_STATEMENTS
    from toolkit.inventory.credentials import Credential
    from toolkit.inventory.model import Host, Transport
    from toolkit.transport.pypsrp_session import HostSession

    targets = [
        (
            Host(
                name=h["name"],
                address=h["address"],
                transport=Transport(scheme="http", port=h["port"], auth="ntlm"),
            ),
            Credential(h["username"], h["password"]),
        )
        for h in hosts
    ]
    time.sleep(max(0.0, start_at - time.time()))
    ops, failures, t0 = 0, 0, time.time()
    while ops < max_ops and time.time() - t0 < duration:
        host, cred = targets[ops % len(targets)]
        with HostSession(host, cred) as session:
            result = session.run(AUDIT_STATEMENTS)
        failures += bool(result.extra.get("failed"))
        ops += 1
    return {"ops": ops, "failures": failures, "start": t0, "end": time.time()}


def _run_client(
    kind: str, hosts: list[dict[str, Any]], start_at: float, duration: float, max_ops: int, out: Any
) -> None:
    fn = _requests_client if kind == "requests" else _sessions_client
    try:
        out.put(fn(hosts, start_at, duration, max_ops))
    except Exception as exc:  # reported, not raised: the parent decides
        out.put({"error": f"{type(exc).__name__}: {exc}"})


def run_phase(fleet: Fleet, kind: str, clients: int, duration: float, max_ops: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    hosts = [h.public_dict() for h in fleet.hosts]
    start_at = time.time() + 3.0  # clients import and open their pools before the clock starts
    procs = [
        ctx.Process(target=_run_client, args=(kind, hosts[i::clients], start_at, duration, max_ops, out))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    before = fleet.stats()
    results = [out.get(timeout=duration + 120) for _ in procs]
    after = fleet.stats()
    for p in procs:
        p.join(10)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"{kind} clients failed: {errors}")
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    ops = sum(r["ops"] for r in results)
    requests = after["total_requests"] - before["total_requests"]
    cpu = after["cpu_s"] - before["cpu_s"]
    return {
        "ops": ops,
        "elapsed_s": round(elapsed, 3),
        "ops_per_s": round(ops / elapsed, 1),
        # Lab-side counts include the pool opens/closes around the measured loop (requests
        # phase) so per-op figures use the lab's own request count for CPU.
        "lab_requests": requests,
        "lab_requests_per_s": round(requests / elapsed, 1),
        "lab_cpu_s": round(cpu, 3),
        "lab_cpu_ms_per_request": round(1000 * cpu / requests, 3) if requests else None,
        "failures": sum(r.get("failures", 0) for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=20, help="lab hosts (default 20)")
    parser.add_argument("--workers", type=int, default=1, help="lab worker processes (default 1)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase (default 8)")
    parser.add_argument("--max-ops", type=int, default=200_000, help="operations per client per phase")
    parser.add_argument("--requests-per-host", type=int, default=8, help="requests one host's audit costs")
    parser.add_argument(
        "--audit-window", type=float, default=60.0, help="seconds a 1,000-host audit may take"
    )
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.clients < 1 or args.hosts < args.clients:
        parser.error("need --workers >= 1, --clients >= 1 and --hosts >= --clients")

    spec = spec_from_args(args.hosts, "server2019")
    with Fleet(spec, addressing="port", workers=args.workers) as fleet:
        requests = run_phase(fleet, "requests", args.clients, args.duration, args.max_ops)
        sessions = run_phase(fleet, "sessions", args.clients, args.duration, args.max_ops)

    per_session = sessions["lab_requests"] / sessions["ops"] if sessions["ops"] else float("nan")
    requests_needed = round(1000 * max(per_session, args.requests_per_host))
    cpu_ms = sessions["lab_cpu_ms_per_request"] or 0.0
    lab_cpu_needed = requests_needed * cpu_ms / 1000
    # The lab is CPU-bound: its capacity is what its workers' share of the cores can do. On a
    # shared machine the measured rate is lower (clients compete for the same cores).
    lab_cores = min(args.workers, os.cpu_count() or 1)
    capacity_rps = 1000 * lab_cores / cpu_ms if cpu_ms else float("inf")
    headroom = args.audit_window * lab_cores / lab_cpu_needed if lab_cpu_needed else float("inf")
    report = {
        "config": {
            "hosts": args.hosts,
            "lab_workers": args.workers,
            "client_processes": args.clients,
            "duration_s": args.duration,
            "auth": "ntlm + WinRM message encryption over HTTP",
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "requests_phase": requests,
        "sessions_phase": sessions,
        "requests_per_s": requests["lab_requests_per_s"],
        "audit_sessions_per_s": sessions["ops_per_s"],
        "requests_per_session": round(per_session, 2),
        "lab_cpu_ms_per_request": {"get": requests["lab_cpu_ms_per_request"], "audit_mix": cpu_ms},
        "lab_capacity_requests_per_s": round(capacity_rps, 1),
        "thousand_hosts": {
            "requests": requests_needed,
            "lab_cpu_s": round(lab_cpu_needed, 1),
            "seconds_at_measured_rate": round(requests_needed / sessions["lab_requests_per_s"], 1)
            if sessions["lab_requests_per_s"]
            else None,
            "audit_window_s": args.audit_window,
            "headroom": round(headroom, 1),
            "served_with_room_to_spare": headroom >= 2.0,
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        t = report["thousand_hosts"]
        print(
            f"lab: {args.hosts} hosts, {args.workers} worker(s); {args.clients} client process(es) on loopback;"
            f" {os.cpu_count()} CPUs, load {report['config']['load_average_1m']}"
        )
        print(
            f"requests/s (WS-Man Get, saturated): {report['requests_per_s']}"
            f"  (lab CPU {requests['lab_cpu_ms_per_request']} ms/request)"
        )
        print(
            f"audit sessions/s: {report['audit_sessions_per_s']} ({report['requests_per_session']} requests each,"
            f" {sessions['lab_requests_per_s']} requests/s, lab CPU {cpu_ms} ms/request;"
            f" CPU-bound capacity {report['lab_capacity_requests_per_s']} requests/s)"
        )
        verdict = "served with room to spare" if t["served_with_room_to_spare"] else "NOT enough headroom"
        print(
            f"1,000-host audit: {t['requests']} requests, {t['lab_cpu_s']} s of lab CPU"
            f" ({t['seconds_at_measured_rate']} s at the measured rate); window {t['audit_window_s']} s"
            f" -> headroom {t['headroom']}x: {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
