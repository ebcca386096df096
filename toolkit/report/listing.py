"""Listings that are not runs: ``psfleet baseline list|show`` and ``psfleet inventory list``,
as ``table`` or ``json``, from the plain dicts the library gives
(:func:`toolkit.baselines.describe.baseline_summary` / ``baseline_dict``, one row per host).
Every output ends with a newline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from toolkit.report.tabular import text_table

#: ``inventory list`` table columns (besides groups and policy); JSON has every field.
HOST_COLUMNS = ("name", "address", "port", "scheme", "auth", "cert_validation", "username", "password_from")


def render_baseline_list(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """The shipped baselines: name, number of checks, description, digest."""
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    table = [(r["name"], len(r["checks"]), r["description"], r["sha256"][:12]) for r in rows]
    return text_table(table, ("name", "checks", "description", "sha256"), numbers=(1,)) + "\n"


def render_baseline(data: Mapping[str, Any], fmt: str) -> str:
    """One baseline: a title line, then each check's value, states, default, fix and fact."""
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    rows = []
    for check in data["checks"]:
        reg, smb = check["registry"], check["smb"]
        fixes = [c["command"] + f" ({c['when']})" for c in check["remediation"]["cmdlets"]]
        fixes.append(check["remediation"]["registry"] or f"Set-{smb['cmdlet'][4:]} -{smb['property']} -Force")
        where = (
            f"{reg['path']}\\{reg['name']} ({reg['kind']})" if reg else f"({smb['cmdlet']}).{smb['property']}"
        )
        rows.append(
            (
                check["id"],
                where,
                ", ".join(check["states"]),
                check["default_state"],
                "; ".join(fixes),
                check["references"]["facts"],
            )
        )
    title = f"{data['name']}: {data['description']} (sha256 {data['sha256'][:12]}, {data['source']})"
    return f"{title}\n" + text_table(rows, ("check", "value", "states", "default", "fix", "fact")) + "\n"


def render_hosts(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """``inventory list``: every field per host in JSON; the connection columns, groups and
    policy in the table."""
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    table = [
        [
            *(row[key] for key in HOST_COLUMNS),
            ",".join(row["groups"]),
            " ".join(f"{k}={v}" for k, v in row["policy"].items()),
        ]
        for row in rows
    ]
    headers = (*HOST_COLUMNS, "groups", "policy")
    return text_table(table, headers, numbers=(HOST_COLUMNS.index("port"),)) + "\n"
