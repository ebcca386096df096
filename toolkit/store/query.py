"""Reading the store back: runs with their counts, one host's timeline, two runs compared,
and the aggregates the HTML report draws. Everything returned is plain data (dataclasses and
dicts) for :mod:`toolkit.report` to render.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select

from toolkit.errors import UsageError
from toolkit.store.db import Store
from toolkit.store.schema import changes, check_results, host_results, runs

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Host statuses that mean the host was assessed (anything else: not reached or not run).
ASSESSED = frozenset({"compliant", "drift"})


def parse_since(text: str | None, *, now: datetime | None = None, option: str = "--since") -> str | None:
    """``30d``, ``12h``, ``2w``, ``90m`` or an ISO date/time -> the ISO UTC timestamp it means
    (None for None). Raises :class:`UsageError` otherwise."""
    if text is None or not text.strip():
        return None
    match = _SINCE.match(text)
    now = now or datetime.now(UTC)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return (now - timedelta(**{_UNITS[unit]: amount})).isoformat(timespec="seconds")
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{text!r} is not a duration (30d, 12h, 2w, 90m) or an ISO date", field=option
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunInfo:
    """One recorded run and its counts (host statuses, or one check's verdicts)."""

    id: int
    uid: str
    kind: str
    mode: str
    started: str
    finished: str
    inventory: str
    operator: str
    exit_code: int
    interrupted: bool
    hosts: int
    counts: dict[str, int]
    changes: dict[str, int] = field(default_factory=dict)
    journal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_info(row: Any, counts: Mapping[str, int] | None = None, hosts: int | None = None) -> RunInfo:
    summary = json.loads(row.summary or "{}")
    host_counts = {k: int(v) for k, v in summary.get("hosts", {}).items() if k != "total" and v}
    return RunInfo(
        id=int(row.id),
        uid=str(row.uid),
        kind=str(row.kind),
        mode=str(row.mode or ""),
        started=str(row.started),
        finished=str(row.finished),
        inventory=str(row.inventory),
        operator=str(row.operator or ""),
        exit_code=int(row.exit_code),
        interrupted=bool(row.interrupted),
        hosts=int(row.hosts_total) if hosts is None else hosts,
        counts=dict(counts) if counts is not None else host_counts,
        changes={k: int(v) for k, v in (summary.get("changes") or {}).items() if v},
        journal=row.journal,
    )


def _runs_query(*, since: str | None, kinds: Sequence[str] = (), inventory: str | None = None) -> Select[Any]:
    query = select(runs)
    if since:
        query = query.where(runs.c.started >= since)
    if kinds:
        query = query.where(runs.c.kind.in_(list(kinds)))
    if inventory:
        query = query.where(runs.c.inventory == inventory)
    return query.order_by(runs.c.started, runs.c.id)


def known_hosts(store: Store) -> dict[str, tuple[str, ...]]:
    """Every host name the store has seen, with the groups of its latest record."""
    latest = (
        select(host_results.c.host, func.max(host_results.c.id).label("last"))
        .group_by(host_results.c.host)
        .subquery()
    )
    query = select(host_results.c.host, host_results.c.groups).join(
        latest, latest.c.last == host_results.c.id
    )
    with store.read() as conn:
        return {row.host: tuple(json.loads(row.groups or "[]")) for row in conn.execute(query)}


def match_hosts(store: Store, patterns: Sequence[str]) -> list[str]:
    """Host names the ``--limit`` patterns select among the hosts recorded (names, groups,
    globs, ``~regex``, ``!``/``&``: the inventory's ``--limit`` rules)."""
    from toolkit.inventory.limit import apply_limit
    from toolkit.inventory.model import Host, Inventory

    hosts = known_hosts(store)
    members: dict[str, list[str]] = defaultdict(list)
    for name, groups in hosts.items():
        for group in groups:
            members[group].append(name)
    inv = Inventory(
        tuple(Host(name, "", groups=groups) for name, groups in hosts.items()),
        {g: tuple(m) for g, m in members.items()},
        "the store",
    )
    return [h.name for h in apply_limit(inv, list(patterns)).hosts]


def list_runs(
    store: Store,
    *,
    since: str | None = None,
    kinds: Sequence[str] = (),
    inventory: str | None = None,
    hosts: Sequence[str] | None = None,
    check: str | None = None,
    last: int | None = None,
) -> list[RunInfo]:
    """Runs (oldest first) with their counts: host statuses, restricted to ``hosts`` when
    given; with ``check``, that check's verdicts (compliant, drift, not_applicable...).
    ``last`` keeps only the newest N."""
    with store.read() as conn:
        rows = list(conn.execute(_runs_query(since=since, kinds=kinds, inventory=inventory)))
        if last is not None:
            rows = rows[-last:] if last > 0 else []
        if not rows or (hosts is None and check is None):
            return [_run_info(r) for r in rows]
        ids = [r.id for r in rows]
        table = check_results if check is not None else host_results
        conditions: list[ColumnElement[bool]] = [table.c.run_id.between(min(ids), max(ids))]
        if check is not None:
            conditions.append(check_results.c.check_id == check)
        if hosts is not None:
            conditions.append(table.c.host.in_(list(hosts)))
        # (run_id, status) counts only: the (check_id, run_id, status) index answers them
        # without reading a row (a year of daily 1,000-host audits: 0.07 s, not 0.4 s).
        query = (
            select(table.c.run_id, table.c.status, func.count().label("n"))
            .where(and_(*conditions))
            .group_by(table.c.run_id, table.c.status)
        )
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        totals: Counter[int] = Counter()
        for run_id, status, n in conn.execute(query):
            counts[run_id][status] = int(n)
            totals[run_id] += int(n)
    return [_run_info(r, counts.get(r.id, {}), totals.get(r.id, 0)) for r in rows]


#: Digits-only references shorter than this are run numbers only, never an id's prefix: a
#: remediation's run id starts with its date (``20261130T...``), while an audit's stored id is
#: random hex that "42" could begin - ``diff 42`` for a run that does not exist must not pick it.
MIN_DIGIT_PREFIX = 8


def find_run(store: Store, ref: str) -> RunInfo:
    """A run by its number (``12``, ``#12``) or its id (a remediation's run id, or a unique
    prefix of it; a prefix of digits only has at least :data:`MIN_DIGIT_PREFIX` of them).
    Raises :class:`UsageError`."""
    text = ref.strip().lstrip("#")
    with store.read() as conn:
        row = None
        if text.isdigit():
            row = conn.execute(select(runs).where(runs.c.id == int(text))).first()
        if row is None and text and not (text.isdigit() and len(text) < MIN_DIGIT_PREFIX):
            found = list(
                conn.execute(select(runs).where(runs.c.uid.startswith(text, autoescape=True)).limit(2))
            )
            if len(found) > 1:
                raise UsageError(f"run {ref!r} is ambiguous: give more of its id", field="RUN")
            row = found[0] if found else None
    if row is None:
        raise UsageError(f"no run {ref!r} in the store (psfleet history lists them)", field="RUN")
    return _run_info(row)


def last_two_audits(store: Store, *, inventory: str | None = None) -> tuple[RunInfo, RunInfo]:
    """The two newest audits of the same inventory (the newest audit's, unless given)."""
    with store.read() as conn:
        query = select(runs).where(runs.c.kind == "audit")
        if inventory:
            query = query.where(runs.c.inventory == inventory)
        newest = conn.execute(query.order_by(runs.c.started.desc(), runs.c.id.desc()).limit(1)).first()
        if newest is None:
            raise UsageError("no audit recorded yet: run psfleet audit first", field="RUN")
        before = conn.execute(
            select(runs)
            .where(runs.c.kind == "audit", runs.c.inventory == newest.inventory, runs.c.id != newest.id)
            .where(runs.c.started <= newest.started)
            .order_by(runs.c.started.desc(), runs.c.id.desc())
            .limit(1)
        ).first()
    if before is None:
        raise UsageError(
            f"only one audit of {newest.inventory} is recorded: nothing to compare it with", field="RUN"
        )
    return _run_info(before), _run_info(newest)


# --- one run's hosts ------------------------------------------------------------------------


@dataclass(frozen=True)
class HostState:
    name: str
    status: str
    os: str
    os_build: int | None
    groups: tuple[str, ...]
    site: str | None
    error: str
    checks: dict[str, dict[str, str]]  # check id -> {actual, status, expected, reason, rule}


def run_hosts(store: Store, run_id: int) -> dict[str, HostState]:
    """Every host of one run, with its checks."""
    with store.read() as conn:
        checks: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
        for c in conn.execute(select(check_results).where(check_results.c.run_id == run_id)):
            checks[c.host][c.check_id] = {
                "expected": c.expected or "",
                "actual": c.actual or "",
                "status": c.status,
                "reason": c.reason,
                "rule": c.rule,
            }
        out: dict[str, HostState] = {}
        for h in conn.execute(
            select(host_results).where(host_results.c.run_id == run_id).order_by(host_results.c.id)
        ):
            out[h.host] = HostState(
                name=h.host,
                status=h.status,
                os=h.os_display or "",
                os_build=h.os_build,
                groups=tuple(json.loads(h.groups or "[]")),
                site=json.loads(h.detail).get("site") if h.detail else None,
                error=f"{h.error_kind}: {h.error_message}" if h.error_kind else "",
                checks=checks.get(h.host, {}),
            )
    return out


# --- diff -----------------------------------------------------------------------------------

#: Diff categories, in display order; the first two mean "got worse".
CATEGORIES = ("drifted", "unreachable", "fixed", "back", "changed", "added", "removed")
WORSE = frozenset({"drifted", "unreachable"})


@dataclass(frozen=True)
class DiffEntry:
    category: str
    host: str
    check: str
    before: str
    after: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class RunDiff:
    a: RunInfo
    b: RunInfo
    entries: tuple[DiffEntry, ...]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(e.category for e in self.entries)
        return {c: found.get(c, 0) for c in CATEGORIES}

    @property
    def worse(self) -> bool:
        return any(e.category in WORSE for e in self.entries)

    @property
    def exit_code(self) -> int:
        """4 when something got worse (newly drifted or unreachable), else 0."""
        return 4 if self.worse else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "psfleet.diff/1",
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "counts": self.counts,
            "worse": self.worse,
            "exit_code": self.exit_code,
            "changes": [e.to_dict() for e in self.entries],
        }


