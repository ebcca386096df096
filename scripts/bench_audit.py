#!/usr/bin/env python3
"""Benchmark: psfleet's audit of a lab fleet against what a user would write with pypsrp.

One run starts a lab fleet in its own worker process(es) (``auth: negotiate`` as real
inventories say, answered with NTLM inside and WinRM message encryption, a latency per HTTP
response and a delay per runspace-pool open, as real Windows has), then runs each contender
in a child process of its own so CPU and memory are measured per contender (the whole
process tree: psfleet's worker processes included):

1. ``cli-negotiate``: ``psfleet audit -i INVENTORY --format json -o FILE`` exactly as a user
   runs it (start-up, imports and worker start-up included), the inventory as the lab writes
   it (``auth: negotiate``, ``transport`` left at ``auto``);
2. ``cli-no-record``: the same with ``--no-record``: the run not recorded in the compliance
   store (issue 20: recording 1,000 host results on SQLite may add at most 5% to the wall
   time; ``cli-negotiate`` records into a SQLite file of the benchmark's own, never the
   user's store);
3. ``cli-ntlm``: the same as ``cli-negotiate`` with ``auth: ntlm`` in the inventory;
4. ``cli-kerberos`` (with ``--kerberos-hosts N``): the same against a second lab fleet of N
   hosts with Kerberos keys, a real MIT KDC (tests/support/kdc.py) and a ticket cache, no
   password anywhere;
5. ``api``: ``toolkit.api.audit`` (the public API) on the negotiate inventory, for the
   library's share of the CLI's figures;
6. ``sequential`` pypsrp: one RunspacePool per host, one after the other, on ``--sample``
   hosts, extrapolated to the fleet (the table says so);
7. ``threadpool``: a 32-worker ``ThreadPoolExecutor`` over the same pypsrp code (the usual
   fan-out), with the inventory's auth (negotiate).

and the floors for each: latency floor = per-host latency (pool open + latency x requests)
x hosts / concurrency; CPU floor = (client + lab CPU seconds) / cores.

Every contender reports what it read per host (OS build, UBR and the five SMB values with
their kinds); the benchmark checks they all read the same, otherwise the comparison is void
and the exit code is 1. The targets of issue 12, and issue 20's for recording, are checked at the
end (met / MISSED).

    python scripts/bench_audit.py                       # 1,000 hosts, default model
    python scripts/bench_audit.py --kerberos-hosts 120  # plus the Kerberos row
    python scripts/bench_audit.py --hosts 10000 --contenders cli-negotiate
    python scripts/bench_audit.py --hosts 200 --json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from toolkit.checks.probe import AUDIT_KEYS as KEYS  # noqa: E402 (needs ROOT on sys.path)

BASELINE_WORKERS = 32

#: What every contender must have read identically, per host.
FINGERPRINT_FIELDS = (
    "build",
    "ubr",
    "ws.RequireSecureNegotiate",
    "ws.RequireSecuritySignature",
    "ws.EnableSecuritySignature",
    "srv.RequireSecuritySignature",
    "srv.EnableSecuritySignature",
)


# --------------------------------------------------------------------------------------
# Contenders (each runs in a child process: ``--contender NAME``)
# --------------------------------------------------------------------------------------


def _quiet_kerberos() -> None:
    """With Kerberos libraries installed, pyspnego would first wait for the KDC of the default
    realm; lab hosts have none (tests/conftest.py does the same)."""
    if "KRB5_CONFIG" in os.environ:
        return
    fd, name = tempfile.mkstemp(prefix="psfleet-bench-krb5-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("[libdefaults]\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n")
    os.environ["KRB5_CONFIG"] = name


def _describe(value: Any) -> str:
    """A registry value as psfleet's RegValue.describe() prints it, from pypsrp's plain types
    (DWORD arrives as int, REG_SZ as str)."""
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return f"{value!r} (Boolean)"
    if isinstance(value, int):
        return f"{value & 0xFFFFFFFF} (DWord)"
    if isinstance(value, str):
        return f"{value!r} (String)"
    return f"{value!r} ({type(value).__name__})"


def _pypsrp_fingerprint(output: Sequence[Any]) -> dict[str, Any]:
    """What a pypsrp user reads from the three Get-ItemProperty objects."""
    by_key: dict[str, Mapping[str, Any]] = {}
    for obj in output:
        props = dict(getattr(obj, "adapted_properties", {}) or {})
        props.update(getattr(obj, "extended_properties", {}) or {})
        path = str(props.get("PSPath", "")).split("::", 1)[-1].replace("HKEY_LOCAL_MACHINE", "HKLM:")
        for key in KEYS:
            if path.lower() == key.lower():
                by_key[key] = props
    cv, ws, srv = (by_key.get(k, {}) for k in KEYS)
    build = cv.get("CurrentBuild") or cv.get("CurrentBuildNumber")
    ubr = cv.get("UBR")
    return {
        "build": int(build) if build is not None else None,
        "ubr": int(ubr) if isinstance(ubr, int) else None,
        "ws.RequireSecureNegotiate": _describe(ws.get("RequireSecureNegotiate")),
        "ws.RequireSecuritySignature": _describe(ws.get("RequireSecuritySignature")),
        "ws.EnableSecuritySignature": _describe(ws.get("EnableSecuritySignature")),
        "srv.RequireSecuritySignature": _describe(srv.get("RequireSecuritySignature")),
        "srv.EnableSecuritySignature": _describe(srv.get("EnableSecuritySignature")),
    }


def _read_with_pypsrp(host: Mapping[str, Any]) -> dict[str, Any]:
    """The per-host code a competent pypsrp user writes: one pool, one pipeline of three
    Get-ItemProperty statements, everything closed."""
    from pypsrp.powershell import PowerShell, RunspacePool
    from pypsrp.wsman import WSMan

    wsman = WSMan(
        host["address"],
        port=host["port"],
        username=host["username"],
        password=host["password"],
        auth=host["auth"],
        ssl=False,
        cert_validation=False,
        connection_timeout=30,
        operation_timeout=20,
        read_timeout=30,
    )
    with wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        for key in KEYS:
            ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", key).add_statement()
        output = ps.invoke()
    return _pypsrp_fingerprint(output)


def _safe(fn: Callable[[Mapping[str, Any]], dict[str, Any]], host: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return fn(host)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}


def _fingerprint(build: Any, ubr: Any, checks: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The fingerprint fields from psfleet's OS build/UBR and its checks' (id, actual text)."""
    out: dict[str, Any] = {"build": build, "ubr": ubr}
    prefix = {"secure_negotiate": "ws", "client_signing": "ws", "server_signing": "srv"}
    for check_id, actual in checks:
        for part in actual.split("; "):
            name, sep, rest = part.partition("=")
            if not sep:
                continue
            rest = rest.removesuffix(", SMB1 only").removesuffix(" (key missing)")
            out[f"{prefix[check_id]}.{name}"] = rest
    return {k: out.get(k) for k in FINGERPRINT_FIELDS}


