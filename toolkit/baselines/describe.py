"""Baselines as plain data for ``psfleet baseline list|show`` and the README's table of what
is checked (tests/unit/baselines/test_readme_table.py keeps that table equal to
:func:`readme_rows`)."""

from __future__ import annotations

from typing import Any

from toolkit.baselines.model import Baseline, BuildRange, Check, When
from toolkit.baselines.rules import anchor_of


def baseline_summary(baseline: Baseline) -> dict[str, Any]:
    """One line of ``baseline list``."""
    return {
        "name": baseline.name,
        "checks": list(baseline.ids),
        "description": baseline.description,
        "source": baseline.source,
        "sha256": baseline.digest,
        "shipped": baseline.shipped,
    }


def check_dict(check: Check) -> dict[str, Any]:
    """One check as ``baseline show --format json`` gives it."""
    return {
        "id": check.id,
        "title": check.title,
        "registry": None
        if check.smb_getter
        else {"path": check.path, "name": check.name, "kind": check.kind},
        "smb": {"cmdlet": check.smb_getter, "property": check.name, "type": check.smb_type}
        if check.smb_getter
        else None,
        "states": {
            s.name: {"expected": s.expected, "means": s.means, "value": s.value, "weakens": s.weakens}
            for s in check.states.values()
        },
        "default_state": check.default_state,
        "not_applicable": [{"when": when_text(n.when), "reason": n.reason} for n in check.not_applicable],
        "enforced": [{"when": when_text(e.when), "means": e.means} for e in check.enforced],
        "remediation": {
            "registry": None if check.smb_getter else f"Set-ItemProperty -Type {check.kind} -Force",
            "cmdlets": [
                {
                    "when": when_text(c.when),
                    "command": f"{c.cmdlet} -{c.parameter} {_argument(c.argument)} -Force",
                }
                for c in check.cmdlets
            ],
            "reconnect": check.reconnect,
            "reboot": check.reboot,
        },
        "guardrail": None
        if check.guardrail is None
        else {"builds": build_text(check.guardrail.builds), "needs": "--allow-insecure and --expires"},
        "references": {"facts": f"docs/windows-facts.md#{anchor_of(check.facts)}", "urls": list(check.urls)},
    }


def baseline_dict(baseline: Baseline) -> dict[str, Any]:
    """``baseline show --format json``."""
    return {**baseline_summary(baseline), "checks": [check_dict(c) for c in baseline.checks]}


def build_text(builds: BuildRange) -> str:
    if builds.unknown:
        return "unknown build"
    if builds.exact:
        return "builds " + ", ".join(str(b) for b in builds.exact)
    if builds.low is not None and builds.high is not None:
        return f"builds {builds.low}-{builds.high}"
    if builds.low is not None:
        return f"builds >= {builds.low}"
    if builds.high is not None:
        return f"builds <= {builds.high}"
    return "every build"


def when_text(when: When) -> str:
    text = build_text(when.builds)
    return f"{text}, {when.os}" if when.os else text


def readme_rows(baselines: list[Baseline]) -> list[str]:
    """The README's "What is checked" table, as Markdown lines."""
    lines = [
        "| Baseline | Check | Registry value | Desired states (default first) | Fact |",
        "|---|---|---|---|---|",
    ]
    for baseline in baselines:
        for check in baseline.checks:
            states = [check.default_state, *(s for s in check.states if s != check.default_state)]
            where = f"`{check.path.removeprefix(_SERVICES)}{_SEP}{check.name}` ({check.kind})"
            anchor = anchor_of(check.facts)
            lines.append(
                f"| {baseline.name} | `{check.id}` | {where} | {', '.join(states)} | "
                f"[{anchor}](docs/windows-facts.md#{anchor}) |"
            )
    return lines


_SERVICES = "HKLM:\\SYSTEM\\CurrentControlSet\\"
_SEP = "\\"


def _argument(value: bool | int | str) -> str:
    if isinstance(value, bool):
        return "$true" if value else "$false"
    return str(value)
