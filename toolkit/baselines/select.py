"""Which baselines a host is judged against: its inventory ``baselines:`` (host > group >
defaults), ``--baseline`` over it, else ``smb-validate-negotiate``.

Hosts carry baseline *specs* (shipped names, absolute file paths), so tasks stay small and
picklable; :func:`baselines_for` turns them into parsed baselines through a per-process
cache: a run parses each file once, not once per host.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.baselines.loader import DATA_DIR, BaselineError, resolve, resolve_all, shipped_names
from toolkit.baselines.model import Baseline

if TYPE_CHECKING:  # the inventory reads baselines; hosts are only looked at here
    from toolkit.inventory.model import Host, Inventory

_resolved: dict[tuple[str, ...], tuple[Baseline, ...]] = {}
_lock = threading.Lock()


def resolve_specs(specs: Sequence[str]) -> tuple[Baseline, ...]:
    """The baselines ``specs`` name (default when empty), parsed once per process."""
    key = tuple(specs)
    with _lock:
        found = _resolved.get(key)
    if found is None:
        found = resolve_all(key)
        with _lock:
            _resolved[key] = found
    return found


def baselines_for(host: Host) -> tuple[Baseline, ...]:
    """The baselines ``host`` is judged against."""
    return resolve_specs(host.baselines)


def normalize_specs(specs: Sequence[str]) -> tuple[str, ...]:
    """``--baseline`` values as hosts carry them: shipped names as they are, files as
    absolute paths (validated: raises :class:`toolkit.baselines.loader.BaselineError`)."""
    shipped = set(shipped_names())
    for spec in specs:
        resolve(spec)  # a mistyped name is told apart from a missing file
    out = tuple(s if s in shipped else str(Path(s).expanduser().resolve()) for s in specs)
    resolve_specs(out)
    return out


def with_baselines(inventory: Inventory, specs: Sequence[str] | None) -> Inventory:
    """``inventory`` with every host judged against ``specs`` (``--baseline``); unchanged
    when ``specs`` is empty."""
    if not specs:
        return inventory
    chosen = normalize_specs(specs)
    hosts = tuple(replace(h, baselines=chosen) for h in inventory.hosts)
    checks = {c.id: c for b in resolve_specs(chosen) for c in b.checks}
    for host in hosts:
        for check_id, state in host.policy.checks.items():
            check = checks.get(check_id)
            if check is not None and state not in check.states:
                where = f"{host.source.file}:{host.source.line}: " if host.source and host.source.line else ""
                raise BaselineError(
                    f"{where}host {host.name}: policy {check_id}: {state!r} is not a state of that check in "
                    f"the selected baselines ({', '.join(check.states)})",
                    field="--baseline",
                )
    return replace(inventory, hosts=hosts)


def recorded_spec(baseline: Baseline) -> str:
    """How journals name a baseline: its name when shipped, else its absolute path."""
    if baseline.shipped and Path(baseline.source).parent == DATA_DIR:
        return baseline.name
    return str(Path(baseline.source).resolve())