def _psfleet_fingerprint(result: Any) -> dict[str, Any]:
    """The same fields from a psfleet HostResult (its OS info and the checks' actual text)."""
    if result.os is None:
        return {"error": result.error.message if result.error else result.status.value}
    return _fingerprint(result.os.build, result.os.ubr, ((c.id, c.actual) for c in result.checks))


_UBR = re.compile(r"\((\d+)\.(\d+)\)")


def _json_fingerprint(host: Mapping[str, Any]) -> dict[str, Any]:
    """The same fields from a host of ``psfleet audit --format json`` (UBR from the OS's
    display text, ``Windows 8.1 (9600.21620)``)."""
    os_info = host.get("os")
    if not os_info:
        error = host.get("error") or {}
        return {"error": str(error.get("message") or host.get("status"))}
    match = _UBR.search(str(os_info.get("display", "")))
    ubr = int(match.group(2)) if match else None
    return _fingerprint(os_info.get("build"), ubr, ((c["id"], c["actual"]) for c in host["checks"]))


def psfleet_command() -> list[str]:
    """How a user starts psfleet: the installed ``psfleet`` script, else ``python -m``."""
    script = shutil.which("psfleet")
    return [script] if script else [sys.executable, "-m", "toolkit.cli"]


def _cpu_now() -> float:
    """CPU seconds of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _recorded_hosts() -> int | None:
    """Host results in the benchmark's store (``$PSFLEET_DB``, a SQLite file) for its last run;
    None when there is no store file."""
    import sqlite3

    path = os.environ.get("PSFLEET_DB", "")
    if not path or not Path(path).exists():
        return None
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM host_results WHERE run_id = (SELECT MAX(id) FROM runs)"
        ).fetchone()
    return int(row[0]) if row else 0


def run_contender(name: str, args: argparse.Namespace) -> dict[str, Any]:
    _quiet_kerberos()
    fleet = json.loads(Path(args.fleet_json).read_text())
    only = set(args.only.split(",")) if args.only else None
    hosts = [h for h in fleet if h["name"] in only] if only is not None else fleet
    read: dict[str, dict[str, Any]] = {}
    if name.startswith("cli-"):
        from toolkit.api import AUDIT_DEFAULT_FORKS

        out = Path(args.result).with_suffix(".audit.json")
        cmd = [*psfleet_command(), "audit", "-i", args.inventory, "--format", "json", "-o", str(out)]
        if args.forks:
            cmd += ["--forks", str(args.forks)]
        if name == "cli-no-record":
            cmd.append("--no-record")
        env = {**os.environ, "PSFLEET_NO_PROGRESS": "1"}
        cpu0, t0 = _cpu_now(), time.perf_counter()
        switches0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_nvcsw
        done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, check=False)
        wall, cpu = time.perf_counter() - t0, _cpu_now() - cpu0
        switches = resource.getrusage(resource.RUSAGE_CHILDREN).ru_nvcsw - switches0
        if done.returncode not in (0, 4, 8, 12):
            raise SystemExit(f"psfleet audit exited {done.returncode}")
        doc = json.loads(out.read_text())
        read = {h["name"]: _json_fingerprint(h) for h in doc["hosts"]}
        transports: dict[str, int] = {}
        for h in doc["hosts"]:
            key = str(h.get("transport")) + (" after fallback" if h.get("transport_fallback") else "")
            transports[key] = transports.get(key, 0) + 1
        concurrency = args.forks or AUDIT_DEFAULT_FORKS
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "hosts": len(read),
            "concurrency": concurrency,
            "read": read,
            "transports": transports,
            "recorded_hosts": _recorded_hosts(),
            # GIL hand-overs between the workers' host threads show up as these.
            "switches_per_host": switches / max(1, len(read)),
        }
    if name == "api":
        # The public API only: importing the CLI would add Typer to psfleet's peak RSS.
        from toolkit.api import AUDIT_DEFAULT_FORKS, audit
        from toolkit.fanout.runner import FanoutOptions
        from toolkit.inventory.credentials import resolve_credentials
        from toolkit.inventory.loader import load_inventory

        inv = load_inventory(args.inventory)
        credentials = resolve_credentials(inv.hosts, interactive=False)
        options = FanoutOptions(forks=args.forks or AUDIT_DEFAULT_FORKS)
        cpu0, t0 = _cpu_now(), time.perf_counter()
        run = audit(inv, credentials=credentials, options=options)
        wall, cpu = time.perf_counter() - t0, _cpu_now() - cpu0
        read = {h.name: _psfleet_fingerprint(h) for h in run.hosts}
        concurrency = options.forks
    elif name == "sequential":
        importlib.import_module("pypsrp.powershell")  # import cost is not per host

        cpu0, t0 = _cpu_now(), time.perf_counter()
        for h in hosts:
            read[h["name"]] = _safe(_read_with_pypsrp, h)
        wall, cpu = time.perf_counter() - t0, _cpu_now() - cpu0
        concurrency = 1
    elif name == "threadpool":
        importlib.import_module("pypsrp.powershell")

        cpu0, t0 = _cpu_now(), time.perf_counter()
        with ThreadPoolExecutor(max_workers=BASELINE_WORKERS) as pool:
            results = list(pool.map(lambda h: _safe(_read_with_pypsrp, h), hosts))
        wall, cpu = time.perf_counter() - t0, _cpu_now() - cpu0
        read = {h["name"]: r for h, r in zip(hosts, results, strict=True)}
        concurrency = BASELINE_WORKERS
    else:
        raise SystemExit(f"unknown contender {name}")
    return {"wall_s": wall, "cpu_s": cpu, "hosts": len(read), "concurrency": concurrency, "read": read}


# --------------------------------------------------------------------------------------
# The driver: lab, child processes, measurements
# --------------------------------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Row:
    name: str
    auth: str
    hosts: int
    measured_hosts: int
    wall_s: float
    extrapolated: bool
    requests_per_host: float
    client_cpu_ms_per_host: float
    lab_cpu_ms_per_host: float
    peak_rss_mb: float
    concurrency: int
    latency_floor_s: float = 0.0
    cpu_floor_s: float = 0.0
    errors: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def hosts_per_s(self) -> float:
        return self.hosts / self.wall_s if self.wall_s else 0.0

    @property
    def floor_s(self) -> float:
        return max(self.latency_floor_s, self.cpu_floor_s)


def _run_child(
    name: str,
    args: argparse.Namespace,
    paths: Mapping[str, str],
    only: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], float]:
    out = Path(paths["dir"]) / f"{name}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--contender",
        name,
        "--fleet-json",
        paths["fleet_json"],
        "--inventory",
        paths["inventory"],
        "--result",
        str(out),
        "--forks",
        str(args.forks or 0),
    ]
    only = list(only)
    if only:
        cmd += ["--only", ",".join(only)]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})})
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    if proc.returncode != 0:
        raise SystemExit(f"contender {name} failed (exit {proc.returncode})")
    return json.loads(out.read_text()), peak / 2**20


def _evenly(items: Sequence[Any], n: int) -> list[Any]:
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def measure(
    name: str,
    args: argparse.Namespace,
    lab: Any,
    paths: Mapping[str, str],
    hosts: list[str],
    *,
    auth: str,
    env: Mapping[str, str] | None = None,
) -> tuple[Row, dict[str, Any]]:
    sample = _evenly(hosts, args.sample) if name == "sequential" else hosts
    before = lab.stats()
    result, peak_mb = _run_child(name, args, paths, sample if name == "sequential" else (), env)
    after = lab.stats()
    measured = len(sample)
    requests = sum(after["requests"].get(h, 0) - before["requests"].get(h, 0) for h in sample)
    lab_cpu = after["cpu_s"] - before["cpu_s"]
    wall = result["wall_s"] * (len(hosts) / measured)
    req_per_host = requests / measured
    per_host_latency = (args.pool_open_ms + req_per_host * args.latency_ms) / 1000.0
    cores = os.cpu_count() or 1
    row = Row(
        name=name,
        auth=auth,
        hosts=len(hosts),
        measured_hosts=measured,
        wall_s=wall,
        extrapolated=measured != len(hosts),
        requests_per_host=req_per_host,
        client_cpu_ms_per_host=result["cpu_s"] * 1000 / measured,
        lab_cpu_ms_per_host=lab_cpu * 1000 / measured,
        peak_rss_mb=peak_mb,
        concurrency=result["concurrency"],
        latency_floor_s=per_host_latency * len(hosts) / min(result["concurrency"], len(hosts)),
        cpu_floor_s=(result["cpu_s"] + lab_cpu) * (len(hosts) / measured) / cores,
        errors=sum(1 for r in result["read"].values() if "error" in r),
    )
    if row.extrapolated:
        row.notes.append(f"measured on {measured} hosts, extrapolated to {len(hosts)}")
    if name.startswith("cli-"):
        recorded = result.get("recorded_hosts")
        row.notes.append(
            "not recorded (--no-record)"
            if name == "cli-no-record"
            else f"recorded in the compliance store (SQLite): {recorded} host results"
        )
    if result.get("transports"):
        served = ", ".join(f"{k}: {v}" for k, v in sorted(result["transports"].items()))
        row.notes.append(f"hosts served by transport: {served}")
    if "switches_per_host" in result:
        row.notes.append(
            f"{result['switches_per_host']:.0f} voluntary context switches per host (CLI and workers)"
        )
    return row, result["read"]


def compare_reads(reads: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Differences between contenders' reads on the hosts each of them read."""
    problems: list[str] = []
    names = list(reads)
    ref_name = names[0]
    ref = reads[ref_name]
    for other in names[1:]:
        for host, values in reads[other].items():
            if host not in ref:
                problems.append(f"{other} read {host}, {ref_name} did not")
            elif dict(values) != dict(ref[host]):
                problems.append(f"{host}: {ref_name} read {dict(ref[host])}, {other} read {dict(values)}")
    for name, r in reads.items():
        for host, values in r.items():
            if "error" in values:
                problems.append(f"{name} failed on {host}: {values['error']}")
    return problems


