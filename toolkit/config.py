"""Optional defaults from a TOML file, for runbooks that run psfleet the same way every day.

Where: ``$PSFLEET_CONFIG`` if set (a path; an empty value turns the file off), else
``$XDG_CONFIG_HOME/psfleet/config.toml`` (``~/.config/psfleet/config.toml``). A missing file
at the default place is no error; a missing ``$PSFLEET_CONFIG`` file is.

What (top level for both commands that read it, ``audit`` and ``run``; a ``[run]`` /
``[audit]`` table for one of them)::

    inventory = "/etc/psfleet/fleet.yml"
    forks = 32
    timeout = 90
    retries = 1
    format = "table"
    table_format = "simple"
    transport = "auto"
    db = "postgresql://psfleet@db.example.org/psfleet"  # the compliance store (--db)

    [run]
    format = "ndjson"

Precedence, strongest first: command-line option > environment variable
(``PSFLEET_INVENTORY``, ``PSFLEET_FORKS``, ``PSFLEET_TIMEOUT``, ``PSFLEET_FORMAT``) > this
file (command table > top level) > built-in default. :func:`effective` is that rule as a pure
function; the CLI applies it to a command's options (``toolkit.cli.options.apply_to_command``).
This module is below the CLI: it imports no Typer or click.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import InputError, UsageError

ENV_CONFIG = "PSFLEET_CONFIG"

#: Keys the file may set, and the Python types each accepts.
KEYS: Mapping[str, tuple[type, ...]] = {
    "inventory": (str,),
    "forks": (int,),
    "timeout": (int, float),
    "retries": (int,),
    "format": (str,),
    "table_format": (str,),
    "transport": (str,),
    # The scale-out engine (toolkit/engine): local or celery, and the Redis broker URL.
    "engine": (str,),
    "broker": (str,),
    "db": (str,),
}
#: Tables for one command.
COMMANDS = ("audit", "run")


class ConfigError(InputError):
    """The config file cannot be read or has a bad key or value. Exit code 2."""


@dataclass(frozen=True)
class Config:
    """Defaults read from the file (empty when there is none)."""

    path: Path | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    commands: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def get(self, key: str, command: str | None = None) -> Any:
        """The value for ``key`` (the command's table first), or None."""
        if command is not None and key in self.commands.get(command, {}):
            return self.commands[command][key]
        return self.values.get(key)


def config_path(env: Mapping[str, str] | None = None) -> tuple[Path | None, bool]:
    """Where the config file is, and whether it must exist (named by ``$PSFLEET_CONFIG``)."""
    env = os.environ if env is None else env
    explicit = env.get(ENV_CONFIG)
    if explicit is not None:
        return (Path(explicit).expanduser(), True) if explicit.strip() else (None, False)
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "psfleet" / "config.toml", False


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (``path``, else :func:`config_path`). Raises :class:`ConfigError`
    with the file and key for anything wrong; relative ``inventory`` paths are taken from the
    file's directory."""
    required = path is not None
    found: Path | None = Path(path) if path is not None else None
    if found is None:
        found, required = config_path(env)
    if found is None:
        return Config()
    if not found.exists():
        if required:
            raise ConfigError("config file not found", file=found)
        return Config()
    import tomllib  # only when there is a file to read (most runs have none)

    from toolkit.yamlsrc import read_bounded

    text = read_bounded(found, ConfigError)  # a size bound: $PSFLEET_CONFIG=/dev/zero fails at once
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=found) from None
    values: dict[str, Any] = {}
    commands: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key in COMMANDS:
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table", file=found, field=key)
            commands[key] = {k: _check(found, f"{key}.{k}", k, v) for k, v in value.items()}
        else:
            values[key] = _check(found, key, key, value)
    for table in (values, *commands.values()):
        if isinstance(table.get("inventory"), str):
            table["inventory"] = str((found.parent / Path(table["inventory"]).expanduser()).resolve())
    return Config(found, values, commands)


def _check(file: Path, where: str, key: str, value: Any) -> Any:
    if key not in KEYS:
        known = ", ".join([*KEYS, *(f"[{c}]" for c in COMMANDS)])
        raise ConfigError(f"unknown key (known: {known})", file=file, field=where)
    types = KEYS[key]
    if isinstance(value, bool) or not isinstance(value, types):
        wanted = " or ".join("number" if t in (int, float) else "text" for t in types)
        raise ConfigError(f"expected {wanted}, got {type(value).__name__} {value!r}", file=file, field=where)
    return value


def effective(option: Any, *, from_user: bool, config_value: Any) -> Any:
    """The precedence rule: a value the user gave (option or environment, ``from_user``)
    wins; else the config file's value when it has one; else the built-in default
    (``option`` as parsed)."""
    if from_user or config_value is None:
        return option
    return config_value


def require_inventory(value: Any) -> Path:
    """The inventory path from an option, ``PSFLEET_INVENTORY`` or the config file; a one-line
    usage error (exit 2) when none of them names one."""
    if value is None or str(value) == "":
        raise UsageError(
            'no inventory: pass -i FILE, set PSFLEET_INVENTORY or put inventory = "..." in the config file',
            field="--inventory",
        )
    return Path(value)
