"""``psfleet history``, ``psfleet diff`` and ``psfleet report``: asking the compliance store.

Every audit, remediation, rollback and probe run is recorded (``--no-record`` opts out); these
commands read it back. Exit codes: ``history`` and ``report`` 0 (2 for bad options, 1 when
the store cannot be read); ``diff`` 0 nothing got worse, 4 something got worse (a host or
check newly drifted, or a host became unreachable), 2 bad options or unknown run, 1 store
unreadable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolkit.cli.options import LIMIT_HELP
from toolkit.cli.record import DB_HELP, chosen_db
from toolkit.errors import PsfleetError, UsageError

if TYPE_CHECKING:
    from toolkit.store.db import Store

HISTORY_FORMATS = ("table", "json", "csv", "markdown")


class StoreUnreadable(PsfleetError):
    """The store cannot be opened or read. Exit code 1."""

    exit_code = 1


def _open(db: str | None) -> Store:
    from toolkit.store.db import StoreError, open_store

    try:
        return open_store(chosen_db(db))
    except StoreError as exc:
        raise StoreUnreadable(str(exc)) from None


def _inventory_choices(inventory: Path | None) -> list[str | None]:
    """The inventory as runs may have recorded it (as typed, or absolute); [None]: any."""
    if inventory is None:
        return [None]
    return list(dict.fromkeys([str(inventory), str(inventory.expanduser().resolve())]))


def _check_fmt(fmt: str) -> None:
    if fmt not in HISTORY_FORMATS:
        raise UsageError(
            f"unknown format {fmt!r}; choose one of: {', '.join(HISTORY_FORMATS)}", field="--format"
        )


def history_command(
    limit: list[str] = typer.Option([], "-l", "--limit", metavar="PATTERN", help=LIMIT_HELP),
    since: str | None = typer.Option(
        None, "--since", help="Only runs started since: 30d, 12h, 2w or an ISO date."
    ),
    check: str | None = typer.Option(
        None,
        "--check",
        metavar="ID",
        help="Count this check's verdicts (secure_negotiate, client_signing...).",
    ),
    host: str | None = typer.Option(
        None,
        "--host",
        metavar="NAME",
        help="This host's timeline: status, values, changes and who made them.",
    ),
    kind: list[str] = typer.Option(
        [],
        "--kind",
        metavar="KIND",
        help="Only runs of this kind: audit, remediate, rollback, probe (repeatable).",
    ),
    inventory: Path | None = typer.Option(
        None, "-i", "--inventory", help="Only runs of this inventory file."
    ),
    last: int = typer.Option(50, "--last", min=0, help="Show the newest N runs (0: all)."),
    fmt: str = typer.Option("table", "-f", "--format", help="table, json, csv or markdown."),
    db: str | None = typer.Option(None, "--db", metavar="PATH|URL", help=DB_HELP),
) -> None:
    """Recorded runs with their counts (oldest first), or one host's timeline (--host)."""
    _check_fmt(fmt)
    from toolkit.cli.common import emit
    from toolkit.report.history import render_history, render_timeline
    from toolkit.store.query import list_runs, match_hosts, parse_since
    from toolkit.store.record import KINDS

    for k in kind:
        if k not in KINDS:
            raise UsageError(f"unknown kind {k!r}; choose one of: {', '.join(KINDS)}", field="--kind")
    cutoff = parse_since(since)
    with _open(db) as store:
        if host is not None:
            from toolkit.store.query import host_timeline

            if limit or check:
                raise UsageError(
                    "has no effect with --host (the timeline is one host's)", field="--limit/--check"
                )
            emit(render_timeline(host, host_timeline(store, host, since=cutoff), fmt), None)
            raise typer.Exit(0)
        hosts = match_hosts(store, limit) if limit else None
        found = []
        for name in _inventory_choices(inventory):
            # Counted only for the runs shown: --check and --limit count host or check rows.
            found += list_runs(
                store, since=cutoff, kinds=kind, inventory=name, hosts=hosts, check=check, last=last or None
            )
        found.sort(key=lambda r: (r.started, r.id))
        if last:
            found = found[-last:]
    emit(render_history(found, fmt, check=check), None)
    raise typer.Exit(0)


def diff_command(
    run_a: str | None = typer.Argument(None, metavar="RUN_A", help="Older run: number (history) or run id."),
    run_b: str | None = typer.Argument(None, metavar="RUN_B", help="Newer run (default: the newest audit)."),
    inventory: Path | None = typer.Option(
        None, "-i", "--inventory", help="Without runs given: the last two audits of this inventory."
    ),
    fmt: str = typer.Option("table", "-f", "--format", help="table, json, csv or markdown."),
    db: str | None = typer.Option(None, "--db", metavar="PATH|URL", help=DB_HELP),
) -> None:
    """What changed between two runs (default: the last two audits of the same inventory):
    hosts newly drifted, fixed, unreachable or back, values changed. Exit 4 if anything got
    worse, else 0."""
    _check_fmt(fmt)
    from toolkit.cli.common import emit, say
    from toolkit.report.history import diff_summary, render_diff
    from toolkit.store.query import compare_runs, find_run, last_two_audits

    with _open(db) as store:
        if run_a is not None and run_b is not None:
            a, b = find_run(store, run_a), find_run(store, run_b)
        elif run_a is not None:  # one run: compare it with the newest audit of its inventory
            a = find_run(store, run_a)
            _, b = last_two_audits(store, inventory=a.inventory)
        else:
            names = _inventory_choices(inventory)
            pair = None
            for n, name in enumerate(names, 1):
                try:
                    pair = last_two_audits(store, inventory=name)
                    break
                except UsageError:
                    if n == len(names):
                        raise
            assert pair is not None
            a, b = pair
        diff = compare_runs(store, a, b)
    emit(render_diff(diff, fmt), None)
    if fmt in ("json", "csv"):
        say(diff_summary(diff))
    raise typer.Exit(diff.exit_code)


def report_command(
    html: Path = typer.Option(
        ..., "--html", metavar="FILE", help="Write the report here (one self-contained file)."
    ),
    since: str = typer.Option("90d", "--since", help="Runs started since: 90d, 12w or an ISO date."),
    inventory: Path | None = typer.Option(
        None, "-i", "--inventory", help="Audits of this inventory (default: the newest audit's)."
    ),
    facts_url: str = typer.Option(
        "docs/windows-facts.md",
        "--facts-url",
        help="Where the report links each verdict's rule (docs/windows-facts.md, or its URL on your server).",
    ),
    db: str | None = typer.Option(None, "--db", metavar="PATH|URL", help=DB_HELP),
) -> None:
    """An HTML page of the fleet's compliance over time: trend per check, fleet by OS build and
    status, worst groups, and a sortable, filterable host table (no network needed to open it)."""
    from toolkit.atomic import write_atomic
    from toolkit.cli.common import say
    from toolkit.report.html import render_html
    from toolkit.store.query import parse_since
    from toolkit.store.report_data import report_data

    cutoff = parse_since(since)
    with _open(db) as store:
        data = None
        for name in _inventory_choices(inventory):
            data = report_data(store, since=cutoff, inventory=name)
            if data["runs"]:
                break
    assert data is not None
    if not data["runs"]:
        raise UsageError("no audit recorded in this window: run psfleet audit first", field="--since")
    write_atomic(html, render_html(data, facts_url=facts_url))
    say(f"wrote {html} ({len(data['hosts'])} hosts, {len(data['runs'])} audits)")
    raise typer.Exit(0)
