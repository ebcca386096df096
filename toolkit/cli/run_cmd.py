"""``psfleet run``: one ad-hoc command on every host, tabulated. Thin over :func:`toolkit.run`.

Two forms. A command line (``psfleet run -i fleet.yml 'Get-ItemProperty -Path ... -Name X'``)
is sent as PowerShell script text: the one deliberate place where psfleet sends text as
PowerShell, because the person at the keyboard wrote it. ``--cmdlet NAME --param K=V`` sends a
cmdlet with typed parameters as structured data, needing no quoting.

A command that writes (decided by its verbs, :mod:`toolkit.run_command.writes`) asks first; with
``--yes`` it does not; without a terminal, with ``--no-input`` or with ``--format
json|ndjson`` it refuses at once (exit 2) unless ``--yes``. Exit 0 every host ran cleanly,
4 some host returned error records, 8 some host did not run, 12 both, 2 usage, 130
interrupted or declined.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolkit.cli.common import (
    can_prompt,
    check_format,
    confirm,
    emit_report,
    require_confirmation,
    say,
    setup_logging,
    show_progress,
    status_progress,
    warn_insecure_transport,
)
from toolkit.cli.options import (
    BACKEND_HELP,
    LIMIT_HELP,
    TRANSPORT_HELP,
    apply_to_command,
    complete_format,
    complete_limit,
    complete_table_format,
    reject_table_format,
    use_backend,
)
from toolkit.config import require_inventory
from toolkit.engine.options import BROKER_HELP, ENGINE_HELP, engine_for
from toolkit.errors import UsageError
from toolkit.report.formats import FORMATS

if TYPE_CHECKING:  # the client side (pypsrp, fan-out) is imported when a run starts
    from toolkit.inventory.model import Inventory
    from toolkit.run_command import HostRunResult, RunCommand

DEFAULT_FORKS = 64
DEFAULT_TIMEOUT = 60.0


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    ctx: typer.Context,
    script: str | None = typer.Argument(
        None,
        metavar="COMMAND",
        help="PowerShell command line, sent as script text (quote it for your shell).",
    ),
    inventory: Path | None = typer.Option(
        None, "-i", "--inventory", envvar="PSFLEET_INVENTORY", help="Inventory file (or config 'inventory')."
    ),
    limit: list[str] = typer.Option([], "-l", "--limit", help=LIMIT_HELP, autocompletion=complete_limit),
    cmdlet: str | None = typer.Option(
        None, "--cmdlet", help="Send this cmdlet with --param parameters (structured, no quoting)."
    ),
    params: list[str] = typer.Option(
        [],
        "-p",
        "--param",
        metavar="NAME=[TYPE:]VALUE",
        help="A --cmdlet parameter: Name=text, Name=int:0, long:, bool:true, str:, strs:a,b, ints:1,2; "
        "a bare Name is a switch (Force).",
    ),
    properties: list[str] = typer.Option(
        [], "--property", metavar="A,B", help="Columns to show, in this order (comma or repeated; '*' = all)."
    ),
    yes: bool = typer.Option(False, "-y", "--yes", help="Run a command that writes without asking."),
    forks: int = typer.Option(
        DEFAULT_FORKS, "--forks", min=1, max=1024, envvar="PSFLEET_FORKS", help="Hosts worked on at once."
    ),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT,
        "--timeout",
        min=1.0,
        envvar="PSFLEET_TIMEOUT",
        help="Wall-clock deadline per host, seconds.",
    ),
    retries: int = typer.Option(
        1,
        "--retries",
        min=0,
        max=10,
        help="Retries before anything was sent (a command is never sent twice).",
    ),
    fmt: str = typer.Option(
        "table",
        "-f",
        "--format",
        envvar="PSFLEET_FORMAT",
        help="table, json, ndjson, csv, markdown or junit.",
        autocompletion=complete_format,
    ),
    table_format: str = typer.Option(
        "simple",
        "--table-format",
        help="Any tabulate format (grid, github, tsv, html...) for --format table.",
        autocompletion=complete_table_format,
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the report here (atomically)."),
    no_input: bool = typer.Option(False, "--no-input", help="Never prompt (refuse writes without --yes)."),
    transport: str | None = typer.Option(
        None, "--transport", envvar="PSFLEET_TRANSPORT", help=TRANSPORT_HELP
    ),
    inventory_backend: str | None = typer.Option(
        None, "--inventory-backend", metavar="auto|ansible|builtin", help=BACKEND_HELP
    ),
    engine: str = typer.Option("local", "--engine", envvar="PSFLEET_ENGINE", help=ENGINE_HELP),
    broker: str | None = typer.Option(None, "--broker", metavar="URL", help=BROKER_HELP),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv (wire)."),
) -> None:
    """Run one command on every host and tabulate what comes back. Exit 0/4/8/12."""
    setup_logging(verbose)
    use_backend(inventory_backend)
    settings = apply_to_command(
        ctx,
        {"inventory": inventory, "forks": forks, "timeout": timeout, "retries": retries, "fmt": fmt,
         "table_format": table_format, "transport": transport, "engine": engine},
        command="run",
        keys={"fmt": "format"},
    )  # fmt: skip
    fmt = str(settings["fmt"])
    check_format(fmt, FORMATS, table_format=str(settings["table_format"]))
    reject_table_format(ctx, fmt)
    from toolkit.fanout.runner import FanoutOptions
    from toolkit.inventory.credentials import resolve_credentials
    from toolkit.inventory.limit import apply_limit
    from toolkit.inventory.loader import load_inventory
    from toolkit.report.run import ndjson_line, render_run, summary_line
    from toolkit.run_command import RunHooks
    from toolkit.run_command import run as run_on_fleet
    from toolkit.transport.select import with_transport

    command = build_command(script, cmdlet, params)
    inv = apply_limit(load_inventory(require_inventory(settings["inventory"])), limit)
    inv = with_transport(inv, settings["transport"])
    interactive = can_prompt(fmt, no_input)
    _confirm_write(command, inv, yes=yes, fmt=fmt, interactive=interactive)
    warn_insecure_transport(inv.hosts)
    engine_options = engine_for(str(settings["engine"]), broker, command="run")
    # Through the engine, sited hosts' credentials are resolved by their site's worker.
    here = [h for h in inv.hosts if engine_options is None or h.site is None]
    credentials = resolve_credentials(here, interactive=interactive)
    options = FanoutOptions(
        forks=int(settings["forks"]), timeout=float(settings["timeout"]), retries=int(settings["retries"])
    )
    streaming = fmt == "ndjson" and output is None
    selected = split_properties(properties)

    with status_progress(len(inv.hosts), enabled=show_progress(fmt), label="running") as tick:

        def on_result(result: HostRunResult) -> None:
            if streaming:
                sys.stdout.write(ndjson_line(result.select(selected) if selected else result) + "\n")
                sys.stdout.flush()
            tick(result.status.value)

        if engine_options is not None:
            from toolkit.engine.run_command import run as engine_run

            run = engine_run(
                inv,
                command,
                credentials=credentials,
                options=options,
                engine=engine_options,
                on_result=on_result,
            )
        else:
            hooks = RunHooks(on_result=on_result)
            run = run_on_fleet(
                inv, command, credentials=credentials, options=options, hooks=hooks, allow_write=True
            )
    if selected:
        run = run.select(selected)
    if not streaming:
        emit_report(
            render_run(run, fmt, table_format=str(settings["table_format"])), summary_line(run), output
        )
    raise typer.Exit(130 if run.interrupted else run.exit_code)


def build_command(script: str | None, cmdlet: str | None, params: list[str]) -> RunCommand:
    """The command from the arguments: exactly one of a command line or ``--cmdlet``."""
    from toolkit.run_command import RunCommand, parse_param
    from toolkit.run_command.command import numeric_text_params

    if script is not None and cmdlet is not None:
        raise UsageError("give a command line or --cmdlet, not both", field="--cmdlet")
    if cmdlet is not None:
        parsed = [parse_param(p) for p in params]
        for name in numeric_text_params(parsed):
            say(
                f"psfleet: note: --param {name} is sent as text; a new registry value would be REG_SZ "
                f"(use {name}=int:N for a DWORD; a value's kind is what Windows reads)"
            )
        return RunCommand.cmdlet(cmdlet, parsed)
    if params:
        raise UsageError(
            "--param needs --cmdlet (a command line carries its own parameters)", field="--param"
        )
    if script is None:
        raise UsageError("give a command line to run, or --cmdlet NAME [--param ...]", field="COMMAND")
    return RunCommand.script(script)


def split_properties(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _confirm_write(command: RunCommand, inv: Inventory, *, yes: bool, fmt: str, interactive: bool) -> None:
    check = command.write
    if not check.write or yes:
        return
    count = len(inv.hosts)
    what = f"this command writes ({check.describe()})"
    if require_confirmation(
        yes=yes, fmt=fmt, interactive=interactive, to=f"run it on {_hosts(count)}", what=what
    ):
        say(f"{command.text}\n{what}")
        confirm(f"Run it on {_hosts(count)}?", declined="nothing was run")


def _hosts(count: int) -> str:
    return f"{count} host{'s' if count != 1 else ''}"
