"""``psfleet inventory list|check``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from tabulate import tabulate

from toolkit.cli.common import say
from toolkit.inventory.limit import apply_limit
from toolkit.inventory.loader import check_inventory, load_inventory

app = typer.Typer(help="Inspect inventories (native YAML, Ansible INI and YAML).", no_args_is_help=True)

InventoryOpt = typer.Option(..., "-i", "--inventory", envvar="PSFLEET_INVENTORY", help="Inventory file.")


@app.command("list")
def list_hosts(
    inventory: Path = InventoryOpt,
    limit: list[str] = typer.Option([], "-l", "--limit", help="Hosts, groups, globs, !exclusions."),
    fmt: str = typer.Option("table", "-f", "--format", help="table or json"),
) -> None:
    """List hosts with their address, transport, credentials source and policy."""
    inv = apply_limit(load_inventory(inventory), limit)
    rows = []
    for h in inv.hosts:
        t = h.transport
        rows.append(
            {
                "name": h.name,
                "address": h.address,
                "port": t.effective_port,
                "scheme": t.scheme,
                "auth": t.auth,
                "username": h.username or "",
                "password_from": h.password.kind + (f":{h.password.ref}" if h.password.ref else ""),
                "groups": ",".join(h.groups),
                "policy": f"client_signing={h.policy.client_signing} server_signing={h.policy.server_signing} "
                f"secure_negotiate={h.policy.secure_negotiate}",
            }
        )
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        typer.echo(tabulate(rows, headers="keys"))
        say(f"{len(rows)} hosts")


@app.command("check")
def check(inventory: Path = InventoryOpt) -> None:
    """Validate an inventory; print every error as FILE:LINE: FIELD: MESSAGE. Exit 2 on errors."""
    errors = check_inventory(inventory)
    for e in errors:
        typer.echo(str(e), err=True)
    if errors:
        raise typer.Exit(2)
    inv = load_inventory(inventory)
    say(f"{inventory}: OK, {len(inv.hosts)} hosts in {len(inv.groups)} groups")
