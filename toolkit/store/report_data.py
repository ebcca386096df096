"""What the HTML report shows, gathered from the store as plain data (a dict of lists and
numbers that :func:`toolkit.report.html.render_html` reads; JSON-serializable).

One inventory's audits in a window: per run and check, the verdict counts (the trend); the
newest audit's hosts with their verdicts, reasons and rules; the fleet by OS build and
status; sites and groups ranked by their share of hosts drifted or not assessed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select

from toolkit.results import utc_now
from toolkit.store.db import Store
from toolkit.store.query import ASSESSED, run_hosts
from toolkit.store.schema import check_results, runs


def report_data(store: Store, *, since: str | None, inventory: str | None = None) -> dict[str, Any]:
    """The report's data for the audits of ``inventory`` (default: the newest audit's)
    started since ``since``. ``runs`` is empty when there are none."""
    with store.read() as conn:
        query = select(runs).where(runs.c.kind == "audit")
        if since:
            query = query.where(runs.c.started >= since)
        if inventory is None:
            newest = conn.execute(query.order_by(runs.c.started.desc(), runs.c.id.desc()).limit(1)).first()
            if newest is None:
                return {"runs": [], "hosts": []}
            inventory = str(newest.inventory)
        rows = list(
            conn.execute(query.where(runs.c.inventory == inventory).order_by(runs.c.started, runs.c.id))
        )
        if not rows:
            return {"runs": [], "hosts": []}
        ids = [r.id for r in rows]
        per_check: dict[str, dict[int, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        counts = (
            select(check_results.c.check_id, check_results.c.run_id, check_results.c.status, func.count())
            .where(check_results.c.run_id.between(min(ids), max(ids)))
            .group_by(check_results.c.check_id, check_results.c.run_id, check_results.c.status)
        )
        wanted = set(ids)
        for check_id, run_id, status, n in conn.execute(counts):
            if run_id in wanted:
                per_check[check_id][run_id][status] += int(n)
    run_list = []
    for r in rows:
        summary = json.loads(r.summary or "{}").get("hosts", {})
        run_list.append(
            {
                "id": int(r.id),
                "started": str(r.started),
                "hosts": int(r.hosts_total),
                "compliant": int(summary.get("compliant", 0)),
                "drift": int(summary.get("drift", 0)),
                "unassessed": int(r.hosts_total)
                - int(summary.get("compliant", 0))
                - int(summary.get("drift", 0)),
                "operator": str(r.operator or ""),
            }
        )
    trend = {
        check_id: [
            {
                "run": run_id,
                "compliant": by_run.get(run_id, Counter()).get("compliant", 0),
                "drift": by_run.get(run_id, Counter()).get("drift", 0),
                "not_applicable": by_run.get(run_id, Counter()).get("not_applicable", 0),
            }
            for run_id in ids
        ]
        for check_id, by_run in per_check.items()
    }
    latest = rows[-1]
    hosts = run_hosts(store, int(latest.id))
    host_list = [
        {
            "name": h.name,
            "status": h.status,
            "os": h.os,
            "os_build": h.os_build,
            "groups": list(h.groups),
            "site": h.site,
            "error": h.error,
            "checks": [{"id": cid, **c} for cid, c in h.checks.items()],
        }
        for h in hosts.values()
    ]
    by_os: dict[tuple[int | None, str], Counter[str]] = defaultdict(Counter)
    for h in hosts.values():
        by_os[(h.os_build, _os_name(h.os))][h.status] += 1
    os_rows = [
        {"build": build, "os": name, "counts": dict(c), "total": sum(c.values())}
        for (build, name), c in sorted(
            by_os.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or 0, kv[0][1])
        )
    ]
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for h in hosts.values():
        for g in h.groups or ("(no group)",):
            groups[("group", g)][h.status] += 1
        if h.site:
            groups[("site", h.site)][h.status] += 1
    group_rows: list[dict[str, Any]] = []
    for (kind, g), c in groups.items():
        total = sum(c.values())
        bad = total - c.get("compliant", 0)
        group_rows.append(
            {
                "kind": kind,
                "group": g,
                "hosts": total,
                "compliant": c.get("compliant", 0),
                "drift": c.get("drift", 0),
                "unassessed": total - sum(c.get(s, 0) for s in ASSESSED),
                "bad_share": round(bad / total, 4) if total else 0.0,
            }
        )
    group_rows.sort(key=lambda g: (-g["bad_share"], -g["hosts"], g["group"]))
    return {
        "schema": "psfleet.report/1",
        "generated": utc_now(),
        "inventory": inventory,
        "since": since,
        "runs": run_list,
        "trend": trend,
        "latest": {
            "id": int(latest.id),
            "started": str(latest.started),
            "operator": str(latest.operator or ""),
        },
        "hosts": host_list,
        "by_os": os_rows,
        "groups": group_rows,
    }


def _os_name(display: str) -> str:
    """``Windows Server 2019 (17763.6893)`` -> ``Windows Server 2019``."""
    return display.split(" (", 1)[0] if display else "unknown"
