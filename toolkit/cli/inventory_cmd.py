"""``psfleet inventory list|check``."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import typer

from toolkit.cli.options import (
    BACKEND_HELP,
    LIMIT_HELP,
    complete_choices,
    complete_limit,
    no_effect,
    skipped_lines,
    use_backend,
)

app = typer.Typer(
    help="Inspect inventories (native YAML, Ansible INI, YAML, folders).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

InventoryOpt = typer.Option(
    ...,
    "-i",
    "--inventory",
    envvar="PSFLEET_INVENTORY",
    help="Inventory file, or an Ansible inventory folder.",
)
ShowSkippedOpt = typer.Option(
    False, "--show-skipped", help="List each host skipped because it is not on WinRM, with the reason."
)
BackendOpt = typer.Option(None, "--inventory-backend", metavar="auto|ansible|builtin", help=BACKEND_HELP)
LIST_FORMATS = ("table", "json")


def host_row(host: Any) -> dict[str, Any]:
    """One host as ``inventory list --format json`` shows it: every effective connection
    setting, the password's source (never the password), groups as a list, the policy."""
    transport = {item.name: getattr(host.transport, item.name) for item in fields(host.transport)}
    transport["port"] = host.transport.effective_port
    password = host.password
    source = password.kind + (f":{password.ref}" if password.ref else "")
    return {
        "name": host.name,
        "address": host.address,
        **transport,
        "username": host.username,
        "password_from": source,
        "smb_port": host.smb_port,
        "groups": list(host.groups),
        "policy": {item.name: getattr(host.policy, item.name) for item in fields(host.policy)},
        "source": f"{host.source.file}:{host.source.line}" if host.source and host.source.line else None,
    }


@app.command("list")
def list_hosts(
    inventory: Path = InventoryOpt,
    limit: list[str] = typer.Option([], "-l", "--limit", help=LIMIT_HELP, autocompletion=complete_limit),
    fmt: str = typer.Option(
        "table",
        "-f",
        "--format",
        help="table or json.",
        autocompletion=complete_choices(*LIST_FORMATS),
    ),
    show_skipped: bool = ShowSkippedOpt,
    inventory_backend: str | None = BackendOpt,
) -> None:
    """List hosts with their effective connection settings, password source and policy."""
    from toolkit.inventory.limit import apply_limit
    from toolkit.inventory.loader import read_inventory
    from toolkit.report.listing import render_hosts

    use_backend(inventory_backend)
    if fmt not in LIST_FORMATS:  # not silently a table
        raise no_effect(f"--format {fmt}", "on inventory list; choose table or json")
    loaded = read_inventory(inventory, report=False)
    for line in skipped_lines(loaded, show_all=show_skipped or None):
        typer.echo(line, err=True)
    inv = apply_limit(loaded.inventory, limit)
    rows = [host_row(h) for h in inv.hosts]
    typer.echo(render_hosts(rows, fmt), nl=False)
    if fmt == "json":
        return
    typer.echo(f"{len(rows)} host{'s' if len(rows) != 1 else ''}", err=True)


@app.command("check")
def check(
    inventory: Path = InventoryOpt,
    show_skipped: bool = ShowSkippedOpt,
    inventory_backend: str | None = BackendOpt,
) -> None:
    """Validate an inventory; print every error as FILE:LINE: FIELD: MESSAGE. Exit 2 on errors."""
    from toolkit.inventory.loader import check_inventory, read_inventory
    from toolkit.report.words import counted

    use_backend(inventory_backend)
    errors = check_inventory(inventory)
    for e in errors:
        typer.echo(str(e), err=True)
    if errors:
        raise typer.Exit(2)
    loaded = read_inventory(inventory, report=False)
    for line in skipped_lines(loaded, show_all=show_skipped or None):
        typer.echo(line, err=True)
    inv = loaded.inventory
    typer.echo(
        f"{inventory}: OK, {counted(len(inv.hosts), 'host')} in {counted(len(inv.groups), 'group')}", err=True
    )
