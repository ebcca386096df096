"""``psfleet audit``: read-only audit of every host, one round trip each."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from toolkit.cli.common import (
    can_prompt,
    check_format,
    emit_report,
    progress_hooks,
    say,
    setup_logging,
    show_progress,
    warn_insecure_transport,
)
from toolkit.cli.options import (
    BACKEND_HELP,
    BASELINE_HELP,
    LIMIT_HELP,
    TRANSPORT_HELP,
    apply_to_command,
    complete_audit_format,
    complete_limit,
    complete_table_format,
    reject_table_format,
    use_backend,
)
from toolkit.cli.record import db_option, no_record_option, open_early, record
from toolkit.config import require_inventory
from toolkit.engine.options import BROKER_HELP, ENGINE_HELP, engine_for
from toolkit.report.formats import FORMATS

# What an audit needs (pypsrp, the fan-out, renderers) is imported when one runs: help and
# completion must not pay for it.

#: Hosts in flight. A host spends ~0.6 s waiting (pool open + 6 round trips) and ~10 ms of
#: client CPU, so concurrency only has to cover latency: at 256 the latency floor of 1,000
#: hosts (~2.4 s) drops below the CPU floor and CPU per host is unchanged from 64 or 128;
#: at 512 client CPU per host rose by 60% (thread contention) and RSS neared 250 MB
#: (scripts/bench_audit.py, README "Performance").
DEFAULT_FORKS = 256  # toolkit.api.AUDIT_DEFAULT_FORKS (a test keeps them equal)


def audit(
    ctx: typer.Context,
    inventory: Path | None = typer.Option(
        None, "-i", "--inventory", envvar="PSFLEET_INVENTORY", help="Inventory file (or config 'inventory')."
    ),
    limit: list[str] = typer.Option([], "-l", "--limit", help=LIMIT_HELP, autocompletion=complete_limit),
    forks: int = typer.Option(
        DEFAULT_FORKS, "--forks", min=1, max=1024, envvar="PSFLEET_FORKS", help="Hosts worked on at once."
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, envvar="PSFLEET_TIMEOUT", help="Wall-clock deadline per host, seconds."
    ),
    retries: int = typer.Option(
        1, "--retries", min=0, max=10, help="Retries for failures before anything was sent (backoff doubles)."
    ),
    fmt: str = typer.Option(
        "table",
        "-f",
        "--format",
        envvar="PSFLEET_FORMAT",
        help="table, json, ndjson, csv, markdown, junit or prometheus (node_exporter textfile).",
        autocompletion=complete_audit_format,
    ),
    table_format: str = typer.Option(
        "simple",
        "--table-format",
        help="Any tabulate format (grid, github, tsv, html...) for --format table.",
        autocompletion=complete_table_format,
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the report here (atomically)."),
    retry_file: Path | None = typer.Option(
        None, "--retry-file", help="Write an inventory of the hosts that could not be assessed."
    ),
    no_input: bool = typer.Option(False, "--no-input", help="Never prompt (fail if a password is missing)."),
    explain: bool = typer.Option(
        False, "--explain", help="Print what the columns and statuses mean, and exit (no inventory needed)."
    ),
    with_probe: bool = typer.Option(
        False,
        "--with-probe",
        help="Also probe each host's SMB port (smb_port) and compare the wire's "
        "signing-required flag with LanmanServer RequireSecuritySignature "
        "(wire_signing; a mismatch is reported, not drift).",
    ),
    events: float | None = typer.Option(
        None,
        "--events",
        min=0.001,
        metavar="DAYS",
        help="Also count SMB client events 31012/31013/30803/30804 of the "
        "last DAYS days (same round trip; n/a before build 9600).",
    ),
    transport: str | None = typer.Option(
        None, "--transport", envvar="PSFLEET_TRANSPORT", help=TRANSPORT_HELP
    ),
    inventory_backend: str | None = typer.Option(
        None, "--inventory-backend", metavar="auto|ansible|builtin", help=BACKEND_HELP
    ),
    baseline: list[str] = typer.Option([], "--baseline", metavar="NAME|FILE", help=BASELINE_HELP),
    db: str | None = db_option(),
    no_record: bool = no_record_option(),
    engine: str = typer.Option("local", "--engine", envvar="PSFLEET_ENGINE", help=ENGINE_HELP),
    broker: str | None = typer.Option(None, "--broker", metavar="URL", help=BROKER_HELP),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv (wire)."),
) -> None:
    """Audit SMB signing and secure-negotiate settings (read-only). Exit 0/4/8/12.

    The checks come from baselines (--baseline, the inventory's baselines:, else
    smb-validate-negotiate; `psfleet baseline list`)."""
    if explain:  # the legend is the same for every run: no inventory, no audit
        from toolkit.report.render import legend

        typer.echo(legend())
        raise typer.Exit(0)
    setup_logging(verbose)
    use_backend(inventory_backend)
    # Defaults from the config file where neither option nor environment gave one.
    settings = apply_to_command(
        ctx,
        {
            "inventory": inventory,
            "forks": forks,
            "timeout": timeout,
            "retries": retries,
            "fmt": fmt,
            "table_format": table_format,
            "transport": transport,
            "engine": engine,
        },
        command="audit",
        keys={"fmt": "format"},
    )
    forks, timeout, retries = settings["forks"], settings["timeout"], settings["retries"]
    fmt, table_format = settings["fmt"], settings["table_format"]
    check_format(fmt, (*FORMATS, "prometheus"), table_format=table_format)
    reject_table_format(ctx, fmt)
    from toolkit.api import audit as run_audit
    from toolkit.baselines.select import with_baselines
    from toolkit.fanout.runner import FanoutHooks, FanoutOptions
    from toolkit.inventory.credentials import resolve_credentials
    from toolkit.inventory.loader import load_inventory
    from toolkit.remediate.workarounds import workarounds_from_journals
    from toolkit.report.model import summary_line
    from toolkit.report.render import ndjson_line, render
    from toolkit.report.words import counted
    from toolkit.results import HostResult
    from toolkit.transport.select import with_transport

    inv = load_inventory(require_inventory(settings["inventory"]))
    if limit:  # host patterns: imported only when given
        from toolkit.inventory.limit import apply_limit

        inv = apply_limit(inv, limit)
    inv = with_transport(inv, settings["transport"])
    inv = with_baselines(inv, baseline)
    interactive = can_prompt(fmt, no_input)
    warn_insecure_transport(inv.hosts)
    engine_options = engine_for(settings["engine"], broker)
    # Through the engine, sited hosts' credentials are resolved by their site's worker.
    here = [h for h in inv.hosts if engine_options is None or h.site is None]
    credentials = resolve_credentials(here, interactive=interactive)
    options = FanoutOptions(forks=forks, timeout=timeout, retries=retries)
    streaming = fmt == "ndjson" and output is None
    open_early(db, no_record=no_record)  # while the hosts answer

    with progress_hooks(len(inv.hosts), enabled=show_progress(fmt)) as hooks:
        if streaming:

            def on_result(result: HostResult) -> None:
                sys.stdout.write(ndjson_line(result) + "\n")
                sys.stdout.flush()

            hooks = FanoutHooks(on_start=hooks.on_start, on_result=on_result)
        if engine_options is not None:
            from toolkit.engine.commands import audit as engine_audit

            lookup = workarounds_from_journals()
            run = engine_audit(
                inv,
                credentials=credentials,
                options=options,
                engine=engine_options,
                hooks=hooks,
                workarounds={h.name: lookup(h) for h in inv.hosts},
                with_probe=with_probe,
                events_days=events,
            )
        else:
            run = run_audit(
                inv,
                credentials=credentials,
                options=options,
                hooks=hooks,
                with_probe=with_probe,
                events_days=events,
            )

    if fmt == "prometheus":
        from toolkit.report.prometheus import render_prometheus

        emit_report(render_prometheus(run.to_dict()), summary_line(run), output)
    elif not streaming:
        emit_report(render(run, fmt, table_format=table_format), summary_line(run), output)
    if retry_file is not None:
        from toolkit.inventory.write import write_inventory

        failed = {h.name for h in run.hosts if not h.status.assessed}
        write_inventory([h for h in inv.hosts if h.name in failed], retry_file)
        say(f"retry file: {retry_file} ({counted(len(failed), 'host')})")
    record(run.to_dict, kind="audit", db=db, no_record=no_record, hosts=inv.hosts)
    raise typer.Exit(130 if run.interrupted else run.exit_code)
