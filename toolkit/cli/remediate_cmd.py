"""``psfleet remediate`` and ``psfleet rollback``: thin CLI over :mod:`toolkit.remediate`.

Machine output (the report) on stdout, everything for humans on stderr. Writing to hosts
needs a confirmation: a prompt on a terminal, else ``--yes`` (with ``--format json`` or
without a terminal the command refuses at once, exit 2, and never waits for input).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import typer

from toolkit.baselines.select import with_baselines
from toolkit.cli.common import (
    can_prompt,
    check_format,
    confirm,
    emit_report,
    progress_hooks,
    require_confirmation,
    say,
    setup_logging,
    show_progress,
    warn_insecure_transport,
)
from toolkit.cli.options import (
    BASELINE_HELP,
    LIMIT_HELP,
    TRANSPORT_HELP,
    complete_limit,
    complete_table_format,
    reject_table_format,
)
from toolkit.cli.record import db_option, no_record_option, record
from toolkit.engine.options import BROKER_HELP, ENGINE_HELP, engine_for
from toolkit.errors import JournalError
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.credentials import resolve_credentials
from toolkit.inventory.limit import apply_limit
from toolkit.inventory.loader import load_inventory
from toolkit.inventory.model import Inventory
from toolkit.remediate import (
    EFFECT_NOTE,
    RemediateOptions,
    RemediateRun,
    default_journal_path,
    default_rollback_journal,
    parse_batch,
    parse_expires,
    read_journal,
    workarounds_from_journals,
)
from toolkit.remediate.apply import plan, remediate
from toolkit.remediate.interrupt import interrupt_policy
from toolkit.remediate.journal import Journal, JournalWriteError
from toolkit.remediate.model import SETTINGS
from toolkit.remediate.options import DEFAULT_EXPIRY
from toolkit.remediate.plan import registry_write
from toolkit.remediate.rollback import host_mismatches, intents_by_host, rollback
from toolkit.report.model import summary_line
from toolkit.report.remediate import (
    Restore,
    blocked_lines,
    busy_lines,
    changes_table,
    confirm_question,
    restores_table,
    summary_text,
)
from toolkit.report.render import FORMATS, render
from toolkit.report.words import counted
from toolkit.transport.select import with_transport

DEFAULT_FORKS = 64


def register(app: typer.Typer) -> None:
    app.command("remediate")(remediate_command)
    app.command("rollback")(rollback_command)


def remediate_command(
    ctx: typer.Context,
    inventory: Path = typer.Option(
        ..., "-i", "--inventory", envvar="PSFLEET_INVENTORY", help="Inventory file."
    ),
    limit: list[str] = typer.Option([], "-l", "--limit", help=LIMIT_HELP, autocompletion=complete_limit),
    check: bool = typer.Option(False, "--check", help="Dry run: show the plan, write nothing. Exit 0 or 4."),
    only: list[str] = typer.Option(
        [],
        "--only",
        metavar="CHECK_ID",
        help="Only this check of the selected baselines (secure_negotiate, client_signing, "
        "server_signing, smb1_server...); repeatable.",
    ),
    allow_insecure: bool = typer.Option(
        False,
        "--allow-insecure",
        help="Allow disabling secure negotiate (policy: disabled; builds 9200/9600 only) "
        "as a temporary workaround.",
    ),
    expires: str = typer.Option(
        DEFAULT_EXPIRY,
        "--expires",
        help="Expiry of a --allow-insecure workaround: 7d, 12h, 90m or an ISO date; "
        "audits report it as drift afterwards.",
    ),
    batch: str | None = typer.Option(
        None, "--batch", help="Hosts per batch (5) or share (10%); batch 1 is the canary."
    ),
    max_fail_percent: float = typer.Option(
        0.0,
        "--max-fail-percent",
        min=0.0,
        max=100.0,
        help="Stop before the next batch when more than this % of a batch failed.",
    ),
    yes: bool = typer.Option(
        False, "-y", "--yes", help="Do not ask for confirmation (needed without a terminal)."
    ),
    journal: Path | None = typer.Option(
        None,
        "--journal",
        help="Journal file (must not exist; default: "
        "$XDG_STATE_HOME/psfleet/journals/remediate-<UTC>.jsonl).",
    ),
    forks: int = typer.Option(
        DEFAULT_FORKS, "--forks", min=1, max=1024, envvar="PSFLEET_FORKS", help="Hosts worked on at once."
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, envvar="PSFLEET_TIMEOUT", help="Wall-clock deadline per host, seconds."
    ),
    retries: int = typer.Option(
        1,
        "--retries",
        min=0,
        max=10,
        help="Retries for failures before anything was sent (never after a write).",
    ),
    fmt: str = typer.Option(
        "table", "-f", "--format", envvar="PSFLEET_FORMAT", help="table, json, csv, markdown or junit."
    ),
    table_format: str = typer.Option(
        "simple",
        "--table-format",
        help="Any tabulate format for --format table.",
        autocompletion=complete_table_format,
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the report here (atomically)."),
    no_input: bool = typer.Option(
        False,
        "--no-input",
        help="Never prompt: fail if a password is missing, refuse to write without --yes.",
    ),
    transport: str | None = typer.Option(
        None, "--transport", envvar="PSFLEET_TRANSPORT", help=TRANSPORT_HELP
    ),
    baseline: list[str] = typer.Option([], "--baseline", metavar="NAME|FILE", help=BASELINE_HELP),
    db: str | None = db_option(),
    no_record: bool = no_record_option(),
    engine: str = typer.Option("local", "--engine", envvar="PSFLEET_ENGINE", help=ENGINE_HELP),
    broker: str | None = typer.Option(None, "--broker", metavar="URL", help=BROKER_HELP),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv (wire)."),
) -> None:
    """Bring drifted hosts to the inventory's desired state: plan, confirm, journal, write,
    verify by read-back. Exit 0 all at desired state, 4 changes pending or still drifted,
    8 hosts not reached, 12 both, 2 input error."""
    setup_logging(verbose)
    check_format(fmt, FORMATS, table_format=table_format)
    reject_table_format(ctx, fmt)
    expiry = parse_expires(expires) if allow_insecure else None
    if not check:
        require_confirmation(
            yes=yes,
            fmt=fmt,
            interactive=can_prompt(fmt, no_input),
            to="change hosts (or --check for a dry run)",
        )
    if journal is not None and journal.exists() and not check:
        raise JournalError(
            "journal already exists; refusing to overwrite it (choose another --journal)", file=journal
        )
    inv = with_transport(apply_limit(load_inventory(inventory), limit), transport)
    inv = with_baselines(inv, baseline)
    parse_batch(batch, len(inv.hosts))  # reject a bad --batch before contacting anyone
    warn_insecure_transport(inv.hosts)
    engine_options = engine_for(engine, broker, command="remediate")
    # Through the engine, sited hosts' credentials are resolved by their site's worker.
    here = [h for h in inv.hosts if engine_options is None or h.site is None]
    credentials = resolve_credentials(here, interactive=can_prompt(fmt, no_input))
    plan_run, remediate_run = plan, remediate
    if engine_options is not None:
        from toolkit.engine import remediation as through

        plan_run = functools.partial(through.plan, engine=engine_options)
        remediate_run = functools.partial(through.remediate, engine=engine_options)
    fanout = FanoutOptions(forks=forks, timeout=timeout, retries=retries)
    options = RemediateOptions(fanout=fanout, batch=batch, max_fail_percent=max_fail_percent)
    lookup = workarounds_from_journals()

    if check or not yes:
        with progress_hooks(len(inv.hosts), enabled=show_progress(fmt), label="planning") as hooks:
            preview = plan_run(
                inv,
                credentials=credentials,
                options=options,
                only=only,
                allow_insecure=allow_insecure,
                expires=expiry,
                workarounds=lookup,
                hooks=hooks,
            )
        if check:
            _report(preview, fmt, table_format, output)
            say_blocked(preview)
            say(summary_text(preview))
            record(preview.to_dict, kind="remediate", db=db, no_record=no_record, hosts=inv.hosts)
            raise typer.Exit(preview.exit_code)
        say(changes_table(preview))
        question = confirm_question(preview)
        if question is None:
            say(f"nothing to change. {summary_text(preview)}")
            raise typer.Exit(preview.exit_code)
        confirm(question, declined="nothing was changed")

    target = journal or default_journal_path()
    say(f"journal: {target}")
    stop = threading.Event()
    with (
        _journal_hint("--journal"),
        interrupt_policy(stop, say),
        progress_hooks(len(inv.hosts), enabled=show_progress(fmt), label="remediating") as hooks,
    ):
        run = remediate_run(
            inv,
            journal=target,
            options=options,
            hooks=hooks,
            stop=stop,
            on_batch=lambda report, total: say(
                f"batch {report.number}/{total}{' (canary)' if report.number == 1 and total > 1 else ''}: "
                f"{len(report.hosts)} host{'s' if len(report.hosts) != 1 else ''}, {len(report.failed)} failed"
            ),
            credentials=credentials,
            only=only,
            allow_insecure=allow_insecure,
            expires=expiry,
            workarounds=lookup,
        )
    with _ignore_interrupts():  # the report, the summary and the undo hint always get out
        try:
            _report(run, fmt, table_format, output)
            say_blocked(run)
            say_busy(run)
            if run.stopped:
                say(f"ROLLOUT STOPPED: {run.stopped}")
            if run.journal_error:
                say(
                    f"JOURNAL ERROR: {run.journal_error}; no host was started after it and nothing was "
                    "sent without its intent on disk"
                )
        finally:
            say(summary_text(run))
            if run.change_counts.get("changed"):
                say(f"effect: {EFFECT_NOTE}")
            via = " --engine celery" if engine_options is not None else ""
            say(f"undo: psfleet rollback --journal {target} -i {inventory}{via}")
    record(run.to_dict, kind="remediate", db=db, no_record=no_record, hosts=inv.hosts)
    raise typer.Exit(run.exit_code)


def rollback_command(
    ctx: typer.Context,
    journal: Path = typer.Option(..., "--journal", help="The remediation journal to undo."),
    inventory: Path = typer.Option(
        ...,
        "-i",
        "--inventory",
        envvar="PSFLEET_INVENTORY",
        help="Inventory (for each host's transport and credentials).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Restore values that changed since the remediation too, and roll back hosts the "
        "inventory places at another address than the journal's.",
    ),
    salvage: bool = typer.Option(
        False,
        "--salvage",
        help="Skip damaged journal lines (listed, file:line) and restore every intact intent; exit 2.",
    ),
    rollback_journal: Path | None = typer.Option(
        None, "--rollback-journal", help="Journal of this rollback (default: next to --journal)."
    ),
    yes: bool = typer.Option(
        False, "-y", "--yes", help="Do not ask for confirmation (needed without a terminal)."
    ),
    forks: int = typer.Option(
        DEFAULT_FORKS, "--forks", min=1, max=1024, envvar="PSFLEET_FORKS", help="Hosts worked on at once."
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, envvar="PSFLEET_TIMEOUT", help="Wall-clock deadline per host, seconds."
    ),
    retries: int = typer.Option(
        1, "--retries", min=0, max=10, help="Retries before anything was sent (a write is never sent twice)."
    ),
    fmt: str = typer.Option(
        "table", "-f", "--format", envvar="PSFLEET_FORMAT", help="table, json, csv, markdown or junit."
    ),
    table_format: str = typer.Option(
        "simple",
        "--table-format",
        help="Any tabulate format for --format table.",
        autocompletion=complete_table_format,
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the report here (atomically)."),
    no_input: bool = typer.Option(
        False,
        "--no-input",
        help="Never prompt: fail if a password is missing, refuse to write without --yes.",
    ),
    transport: str | None = typer.Option(
        None, "--transport", envvar="PSFLEET_TRANSPORT", help=TRANSPORT_HELP
    ),
    db: str | None = db_option(),
    no_record: bool = no_record_option(),
    engine: str = typer.Option("local", "--engine", envvar="PSFLEET_ENGINE", help=ENGINE_HELP),
    broker: str | None = typer.Option(None, "--broker", metavar="URL", help=BROKER_HELP),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv (wire)."),
) -> None:
    """Restore every value a remediation journal changed (deleting values that were absent),
    verified by read-back; safe to run twice. Exit 0 all restored, 4 conflicts or failures,
    8 hosts not reached (or busy, or refused), 2 unusable journal (or --salvage skipped
    lines, or the rollback journal could not be written), 130 interrupted."""
    setup_logging(verbose)
    check_format(fmt, FORMATS, table_format=table_format)
    reject_table_format(ctx, fmt)
    parsed = read_journal(journal, salvage=salvage)  # a bad journal fails here, before anything else
    require_confirmation(
        yes=yes, fmt=fmt, interactive=can_prompt(fmt, no_input), to="restore the prior values"
    )
    if rollback_journal is not None and rollback_journal.exists():
        raise JournalError("rollback journal already exists; refusing to overwrite it", file=rollback_journal)
    inv = with_transport(load_inventory(inventory), transport)
    for line, why in parsed.skipped:
        say(f"skipped: {journal}:{line}: {why}")
    mismatches = host_mismatches(parsed, inv)
    for _, why in mismatches:
        say(f"{'address differs (--force: rolling back anyway)' if force else 'refused'}: {why}")
    writes = planned_restores(parsed, inv, force=force)
    say(restores_table(writes))
    names = {name for name, *_ in writes}
    if not yes:
        say(
            f"{journal}: run {parsed.run_id}: up to {counted(len(writes), 'restore')} on {counted(len(names), 'host')} (above)"
        )
        confirm("Restore the prior values?", declined="nothing was changed")
    journal_hosts = Inventory(tuple(h for h in inv.hosts if h.name in names), inv.groups, inv.source)
    warn_insecure_transport(journal_hosts.hosts)
    engine_options = engine_for(engine, broker, command="rollback")
    here = [h for h in journal_hosts.hosts if engine_options is None or h.site is None]
    credentials = resolve_credentials(here, interactive=can_prompt(fmt, no_input))
    rollback_run = rollback
    if engine_options is not None:
        from toolkit.engine import remediation as through

        rollback_run = functools.partial(through.rollback, engine=engine_options)
    target = rollback_journal or default_rollback_journal(journal)
    say(f"rollback journal: {target}")
    stop = threading.Event()
    with (
        _journal_hint("--rollback-journal"),
        interrupt_policy(stop, say),
        progress_hooks(len(journal_hosts.hosts), enabled=show_progress(fmt), label="rolling back") as hooks,
    ):
        run = rollback_run(
            journal,
            inventory=inv,
            credentials=credentials,
            rollback_journal=target,
            options=FanoutOptions(forks=forks, timeout=timeout, retries=retries),
            force=force,
            salvage=salvage,
            hooks=hooks,
            stop=stop,
            journal=parsed,
        )
    with _ignore_interrupts():
        try:
            for note in run.notes:
                say(f"note: {note}")
            _report(run, fmt, table_format, output)
            say_busy(run)
            if run.journal_error:
                say(
                    f"JOURNAL ERROR: {run.journal_error}; no host was started after it; run again with "
                    "--rollback-journal on another filesystem"
                )
        finally:
            say(summary_text(run))
    record(run.to_dict, kind="rollback", db=db, no_record=no_record, hosts=inv.hosts)
    raise typer.Exit(run.exit_code)


def planned_restores(journal: Journal, inventory: Inventory, *, force: bool) -> list[Restore]:
    """(host, value, restore to, exact command) for every restore rollback may send (each is
    sent only if the host still holds what remediation wrote, or with --force)."""
    known = {h.name for h in inventory.hosts}
    refused = {name for name, _ in host_mismatches(journal, inventory)} if not force else set()
    rows = []
    for name, intents in intents_by_host(journal).items():
        if name not in known or name in refused:
            continue
        for intent in intents:
            setting = intent.owner or SETTINGS[intent.setting]
            try:
                command = registry_write(setting.path, setting.name, intent.before).render()
            except ValueError as exc:
                command = f"(not restored: {exc})"
            rows.append((name, f"{setting.path}\\{setting.name}", intent.before.describe(), command))
    return rows


# -- helpers -----------------------------------------------------------------------------


def _report(run: RemediateRun, fmt: str, table_format: str, output: Path | None) -> None:
    # With -o the summary goes to the terminal.
    emit_report(render(run, fmt, table_format=table_format), summary_line(run), output)


@contextlib.contextmanager
def _journal_hint(option: str) -> Iterator[None]:
    """A journal that cannot be created: nothing was sent; say where to put it instead."""
    try:
        yield
    except JournalWriteError as exc:
        name = Path(exc.file).name if exc.file else "journal.jsonl"
        raise JournalWriteError(
            f"{exc.message}; nothing was sent to any host: choose a journal on another filesystem "
            f"({option} /elsewhere/{name})",
            file=exc.file,
        ) from None


@contextlib.contextmanager
def _ignore_interrupts() -> Iterator[None]:
    """While the report is printed, Ctrl-C is ignored (it would cut the report short)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def say_busy(run: RemediateRun) -> None:
    for line in busy_lines(run):
        say(line)


def say_blocked(run: RemediateRun) -> None:
    for line in blocked_lines(run):
        say(line)