def render(rows: Sequence[Row], args: argparse.Namespace, checks: Mapping[str, Any]) -> str:
    head = (
        f"{'contender':<22}{'auth':<10}{'hosts':>6}{'wall s':>9}{'hosts/s':>9}{'req/host':>10}{'client CPU':>12}{'lab CPU':>9}"
        f"{'peak RSS':>10}{'conc':>6}{'lat floor':>11}{'CPU floor':>11}"
    )
    units = f"{'':<22}{'':<10}{'':>6}{'':>9}{'':>9}{'':>10}{'ms/host':>12}{'ms/host':>9}{'MB':>10}{'':>6}{'s':>11}{'s':>11}"
    lines = [
        f"{rows[0].hosts} hosts (mixed profiles), WinRM message encryption, {args.latency_ms} ms per HTTP "
        f"response, {args.pool_open_ms} ms per pool open, lab in {args.workers} process(es), "
        f"{os.cpu_count()} cores",
        head,
        units,
    ]
    for r in rows:
        label = r.name + (" *" if r.extrapolated else "")
        lines.append(
            f"{label:<22}{r.auth:<10}{r.hosts:>6}{r.wall_s:>9.2f}{r.hosts_per_s:>9.1f}{r.requests_per_host:>10.1f}"
            f"{r.client_cpu_ms_per_host:>12.1f}{r.lab_cpu_ms_per_host:>9.1f}{r.peak_rss_mb:>10.0f}"
            f"{r.concurrency:>6}{r.latency_floor_s:>11.2f}{r.cpu_floor_s:>11.2f}"
        )
    for r in rows:
        for note in r.notes:
            lines.append(f"* {r.name}: {note}")
    lines.append("")
    for key, value in checks["ratios"].items():
        lines.append(f"{key:<44} {value:>8.2f}")
    for target in checks.get("targets", []):
        lines.append(f"target {target}")
    lines.append(f"{'every contender read the same values':<44} {'yes' if checks['same_reads'] else 'NO'}")
    before, after = checks["load_average"]
    lines.append(f"{'machine load average (1 min) before/after':<44} {before:>4.1f} / {after:.1f}")
    for p in checks["problems"][:10]:
        lines.append(f"  ! {p}")
    return "\n".join(lines)


