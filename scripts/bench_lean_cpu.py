#!/usr/bin/env python3
"""Client CPU per host of the lean client (and of pypsrp, for comparison), library call only.

Starts a lab fleet of ``--hosts`` hosts in ``--workers`` processes on 127.0.0.1 (so the lab's
CPU is not this process's), then, for each auth kind, runs the audit's session on every host
one after the other in this process: open (authenticate, open the pool), the audit pipeline,
close. Reported per auth kind: this process's CPU time per host (``time.process_time``),
HTTP requests per host, and wall time. A first pass over a few hosts warms imports and the
per-process caches (message templates, NTLM hash) and is not counted.

``--kerberos`` also starts the MIT KDC test fixture (tests/support/kdc.py, needs krb5-kdc),
gives the lab hosts keytabs and measures ``auth: kerberos`` and ``auth: negotiate`` with a
ticket (the lab hosts are named by SPN, as in a domain).

    python scripts/bench_lean_cpu.py --hosts 200
    python scripts/bench_lean_cpu.py --hosts 120 --kerberos --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.checks.probe import AUDIT_STATEMENTS
from toolkit.inventory.model import Host, Transport
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

PASSWORD = "Adm1n-Lab!"
WARMUP = 5


@dataclass
class Cred:
    username: str | None
    password: str | None


def hosts_of(fleet: Fleet, auth: str) -> list[Host]:
    out = []
    for fh in fleet.hosts:
        transport = Transport(scheme="http", port=fh.port, auth=auth)  # type: ignore[arg-type]
        if fh.negotiate_hostname_override:
            transport = replace(
                transport,
                negotiate_service=fh.negotiate_service or "HTTP",
                negotiate_hostname_override=fh.negotiate_hostname_override,
            )
        out.append(Host(fh.name, fh.address, transport))
    return out


def measure(hosts: list[Host], cred: Cred, client: str) -> dict[str, Any]:
    from toolkit.transport.lean import LeanSession
    from toolkit.transport.pypsrp_session import HostSession

    def one(host: Host) -> int:
        if client == "lean":
            with LeanSession(host, cred) as session:
                result = session.run(AUDIT_STATEMENTS)
                requests = session._conn.requests if session._conn is not None else 0
            # Delete (the close) was sent after the count was read
            requests += 1
        else:
            with HostSession(host, cred) as session:
                result = session.run(AUDIT_STATEMENTS)
            requests = 0
        if len(result.output) != 3:
            raise SystemExit(f"{host.name}: unexpected answer {result}")
        return requests

    for host in hosts[:WARMUP]:
        one(host)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    requests = [one(host) for host in hosts]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "client": client,
        "hosts": len(hosts),
        "cpu_ms_per_host": round(cpu / len(hosts) * 1000, 2),
        "requests_per_host": round(sum(requests) / len(hosts), 2) if client == "lean" else None,
        "wall_s": round(wall, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--workers", type=int, default=1, help="lab worker processes (default 1)")
    p.add_argument(
        "--kerberos", action="store_true", help="also measure kerberos against the MIT KDC fixture"
    )
    p.add_argument("--pypsrp", action="store_true", help="also measure pypsrp (slow)")
    p.add_argument("--repeat", type=int, default=1, help="measure each auth kind this many times")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    rows: list[dict[str, Any]] = []
    spec = f"users:\n  - {{name: admin, password: '{PASSWORD}', admin: true}}\nhosts:\n"
    spec += f"  - {{name: h, profile: mixed, count: {args.hosts}}}\n"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("KRB5_CONFIG", str(Path(tmp) / "none.conf"))  # Debian's default realm: not here
        with Fleet(
            loads_spec(spec, "bench.yml"), addressing="port", workers=args.workers, workdir=Path(tmp) / "lab"
        ) as f:
            admin = Cred("admin", PASSWORD)
            for auth in ("ntlm", "negotiate") * args.repeat:
                rows.append({"auth": auth, **measure(hosts_of(f, auth), admin, "lean")})
                if args.pypsrp:
                    rows.append(
                        {"auth": auth, **measure(hosts_of(f, auth)[: min(args.hosts, 100)], admin, "pypsrp")}
                    )
        if args.kerberos:
            rows += kerberos_rows(args, Path(tmp))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'auth':<22}{'client':<8}{'hosts':>6}{'CPU ms/host':>13}{'requests/host':>15}{'wall s':>8}")
    for r in rows:
        req = "" if r["requests_per_host"] is None else f"{r['requests_per_host']:.1f}"
        print(
            f"{r['auth']:<22}{r['client']:<8}{r['hosts']:>6}{r['cpu_ms_per_host']:>13.2f}{req:>15}{r['wall_s']:>8.2f}"
        )


def kerberos_rows(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from tests.support.kdc import LAB_HOSTS, start_kdc
    from toolkit.lab.kerberos import KerberosLabConfig
    from toolkit.transport.lean import auth as lean_auth

    count = min(args.hosts, len(LAB_HOSTS) * 40)
    kdc = start_kdc(tmp / "kdc")
    try:
        for name, value in kdc.environ.items():
            if name != "KRB5_KTNAME":
                os.environ[name] = value
        os.environ["KRB5CCNAME"] = kdc.kinit(ccache=tmp / "admin.ccache")
        lean_auth.forget_tickets()
        fqdns = list(LAB_HOSTS)  # the KDC knows these names (their SPNs)
        names = [f"k-{i:03d}" for i in range(count)]
        hostnames = {n: fqdns[i % len(fqdns)] for i, n in enumerate(names)}
        keytab = kdc.host_keytab(fqdns[0], tmp / "all.keytab")
        for fqdn in fqdns[1:]:
            kdc.host_keytab(fqdn, tmp / "all.keytab")
        config = KerberosLabConfig(realm=kdc.realm, hostnames=hostnames, keytab=keytab)
        spec = f"users:\n  - {{name: LAB\\admin, password: '{PASSWORD}', admin: true}}\nhosts:\n"
        spec += "".join(f"  - {{name: {n}, profile: server2019, auth: kerberos}}\n" for n in names)
        rows = []
        with Fleet(
            loads_spec(spec, "krb.yml"),
            addressing="port",
            workers=args.workers,
            workdir=tmp / "klab",
            kerberos=config,
        ) as f:
            for auth in ("kerberos", "negotiate"):
                row = measure(hosts_of(f, auth), Cred(None, None), "lean")
                rows.append({"auth": f"{auth} (ticket)", **row})
        return rows
    finally:
        kdc.stop()


if __name__ == "__main__":
    main()
