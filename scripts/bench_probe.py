#!/usr/bin/env python3
"""Benchmark: ``psfleet probe smb`` against nmap's ``smb2-security-mode`` over the same lab hosts,
in the same run.

One run starts a lab fleet of ``--hosts`` hosts (mixed OS profiles, every third host with
LanmanServer RequireSecuritySignature = 1), each on its own loopback address (127.10.x.y)
answering SMB on one port (445 as root, ``--smb-port`` otherwise), served by lab worker
processes. Then, each in a child process of its own so wall time and CPU are measured per
contender (``os.wait4`` rusage: user + system seconds of the child and its threads):

1. ``psfleet probe smb --no-per-dialect --no-smb1 --no-identify --format json``: the question
   nmap asks (one NEGOTIATE offering every dialect);
2. ``nmap -Pn -n -sT -p PORT --script smb2-security-mode -iL targets -oX -`` (nmap's default
   timing);
3. ``psfleet probe smb`` with its defaults (also the anonymous session setup's NTLM challenge,
   one NEGOTIATE per dialect and the SMB1 NEGOTIATE: seven connections a host), unless
   ``--no-full``.

Every contender's answers (dialect and signing line per address) must be the same, else the
comparison is void and the exit code is 1. The ratio is nmap's wall time over psfleet's for
the same question (target: 5x or more).

    python scripts/bench_probe.py                  # 1,000 hosts
    python scripts/bench_probe.py --hosts 100 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.nmap import find_nmap, nmap_command, parse_smb2_security_mode  # noqa: E402
from toolkit.lab.fleet import Fleet  # noqa: E402
from toolkit.lab.profiles import PROFILE_NAMES  # noqa: E402
from toolkit.lab.spec import loads_spec  # noqa: E402

SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
TARGET_RATIO = 5.0


@dataclass
class Contender:
    name: str
    command: str
    wall_s: float
    cpu_s: float
    max_rss_mib: float
    exit_code: int
    #: psfleet only: wall time less the interpreter's start-up and psfleet's imports (measured
    #: by a child that only imports the CLI and the probe command).
    probe_phase_s: float | None = None
    answers: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def spec_text(hosts: int) -> str:
    lines = ["users:", "  - {name: admin, password: 'Bench-P@ss-2026', admin: true}", "hosts:"]
    for i in range(hosts):
        lines.append(f"  - name: h{i:05d}\n    profile: {PROFILE_NAMES[i % len(PROFILE_NAMES)]}")
        if i % 3 == 0:
            lines.append(
                f"    registry:\n      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}"
            )
    return "\n".join(lines) + "\n"


def run_child(name: str, argv: list[str], *, timeout: float) -> tuple[Contender, str]:
    """Run ``argv`` as a child; its wall time and its rusage (CPU, max RSS)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        if proc.returncode not in (0, 8):
            sys.stderr.write(err.read().decode("utf-8", "replace")[-2000:])
    contender = Contender(
        name,
        " ".join(argv),
        round(wall, 3),
        round(usage.ru_utime + usage.ru_stime, 3),
        round(usage.ru_maxrss / 1024, 1),
        proc.returncode,
    )
    return contender, stdout


def read_psfleet(contender: Contender, stdout: str) -> None:
    doc = json.loads(stdout)
    contender.answers = {h["address"]: (h["dialect"], h["signing"]) for h in doc["hosts"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="lab worker processes")
    parser.add_argument("--forks", type=int, default=64, help="psfleet --forks")
    parser.add_argument("--smb-port", type=int, default=445 if os.geteuid() == 0 else 4450)
    parser.add_argument("--timeout", type=float, default=3600, help="per contender, seconds")
    parser.add_argument("--no-full", action="store_true", help="skip psfleet's full (default) probe")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    args = parser.parse_args(argv)
    if find_nmap() is None:
        sys.stderr.write("bench_probe: nmap not installed (apt-get install -y nmap)\n")
        return 2

    spec = loads_spec(spec_text(args.hosts), "<bench spec>")
    with (
        tempfile.TemporaryDirectory(prefix="psfleet-bench-probe-") as tmp,
        Fleet(
            spec, addressing="ip", workers=args.workers, workdir=Path(tmp), smb_port=args.smb_port
        ) as fleet,
    ):
        inventory = Path(tmp) / "inventory.yml"
        fleet.write_inventory(inventory)
        targets = Path(tmp) / "targets.txt"
        targets.write_text("".join(f"{h.address}\n" for h in fleet.hosts))
        sys.stderr.write(f"bench_probe: {len(fleet.hosts)} lab hosts answering SMB on port {args.smb_port}\n")

        cli = "from toolkit.cli import main; main()"
        psfleet = [sys.executable, "-c", cli, "probe", "smb", "-i", str(inventory), "--format", "json"]
        psfleet += ["--forks", str(args.forks)]
        startup, _ = run_child(
            "start-up (imports)",
            [sys.executable, "-c", "import toolkit.cli, toolkit.cli.smb_cmd"],
            timeout=60,
        )
        same_question = [*psfleet, "--no-per-dialect", "--no-smb1", "--no-identify"]
        same, out = run_child("psfleet (same question)", same_question, timeout=args.timeout)
        read_psfleet(same, out)
        nmap, out = run_child(
            "nmap smb2-security-mode",
            nmap_command([], args.smb_port, target_file=str(targets)),
            timeout=args.timeout,
        )
        nmap.answers = {a: (s.dialect, s.text) for a, s in parse_smb2_security_mode(out).items()}
        contenders = [same, nmap]
        if not args.no_full:
            full, out = run_child("psfleet (full probe)", psfleet, timeout=args.timeout)
            read_psfleet(full, out)
            contenders.append(full)

    for c in contenders:
        if c is not nmap:
            c.probe_phase_s = round(max(0.0, c.wall_s - startup.wall_s), 3)
    reference = nmap.answers
    agree = all(c.answers == reference for c in contenders) and len(reference) == args.hosts
    differing = sorted(
        a for c in contenders for a in set(c.answers) | set(reference) if c.answers.get(a) != reference.get(a)
    )
    ratio = round(nmap.wall_s / same.wall_s, 2) if same.wall_s else None
    result: dict[str, Any] = {
        "hosts": args.hosts,
        "smb_port": args.smb_port,
        "lab_workers": args.workers,
        "cores": os.cpu_count(),
        "same_answers": agree,
        "differing_addresses": differing[:20],
        "speedup_wall": ratio,
        "speedup_cpu": round(nmap.cpu_s / same.cpu_s, 2) if same.cpu_s else None,
        "speedup_probe_phase": round(nmap.wall_s / same.probe_phase_s, 2) if same.probe_phase_s else None,
        "target": TARGET_RATIO,
        "psfleet_startup_wall_s": startup.wall_s,
        "contenders": [{k: v for k, v in asdict(c).items() if k != "answers"} for c in contenders],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{startup.name:28} wall {startup.wall_s:8.2f} s  cpu {startup.cpu_s:8.2f} s")
        for c in contenders:
            phase = f"  probe phase ~{c.probe_phase_s:.2f} s" if c.probe_phase_s is not None else ""
            print(
                f"{c.name:28} wall {c.wall_s:8.2f} s  cpu {c.cpu_s:8.2f} s  rss {c.max_rss_mib:7.1f} MiB"
                f"  exit {c.exit_code}{phase}"
            )
        print(
            f"same answers: {agree}; psfleet is {ratio}x faster than nmap (wall, same question, start-up "
            f"included; target {TARGET_RATIO}x); {result['speedup_probe_phase']}x on the probe phase alone"
        )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