#: The reference row: what a user runs by default.
REFERENCE = "cli-negotiate"


def ratios(rows: Sequence[Row]) -> dict[str, float]:
    by = {r.name: r for r in rows}
    ps = by.get(REFERENCE) or by.get("api")
    if ps is None:
        return {}
    out: dict[str, float] = {}
    for base in ("threadpool", "sequential"):
        if base in by:
            out[f"speed-up {ps.name} vs {base} (wall)"] = by[base].wall_s / ps.wall_s
            out[f"client CPU/host {ps.name}/{base}"] = (
                ps.client_cpu_ms_per_host / by[base].client_cpu_ms_per_host
            )
    if REFERENCE in by and "cli-no-record" in by:
        bare = by["cli-no-record"]
        out["recording: wall added, % (cli-negotiate vs cli-no-record)"] = (
            by[REFERENCE].wall_s / bare.wall_s - 1
        ) * 100
        out["recording: client CPU added, ms/host"] = (
            by[REFERENCE].client_cpu_ms_per_host - bare.client_cpu_ms_per_host
        )
    for r in rows:
        if r.name.startswith(("cli-", "api")) and r.floor_s:
            out[f"{r.name} wall / larger floor"] = r.wall_s / r.floor_s
            out[f"{r.name} wall / CPU floor"] = r.wall_s / r.cpu_floor_s if r.cpu_floor_s else 0.0
    return out


