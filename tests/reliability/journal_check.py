"""Check a remediation journal against what the lab hosts hold.

The rule (toolkit/remediate/journal.py): an intent is fsynced before its write goes out, so
whatever happened to the client (SIGKILL included) every value that differs from before the
run has an intent naming it with its prior value. A completed run also has an outcome for
every intent, ``changed`` only where the host holds the written value, and a report that
shows every host whose write did not verify as not done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from toolkit.checks.facts import RegValue
from toolkit.remediate.journal import read_journal
from toolkit.remediate.model import SETTINGS

#: setting id -> (kind, data) or None, for one host
Snapshot = dict[str, "tuple[str, Any] | None"]
GetValue = Callable[[str, str], "tuple[str, Any] | None"]


def snapshot(get_value: GetValue) -> Snapshot:
    return {s.id: _norm(get_value(s.path, s.name)) for s in SETTINGS.values()}


def _norm(value: tuple[str, Any] | None) -> tuple[str, Any] | None:
    if value is None:
        return None
    kind, data = value
    return (kind, tuple(data) if isinstance(data, list) else data)


def _reg(value: RegValue) -> tuple[str, Any] | None:
    if value.kind is None:
        return None
    data = value.value
    return (value.kind, tuple(data) if isinstance(data, list) else data)


def verify_journal(
    journal: Path,
    before: Mapping[str, Snapshot],
    after: Mapping[str, Snapshot],
    *,
    complete: bool,
    report: Mapping[str, Any] | None = None,
) -> list[str]:
    """Problems found (empty: the journal accounts for every change on every host)."""
    problems: list[str] = []
    changed = {(h, s) for h in before for s in before[h] if before[h][s] != after[h][s]}
    if not journal.exists():
        if changed:
            problems.append(f"no journal, but {len(changed)} values changed: {sorted(changed)[:5]}")
        return problems
    parsed = read_journal(journal)
    intents = {(i.host, i.setting): i for i in parsed.intents}
    for host, setting in sorted(changed):
        intent = intents.get((host, setting))
        if intent is None:
            problems.append(f"{host} {setting}: changed {before[host][setting]} -> {after[host][setting]} "
                            "without an intent in the journal")  # fmt: skip
        elif _reg(intent.before) != before[host][setting]:
            problems.append(f"{host} {setting}: journal prior value {_reg(intent.before)} but the host "
                            f"held {before[host][setting]}")  # fmt: skip
        elif after[host][setting] != _reg(intent.after):
            problems.append(f"{host} {setting}: host holds {after[host][setting]}, neither the prior value "
                            f"nor the journaled write {_reg(intent.after)}")  # fmt: skip
    for (host, setting), intent in intents.items():
        if host in before and _reg(intent.before) != before[host][setting]:
            problems.append(f"{host} {setting}: intent prior value {_reg(intent.before)} is not what the "
                            f"host held ({before[host][setting]})")  # fmt: skip
        outcome = parsed.outcome_of(host, setting)
        if outcome == "changed" and host in after and after[host][setting] != _reg(intent.after):
            problems.append(f"{host} {setting}: journal says changed, host holds {after[host][setting]}")
        if complete and outcome is None:
            problems.append(f"{host} {setting}: intent without an outcome in a completed run")
    if complete and not parsed.ended:
        problems.append("completed run without an end record")
    if report is not None:
        status = {h["name"]: h["status"] for h in report.get("hosts", [])}
        for (host, setting), _ in intents.items():
            outcome = parsed.outcome_of(host, setting)
            if outcome not in ("changed", "restored") and status.get(host) == "compliant":
                problems.append(f"{host} {setting}: outcome {outcome} but the report says compliant")
    return problems