def compare_runs(store: Store, a: RunInfo, b: RunInfo) -> RunDiff:
    """What changed from run ``a`` to run ``b``, host by host and check by check:

    - ``drifted``: a check compliant (or a host compliant) in ``a`` is drift in ``b``;
    - ``fixed``: drift in ``a``, compliant in ``b``;
    - ``unreachable``: assessed in ``a``, not in ``b`` (the status says why);
    - ``back``: not assessed in ``a``, assessed in ``b``;
    - ``changed``: same verdict, another value (``actual``);
    - ``added`` / ``removed``: a host in only one of the runs.
    """
    before, after = run_hosts(store, a.id), run_hosts(store, b.id)
    entries: list[DiffEntry] = []
    for name, new in after.items():
        old = before.get(name)
        if old is None:
            entries.append(DiffEntry("added", name, "", "", new.status))
            continue
        was_up, is_up = old.status in ASSESSED, new.status in ASSESSED
        if was_up and not is_up:
            entries.append(DiffEntry("unreachable", name, "", old.status, new.status, new.error))
            continue
        if not was_up and is_up:
            entries.append(DiffEntry("back", name, "", old.status, new.status))
        if not is_up:
            continue
        for check_id, check in new.checks.items():
            prior = old.checks.get(check_id)
            if prior is None:
                continue
            if prior["status"] != "drift" and check["status"] == "drift":
                entries.append(
                    DiffEntry("drifted", name, check_id, prior["actual"], check["actual"], check["reason"])
                )
            elif prior["status"] == "drift" and check["status"] != "drift":
                entries.append(
                    DiffEntry("fixed", name, check_id, prior["actual"], check["actual"], check["reason"])
                )
            elif prior["actual"] != check["actual"]:
                entries.append(
                    DiffEntry("changed", name, check_id, prior["actual"], check["actual"], check["reason"])
                )
    for name, old in before.items():
        if name not in after:
            entries.append(DiffEntry("removed", name, "", old.status, ""))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    entries.sort(key=lambda e: (order[e.category], e.host, e.check))
    return RunDiff(a, b, tuple(entries))