def targets(rows: Sequence[Row]) -> list[str]:
    """Issue 12's targets for the default path (the CLI with negotiate) and issue 20's for recording
    (with the cli-no-record row), met or MISSED."""
    by = {r.name: r for r in rows}
    ref = by.get(REFERENCE)
    if ref is None:
        return []
    out: list[str] = []

    def check(label: str, ok: bool, figure: str) -> None:
        out.append(f"{label:<52} {figure:>14}  {'met' if ok else 'MISSED'}")

    if "threadpool" in by and ref.hosts < 5000:
        speed = by["threadpool"].wall_s / ref.wall_s
        check("negotiate >= 4x faster wall than the pypsrp pool", speed >= 4, f"{speed:.2f}x")
    check("client CPU <= 8 ms/host", ref.client_cpu_ms_per_host <= 8, f"{ref.client_cpu_ms_per_host:.1f} ms")
    check("<= 7 HTTP requests/host", ref.requests_per_host <= 7, f"{ref.requests_per_host:.1f}")
    limit = 400 if ref.hosts >= 5000 else 250
    check(
        f"peak client RSS (all processes) <= {limit} MB",
        ref.peak_rss_mb <= limit,
        f"{ref.peak_rss_mb:.0f} MB",
    )
    if "cli-no-record" in by:
        added = (ref.wall_s / by["cli-no-record"].wall_s - 1) * 100
        check(f"recording {ref.hosts:,} hosts (SQLite) adds <= 5% wall", added <= 5, f"{added:+.1f}%")
    if ref.hosts >= 5000 and ref.cpu_floor_s:
        ratio = ref.wall_s / ref.cpu_floor_s
        check("wall within 1.3x of the CPU floor", ratio <= 1.3, f"{ratio:.2f}x")
    return out


