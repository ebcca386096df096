"""Audit documents shaped as ``psfleet audit -f json`` writes them, and a writer process:
``python -m tests.integration.store.writers DB TAG RUNS HOSTS [lite]`` records RUNS audits of HOSTS
hosts into DB (a path or URL; the URL's password from the environment); with ``lite``, as the CLI
does: through sqlite3 (toolkit.store.lite) where it applies, else through SQLAlchemy."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

CHECKS = ("secure_negotiate", "client_signing", "server_signing")


def audit_document(
    hosts: int, *, started: datetime | None = None, drifted: set[str] = frozenset(), down: set[str] = frozenset(),
    inventory: str = "/etc/psfleet/fleet.yml", prefix: str = "host",
) -> dict[str, Any]:  # fmt: skip
    """An audit of ``hosts`` hosts named ``{prefix}-0000``...: ``drifted`` hosts have
    client_signing at 0, ``down`` ones are unreachable, the rest compliant."""
    start = started or datetime.now(UTC)
    docs = []
    for i in range(hosts):
        name = f"{prefix}-{i:04d}"
        if name in down:
            docs.append(
                {"name": name, "address": f"10.0.{i // 256}.{i % 256}", "status": "unreachable", "os": None,
                 "checks": [], "error": {"kind": "unreachable", "message": "connection refused"},
                 "duration_s": 0.01, "transport": "lean", "transport_fallback": None}
            )  # fmt: skip
            continue
        drift = name in drifted
        checks = []
        for check in CHECKS:
            bad = drift and check == "client_signing"
            checks.append(
                {
                    "id": check,
                    "expected": "required (1 (DWord))",
                    "actual": f"RequireSecuritySignature={0 if bad else 1} (DWord)",
                    "status": "drift" if bad else "compliant",
                    "reason": "DWORD 0: not required" if bad else "DWORD 1: required",
                    "rule": "windows-facts#signing-client-value",
                }
            )
        docs.append(
            {"name": name, "address": f"10.0.{i // 256}.{i % 256}", "status": "drift" if drift else "compliant",
             "os": {"product": "Windows Server 2019", "build": 17763, "display": "Windows Server 2019 (17763.1)"},
             "checks": checks, "error": None, "duration_s": 0.05, "transport": "lean", "transport_fallback": None}
        )  # fmt: skip
    statuses = [d["status"] for d in docs]
    summary = {s: statuses.count(s) for s in ("compliant", "drift", "unreachable")}
    summary["total"] = len(docs)
    return {
        "schema": "psfleet.audit/1",
        "run": {
            "started": start.isoformat(timespec="seconds"),
            "finished": (start + timedelta(seconds=5)).isoformat(timespec="seconds"),
            "inventory": inventory,
            "psfleet_version": "0.1.0",
            "interrupted": False,
            "exit_code": (4 if drifted else 0) | (8 if down else 0),
        },
        "summary": summary,
        "hosts": docs,
    }


def main(argv: list[str]) -> int:
    from toolkit.store import open_store
    from toolkit.store.lite import record_sqlite
    from toolkit.store.record import write_rows
    from toolkit.store.rows import run_rows

    db, tag, runs, hosts = argv[0], argv[1], int(argv[2]), int(argv[3])
    lite = argv[4:] == ["lite"]
    for n in range(runs):
        rows = run_rows(audit_document(hosts, inventory=f"/{tag}.yml"), kind="audit", operator=f"{tag}-{n}")
        if lite and record_sqlite(db, rows) is not None:
            continue
        with open_store(db) as store:  # a new process would open it each time: so do we
            write_rows(store, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