# --- one host over time -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    run: int
    kind: str
    mode: str
    started: str
    operator: str
    status: str
    checks: dict[str, dict[str, str]]
    changes: tuple[dict[str, Any], ...] = ()
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def host_timeline(store: Store, host: str, *, since: str | None = None) -> list[TimelineEntry]:
    """Every recorded run that touched ``host``, oldest first: its status and values, and the
    changes a remediation or rollback made (with the journal and the journal's run id)."""
    with store.read() as conn:
        query = (
            select(host_results, runs.c.kind, runs.c.mode, runs.c.started, runs.c.operator)
            .join(runs, runs.c.id == host_results.c.run_id)
            .where(host_results.c.host == host)
        )
        if since:
            query = query.where(runs.c.started >= since)
        rows = list(conn.execute(query.order_by(runs.c.started, runs.c.id)))
        if not rows:
            return []
        first = min(r.run_id for r in rows)
        checks: dict[int, dict[str, dict[str, str]]] = defaultdict(dict)
        for c in conn.execute(
            select(check_results).where(check_results.c.host == host, check_results.c.run_id >= first)
        ):
            checks[c.run_id][c.check_id] = {
                "status": c.status,
                "actual": c.actual or "",
                "outcome": c.outcome or "",
                "reason": c.reason,
                "rule": c.rule,
            }
        made: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for ch in conn.execute(select(changes).where(changes.c.host == host, changes.c.run_id >= first)):
            made[ch.run_id].append(
                {
                    "setting": ch.setting,
                    "before": _value(ch.before),
                    "after": _value(ch.after),
                    "observed": _value(ch.observed),
                    "outcome": ch.outcome,
                    "journal": ch.journal,
                    "journal_run_id": ch.journal_run_id,
                }
            )
    return [
        TimelineEntry(
            run=r.run_id,
            kind=r.kind,
            mode=r.mode or "",
            started=r.started,
            operator=r.operator or "",
            status=r.status,
            checks=checks.get(r.run_id, {}),
            changes=tuple(made.get(r.run_id, ())),
            error=f"{r.error_kind}: {r.error_message}" if r.error_kind else "",
        )
        for r in rows
    ]


def _value(text: str | None) -> str:
    """A stored registry value as people read it: ``1 (DWord)``, ``absent``."""
    if text is None:
        return ""
    data = json.loads(text)
    if not isinstance(data, dict):
        return str(data)
    if data.get("kind") is None:
        return "absent"
    return f"{data.get('value')} ({data.get('kind')})"