def _inventory_with_auth(source: Path, target: Path, auth: str) -> Path:
    """The lab's inventory with every host's ``auth`` set to ``auth``."""
    target.write_text(re.sub(r"(?m)^(\s+auth: )\S+$", rf"\g<1>{auth}", source.read_text()))
    return target


def _kerberos_rows(args: argparse.Namespace, tmp: Path) -> tuple[list[Row], dict[str, Any]]:
    """``cli-kerberos``: a fleet of ``--kerberos-hosts`` lab hosts with Kerberos keys, a real
    MIT KDC and the admin's ticket (no password in the inventory)."""
    from tests.support.kdc import start_kdc
    from toolkit.lab.fleet import Fleet
    from toolkit.lab.kerberos import KerberosLabConfig
    from toolkit.lab.spec import spec_from_args

    spec = spec_from_args(
        args.kerberos_hosts,
        "mixed",
        password="Bench-Lab-1!",
        auth="kerberos",
        latency_ms=args.latency_ms,
        pool_open_ms=args.pool_open_ms,
        prefix="krb",
    )
    names = [h.name for h in spec.hosts]
    kdc = start_kdc(tmp / "kdc", lab_hosts={f"{n}.psfleet.test": "127.0.0.1" for n in names})
    try:
        config = KerberosLabConfig(realm=kdc.realm, keytab=kdc.keytab)
        os.environ["KRB5RCACHEDIR"] = str(kdc.root)
        with Fleet(
            spec, addressing="port", workers=args.workers, workdir=tmp / "krb-lab", kerberos=config
        ) as lab:
            paths = {
                "dir": str(tmp),
                "fleet_json": str(tmp / "krb-fleet.json"),
                "inventory": str(tmp / "krb.yml"),
            }
            lab.write_fleet_json(Path(paths["fleet_json"]))
            lab.write_inventory(Path(paths["inventory"]))
            env = {k: v for k, v in kdc.environ.items() if k != "KRB5_KTNAME"}
            print("running cli-kerberos ...", file=sys.stderr, flush=True)
            row, read = measure(
                "cli-kerberos", args, lab, paths, [h.name for h in lab.hosts], auth="kerberos", env=env
            )
            return [row], {"cli-kerberos": read}
    finally:
        kdc.stop()


def _warm_up_cli(inventory: str, host: str, tmp: Path) -> None:
    """One untimed audit of one host, so that the first measured CLI row does not pay for a
    cold file cache that the next ones do not (the recording row compares two of them)."""
    out = tmp / "warm-up.json"
    cmd = [*psfleet_command(), "audit", "-i", inventory, "--limit", host, "--no-record"]
    cmd += ["--format", "json", "-o", str(out)]
    env = {**os.environ, "PSFLEET_NO_PROGRESS": "1"}
    subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)


