"""The Typer application and its command groups."""

from __future__ import annotations

import typer

from toolkit.cli import audit_cmd, inventory_cmd, lab_cmd, remediate_cmd, run_cmd, smb_cmd

app = typer.Typer(
    name="psfleet",
    help="Audit and fix SMB validate-negotiate and signing settings across a Windows fleet over WinRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
app.command("audit")(audit_cmd.audit)
app.command("demo")(lab_cmd.demo)
app.add_typer(inventory_cmd.app, name="inventory")
app.add_typer(lab_cmd.app, name="lab")

# Commands whose modules register several commands or groups.
remediate_cmd.register(app)
run_cmd.register(app)
smb_cmd.register(app)
