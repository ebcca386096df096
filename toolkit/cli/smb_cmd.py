"""``psfleet probe smb`` and ``psfleet diagnose validate-negotiate``: the SMB side, seen from
the wire.

Exit codes:

- ``probe smb``: 0 every host probed, 8 some host not probed (unreachable, timeout,
  protocol_error, error), 2 usage, 130 interrupted.
- ``diagnose validate-negotiate``: 0 pass (or not applicable: the server speaks none of the
  validate-negotiate dialects), 4 fail, 8 could not connect, authenticate or get far enough,
  2 usage.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from toolkit.cli.common import (
    can_prompt,
    check_format,
    emit,
    emit_report,
    setup_logging,
    show_progress,
    status_progress,
)
from toolkit.cli.options import LIMIT_HELP, complete_limit, complete_table_format, reject_table_format
from toolkit.cli.record import db_option, no_record_option, open_early, record
from toolkit.errors import UsageError
from toolkit.fanout.task import FanoutOptions
from toolkit.inventory.credentials import ENV_PASSWORD, ENV_USERNAME
from toolkit.inventory.loader import load_inventory
from toolkit.report.probe import PROBE_RUN_FORMATS, probe_host_line, probe_run_summary, render_probe_run
from toolkit.smb.fleet import ProbeHooks, ProbeHost, probe_fleet
from toolkit.smb.wire import ALL_DIALECTS, DIALECTS

probe_app = typer.Typer(
    help="Look at what hosts answer on the wire (no WinRM).", no_args_is_help=True, add_completion=False
)
diagnose_app = typer.Typer(
    help="Diagnose one path to one server.", no_args_is_help=True, add_completion=False
)


# A callback keeps each a group: Typer turns a one-command app into that command, and
# ``psfleet probe smb`` would then read ``smb`` as an extra argument.
@probe_app.callback()
def probe_group() -> None:
    """Look at what hosts answer on the wire (no WinRM)."""


@diagnose_app.callback()
def diagnose_group() -> None:
    """Diagnose one path to one server."""


DIAGNOSE_FORMATS: tuple[str, ...] = ("table", "json")
#: By DiagnosisStatus (a StrEnum: its members are these strings). Keyed by value so that
#: ``probe smb`` does not import the diagnosis (smbprotocol's side) to start.
EXIT_BY_DIAGNOSIS: dict[str, int] = {
    "pass": 0,
    "not_applicable": 0,
    "fail": 4,
    "error": 8,
}


def register(app: typer.Typer) -> None:
    """Add ``probe`` and ``diagnose`` to the psfleet application."""
    app.add_typer(probe_app, name="probe")
    app.add_typer(diagnose_app, name="diagnose")


@contextmanager
def _probe_progress(total: int, *, enabled: bool) -> Iterator[ProbeHooks]:
    """A progress bar on stderr counting hosts by probe status."""
    if not enabled:
        yield ProbeHooks()
        return
    with status_progress(total, enabled=True, label="probing") as tick:
        yield ProbeHooks(on_result=lambda host: tick(host.status.value))


@probe_app.command("smb")
def probe_smb_command(
    ctx: typer.Context,
    inventory: Path = typer.Option(
        ..., "-i", "--inventory", envvar="PSFLEET_INVENTORY", help="Inventory file."
    ),
    limit: list[str] = typer.Option([], "-l", "--limit", help=LIMIT_HELP, autocompletion=complete_limit),
    forks: int = typer.Option(
        64, "--forks", min=1, max=1024, envvar="PSFLEET_FORKS", help="Hosts probed at once."
    ),
    timeout: float = typer.Option(10.0, "--timeout", min=0.5, help="Wall-clock deadline per host, seconds."),
    per_dialect: bool = typer.Option(
        True,
        "--per-dialect/--no-per-dialect",
        help="Also one NEGOTIATE per dialect (nmap smb2-security-mode asks only once).",
    ),
    smb1: bool = typer.Option(
        True, "--smb1/--no-smb1", help="Also an SMB1 NEGOTIATE (NT LM 0.12): does the server accept SMB1?"
    ),
    identify: bool = typer.Option(
        True,
        "--identify/--no-identify",
        help="Also an anonymous session setup: the NTLM challenge names the server and its OS version.",
    ),
    fmt: str = typer.Option(
        "table",
        "-f",
        "--format",
        help="table, json, ndjson, csv, markdown or relay-list (hosts not requiring signing, one per line).",
    ),
    table_format: str = typer.Option(
        "simple",
        "--table-format",
        help="Any tabulate format for --format table.",
        autocompletion=complete_table_format,
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the report here (atomically)."),
    db: str | None = db_option(),
    no_record: bool = no_record_option(),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv."),
) -> None:
    """Probe each host's SMB port without credentials: dialect, signing, SMB1, who answered.

    The port is the inventory's smb_port (default 445); who answered is the NTLM challenge's
    names and OS version. Exit 0 all probed, 8 some host not probed."""
    setup_logging(verbose)
    check_format(fmt, PROBE_RUN_FORMATS, table_format=table_format)
    reject_table_format(ctx, fmt)
    inv = load_inventory(inventory)
    if limit:  # host patterns: imported only when given
        from toolkit.inventory.limit import apply_limit

        inv = apply_limit(inv, limit)
    # Nothing is sent before the TCP connect succeeds, so the probe itself has no retries.
    options = FanoutOptions(forks=forks, timeout=timeout, retries=0)
    streaming = fmt == "ndjson" and output is None
    open_early(db, no_record=no_record)  # the store opens while the hosts answer
    with _probe_progress(len(inv.hosts), enabled=show_progress(fmt)) as hooks:
        if streaming:

            def on_result(host: ProbeHost) -> None:
                sys.stdout.write(probe_host_line(host) + "\n")
                sys.stdout.flush()

            hooks = ProbeHooks(on_start=hooks.on_start, on_result=on_result)
        run = probe_fleet(
            inv,
            options=options,
            hooks=hooks,
            per_dialect=ALL_DIALECTS if per_dialect else (),
            smb1=smb1,
            identify=identify,
        )
    if not streaming:
        # With -o the file holds the report and the terminal the summary and "wrote FILE".
        emit_report(render_probe_run(run, fmt, table_format=table_format), probe_run_summary(run), output)
    record(run.to_dict, kind="probe", db=db, no_record=no_record, hosts=inv.hosts)
    raise typer.Exit(130 if run.interrupted else run.exit_code)


def parse_server(text: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    text = text.strip()
    if not text:
        raise UsageError("an empty server", field="--server")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host or (rest and not rest.startswith(":")):
            raise UsageError(f"{text!r} is not [ADDRESS] or [ADDRESS]:PORT", field="--server")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not port_text:
        return host, 445
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"{port_text!r} is not a TCP port (1-65535)", field="--server")
    return host, int(port_text)


def resolve_diagnose_credentials(
    username: str | None, password_env: str | None, *, interactive: bool
) -> tuple[str, str]:
    """Username from ``--username`` or PSFLEET_USERNAME; password from the variable named by
    ``--password-env`` (default PSFLEET_PASSWORD) or a terminal prompt. Never from argv."""
    user = username or os.environ.get(ENV_USERNAME) or ""
    if not user:
        if not interactive:
            raise UsageError(f"no username: pass --username or set {ENV_USERNAME}", field="--username")
        user = typer.prompt("Username", err=True)
    variable = password_env or ENV_PASSWORD
    password = os.environ.get(variable)
    if password:
        return user, password
    if password_env is not None:
        raise UsageError(f"environment variable {password_env} is not set or empty", field="--password-env")
    if not interactive:
        raise UsageError(
            f"no password: set {ENV_PASSWORD} (or name a variable with --password-env); no terminal to prompt",
            field="--password-env",
        )
    from toolkit.inventory.credentials import ask_password

    return user, ask_password(user)


@diagnose_app.command("validate-negotiate")
def validate_negotiate_command(
    server: str = typer.Option(..., "--server", help="HOST, HOST:PORT or [IPv6]:PORT (port 445 by default)."),
    dialect: list[str] = typer.Option(
        [], "--dialect", help="Dialect to try, in order (repeat). Default: 3.0.2 then 3.0."
    ),
    client_build: int | None = typer.Option(
        None,
        "--client-build",
        min=1,
        help="Windows build of the failing client: decides which workaround applies.",
    ),
    username: str | None = typer.Option(None, "--username", help=f"SMB user (default: ${ENV_USERNAME})."),
    password_env: str | None = typer.Option(
        None,
        "--password-env",
        metavar="NAME",
        help=f"Environment variable holding the password (default {ENV_PASSWORD}).",
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=1.0, help="Wall-clock limit for the whole diagnosis, seconds."
    ),
    fmt: str = typer.Option("table", "-f", "--format", help="table or json."),
    no_input: bool = typer.Option(
        False, "--no-input", help="Never prompt (fail if a credential is missing)."
    ),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="-v, -vv, -vvv."),
) -> None:
    """Run validate negotiate against a server the way a Windows 8.x client does and explain a failure.
    Exit 0 pass, 4 fail, 8 could not connect/authenticate."""
    setup_logging(verbose)
    check_format(fmt, DIAGNOSE_FORMATS)
    host, port = parse_server(server)
    dialects = tuple(dialect) or ("3.0.2", "3.0")
    for name in dialects:
        if name not in DIALECTS:
            raise UsageError(f"unknown dialect {name!r} (known: {', '.join(DIALECTS)})", field="--dialect")
        if name == "3.1.1":
            raise UsageError("3.1.1 uses pre-auth integrity, not validate negotiate", field="--dialect")
    user, password = resolve_diagnose_credentials(
        username, password_env, interactive=can_prompt(fmt, no_input)
    )
    from toolkit.report.diagnose import render_diagnosis
    from toolkit.smb.diagnose import diagnose_validate_negotiate

    result = diagnose_validate_negotiate(
        host,
        port,
        username=user,
        password=password,
        dialects=dialects,
        client_build=client_build,
        timeout=timeout,
    )
    emit(render_diagnosis(result, fmt), None)
    raise typer.Exit(EXIT_BY_DIAGNOSIS[result.status])