def main_driver(args: argparse.Namespace) -> int:
    _quiet_kerberos()
    from toolkit.lab.fleet import Fleet
    from toolkit.lab.spec import spec_from_args

    spec = spec_from_args(
        args.hosts,
        "mixed",
        password="Bench-Lab-1!",
        latency_ms=args.latency_ms,
        pool_open_ms=args.pool_open_ms,
    )
    contenders = [c for c in args.contenders.split(",") if c]
    rows: list[Row] = []
    reads: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="psfleet-bench-") as tmp:
        # The CLI contenders record their runs (as a user's audit does) into a store of the
        # benchmark's own, never the user's.
        # The store is created (migrated) here: the row measures recording a run, not
        # creating a database, which a user's first run does once.
        os.environ["PSFLEET_DB"] = str(Path(tmp) / "store.db")
        from toolkit.store.db import open_store

        with open_store(os.environ["PSFLEET_DB"]):
            pass
        with Fleet(spec, addressing="port", workers=args.workers, workdir=Path(tmp) / "lab") as lab:
            paths = {
                "dir": tmp,
                "fleet_json": str(Path(tmp) / "fleet.json"),
                "inventory": str(Path(tmp) / "lab.yml"),
            }
            lab.write_fleet_json(Path(paths["fleet_json"]))
            lab.write_inventory(Path(paths["inventory"]))
            ntlm = _inventory_with_auth(Path(paths["inventory"]), Path(tmp) / "lab-ntlm.yml", "ntlm")
            names = [h.name for h in lab.hosts]
            if any(c.startswith("cli-") for c in contenders):
                _warm_up_cli(paths["inventory"], names[0], Path(tmp))
            for name in contenders:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                auth = "ntlm" if name == "cli-ntlm" else "negotiate"
                run_paths = {**paths, "inventory": str(ntlm)} if name == "cli-ntlm" else paths
                row, read = measure(name, args, lab, run_paths, names, auth=auth)
                rows.append(row)
                reads[name] = read
        if args.kerberos_hosts:
            krb_rows, krb_reads = _kerberos_rows(args, Path(tmp))
            rows += krb_rows
            reads_krb = krb_reads
        else:
            reads_krb = {}
        # Other work on the machine inflates wall times (not CPU per host): say how busy it was.
        load = (load_before, os.getloadavg()[0])
    problems = compare_reads(reads) if reads else []
    problems += [
        f"cli-kerberos failed on {h}: {v['error']}"
        for r in reads_krb.values()
        for h, v in r.items()
        if "error" in v
    ]
    checks = {
        "same_reads": not problems,
        "problems": problems,
        "ratios": ratios(rows),
        "targets": targets(rows),
        "load_average": load,
    }
    if args.json:
        doc = {
            "hosts": args.hosts,
            "kerberos_hosts": args.kerberos_hosts,
            "latency_ms": args.latency_ms,
            "pool_open_ms": args.pool_open_ms,
            "lab_workers": args.workers,
            "cores": os.cpu_count(),
            "rows": [asdict(r) | {"hosts_per_s": r.hosts_per_s, "floor_s": r.floor_s} for r in rows],
            **checks,
        }
        print(json.dumps(doc, indent=2))
    else:
        print(render(rows, args, checks))
    return 0 if not problems else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--hosts", type=int, default=1000, help="lab hosts (default 1000)")
    p.add_argument(
        "--sample", type=int, default=20, help="hosts the sequential baseline runs on (default 20)"
    )
    p.add_argument("--workers", type=int, default=2, help="lab worker processes (default 2)")
    p.add_argument(
        "--pool-open-ms", type=int, default=500, help="lab delay per runspace-pool open (default 500)"
    )
    p.add_argument("--latency-ms", type=int, default=20, help="lab latency per HTTP response (default 20)")
    p.add_argument("--forks", type=int, default=None, help="psfleet --forks (default: psfleet's default)")
    p.add_argument(
        "--contenders",
        default="cli-no-record,cli-negotiate,cli-ntlm,api,sequential,threadpool",
        help="comma-separated subset of cli-no-record, cli-negotiate, cli-ntlm, api, sequential, threadpool",
    )
    p.add_argument(
        "--kerberos-hosts",
        type=int,
        default=0,
        help="also run the cli-kerberos row on a fleet of N Kerberos hosts with a real KDC (default 0: no)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    # Internal: run one contender in this (child) process.
    p.add_argument("--contender", help=argparse.SUPPRESS)
    p.add_argument("--fleet-json", help=argparse.SUPPRESS)
    p.add_argument("--inventory", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--only", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.forks == 0:
        args.forks = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.contender:
        result = run_contender(args.contender, args)
        Path(args.result).write_text(json.dumps(result))
        return 0
    return main_driver(args)


if __name__ == "__main__":
    raise SystemExit(main())
