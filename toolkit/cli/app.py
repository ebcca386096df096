"""The Typer application: global options, and commands imported only when they run.

``psfleet --help`` and tab completion must answer fast (well under 0.3 s of CPU), so this
module imports no command: :class:`LazyGroup` lists each command with its one-line help from
:data:`COMMANDS` and imports the command's module when the command runs, completes or shows
its own help. The lab is not imported unless a lab command runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from toolkit.cli import COMPLETE_VAR
from toolkit.cli.options import humanize_types

__all__ = ["COMMANDS", "COMPLETE_VAR", "LazyGroup", "app", "humanize_types", "load_command"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives and its one-line help (tests check it matches the command's)."""

    module: str
    attribute: str
    short_help: str


#: Command name -> where it is defined. Order is the order of ``psfleet --help``.
COMMANDS: dict[str, LazyCommand] = {
    "audit": LazyCommand(
        "toolkit.cli.audit_cmd", "audit", "Audit SMB signing and secure-negotiate settings (read-only)."
    ),
    "remediate": LazyCommand(
        "toolkit.cli.remediate_cmd",
        "remediate_command",
        "Bring drifted hosts to the inventory's desired state: plan, confirm, journal, write, verify.",
    ),
    "rollback": LazyCommand(
        "toolkit.cli.remediate_cmd",
        "rollback_command",
        "Restore every value a remediation journal changed, verified by read-back.",
    ),
    "run": LazyCommand(
        "toolkit.cli.run_cmd", "run_command", "Run one command on every host and tabulate what comes back."
    ),
    "worker": LazyCommand(
        "toolkit.cli.worker_cmd",
        "worker",
        "Run a site worker: consume the site's queue on the broker and run its hosts.",
    ),
    "inventory": LazyCommand(
        "toolkit.cli.inventory_cmd", "app", "Inspect inventories (native YAML, Ansible INI, YAML, folders)."
    ),
    "baseline": LazyCommand(
        "toolkit.cli.baseline_cmd",
        "app",
        "Baselines: the checks psfleet judges and fixes, as data (docs/baselines.md).",
    ),
    "probe": LazyCommand(
        "toolkit.cli.smb_cmd", "probe_app", "Look at what hosts answer on the wire (no WinRM)."
    ),
    "diagnose": LazyCommand("toolkit.cli.smb_cmd", "diagnose_app", "Diagnose one path to one server."),
    "history": LazyCommand(
        "toolkit.cli.store_cmd",
        "history_command",
        "Recorded runs with their counts (oldest first), or one host's timeline (--host).",
    ),
    "diff": LazyCommand(
        "toolkit.cli.store_cmd",
        "diff_command",
        "What changed between two runs (newly drifted, fixed, unreachable, back). Exit 4 if worse.",
    ),
    "report": LazyCommand(
        "toolkit.cli.store_cmd",
        "report_command",
        "An HTML page of the fleet's compliance over time (self-contained).",
    ),
    "lab": LazyCommand(
        "toolkit.cli.lab_cmd", "app", "The lab: an emulated Windows fleet speaking real WinRM on loopback."
    ),
    "demo": LazyCommand(
        "toolkit.cli.lab_cmd", "demo", "Start an embedded mixed lab, audit it and explain the table."
    ),
}


def load_command(name: str) -> Any:
    """Import the command ``name`` and return it as a click command (help types humanized)."""
    spec = COMMANDS[name]
    target = getattr(importlib.import_module(spec.module), spec.attribute)
    if not isinstance(target, typer.Typer):
        holder = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode=None)
        holder.command(name)(target)
        target = holder
    command = typer.main.get_command(target)
    command.name = name
    humanize_types(command)
    return command


class LazyGroup(TyperGroup):
    """A group whose commands come from :data:`COMMANDS`, imported on first use.

    While the group lists its commands (its own help, completing a command name) it hands
    out stand-ins that carry only the one-line help, so nothing is imported."""

    _listing = False

    @property  # type: ignore[override]
    def commands(self) -> dict[str, Any]:
        """Every command, imported (for tools that walk the tree; the CLI itself does not)."""
        for name in COMMANDS:
            self._get(name)
        return self._loaded

    @commands.setter
    def commands(self, value: dict[str, Any]) -> None:
        self._loaded = dict(value)

    def _get(self, name: str) -> Any:
        loaded = self.__dict__.setdefault("_loaded", {})
        if name not in loaded and name in COMMANDS:
            loaded[name] = load_command(name)
        return loaded.get(name)

    # Typer 0.29 vendors its own click: context and formatter types are left as Any.
    def list_commands(self, ctx: Any) -> list[str]:
        # Commands registered on ``app`` directly (not lazily) are listed after the table's.
        extra = [name for name in self.__dict__.get("_loaded", {}) if name not in COMMANDS]
        return [*COMMANDS, *extra]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing and cmd_name in COMMANDS and cmd_name not in self.__dict__.get("_loaded", {}):
            return TyperCommand(cmd_name, short_help=COMMANDS[cmd_name].short_help)
        return self._get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        self._listing = True
        try:
            return list(super().shell_complete(ctx, incomplete))
        finally:
            self._listing = False


app = typer.Typer(
    name="psfleet",
    cls=LazyGroup,
    help="Audit and fix SMB validate-negotiate and signing settings across a Windows fleet over WinRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,  # plain help: TEXT/INTEGER types, and no rich import to show it
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("psfleet")
        except PackageNotFoundError:
            from toolkit import __version__ as text
        typer.echo(f"psfleet {text}")
        raise typer.Exit(0)


@app.callback()
def global_options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print psfleet's version and exit."
    ),
    inventory_backend: str = typer.Option(
        "auto",
        "--inventory-backend",
        envvar="PSFLEET_INVENTORY_BACKEND",
        metavar="auto|ansible|builtin",
        help="How to read Ansible inventories: 'ansible' runs ansible-inventory --list (group_vars, "
        "plugins, vault); 'builtin' reads them without Ansible and refuses what it cannot evaluate; "
        "'auto' uses ansible-inventory when it is on PATH.",
    ),
    vault_password_file: list[Path] = typer.Option(
        [],
        "--vault-password-file",
        metavar="FILE",
        help="Ansible Vault password file, passed to ansible-core (repeatable; "
        "ANSIBLE_VAULT_PASSWORD_FILE works too).",
    ),
    vault_id: list[str] = typer.Option(
        [],
        "--vault-id",
        metavar="LABEL@SOURCE",
        help="Ansible Vault id, passed to ansible-core (repeatable).",
    ),
    show_skipped: bool = typer.Option(
        False, "--show-skipped", help="List the inventory hosts skipped because they are not on WinRM."
    ),
) -> None:
    """Audit and fix SMB validate-negotiate and signing settings across a Windows fleet over WinRM."""
    from toolkit.cli.options import set_global_options

    set_global_options(
        backend=inventory_backend,
        vault_password_files=tuple(str(p) for p in vault_password_file),
        vault_ids=tuple(vault_id),
        show_skipped=show_skipped,
    )
