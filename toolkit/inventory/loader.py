"""Read an inventory file in whichever format it is written.

Detection: ``.ini``/``.cfg`` files are Ansible INI. Otherwise the text is parsed as YAML; a
mapping is native if it has any of ``psfleet``, ``hosts``, ``groups`` or ``defaults``; a mapping with ``all:`` or whose values all look like Ansible groups (only
``hosts``/``children``/``vars``) is an Ansible YAML inventory; anything else is read as native
so that its errors suggest native keys.
Text that is not YAML, or is YAML but not a mapping (an INI file often parses as a plain string),
is read as Ansible INI when it looks like INI (a ``[section]`` line or ``key=value``) or is
plain text (a list of host names). A folder is an Ansible inventory folder; a mapping with
``plugin:`` is an Ansible inventory plugin's configuration.

Ansible inventories are read by a backend (:class:`InventoryOptions`, ``--inventory-backend``):
``ansible`` runs ansible-core (:mod:`toolkit.inventory.ansible_cli`), ``builtin`` reads them
itself (:mod:`toolkit.inventory.ansible`), ``auto`` picks ``ansible`` when
``ansible-inventory`` is on PATH. Both end in :mod:`toolkit.inventory.ansible_hosts`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError, InventoryError
from toolkit.inventory.model import Inventory

# The readers (YAML, INI, Ansible's variables and connection plugins) are imported when an
# inventory is read: every command sets the inventory options through this module at start
# (``psfleet history`` reads no inventory and must not pay for them).
if TYPE_CHECKING:
    from toolkit.inventory.ansible import AnsibleView
    from toolkit.inventory.ansible_hosts import Decrypt, SkippedHost
    from toolkit.inventory.settings import Problems


def __getattr__(name: str) -> Any:
    if name == "SkippedHost":  # re-exported
        from toolkit.inventory.ansible_hosts import SkippedHost

        return SkippedHost
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKENDS",
    "LoadedInventory",
    "SkippedHost",
    "check_inventory",
    "detect_format",
    "load_inventory",
    "read_inventory",
]

_INI_SUFFIXES = (".ini", ".cfg")
_LOOKS_INI = re.compile(r"^\s*(\[[^\]\s]+\]\s*|[^\s#;:=]+(\s+[^\s=]+=\S*)+\s*)$", re.MULTILINE)
#: ``--inventory-backend``: ``auto`` uses ansible-core when ``ansible-inventory`` is on PATH.
BACKENDS: tuple[str, ...] = ("auto", "ansible", "builtin")
ENV_BACKEND = "PSFLEET_INVENTORY_BACKEND"


@dataclass(frozen=True)
class LoadedInventory:
    """An inventory, the hosts left out of it on purpose (Ansible hosts not on WinRM), with
    reasons, and one-line warnings for the user (a plain password in a shared file)."""

    inventory: Inventory
    skipped: tuple[SkippedHost, ...] = ()
    warnings: tuple[str, ...] = ()
    backend: str = "builtin"


@dataclass(frozen=True)
class InventoryOptions:
    """How to read Ansible inventories: the backend and vault secrets for ansible-core."""

    backend: str = "auto"
    vault_password_files: tuple[str, ...] = ()
    vault_ids: tuple[str, ...] = ()


_options = InventoryOptions()
_reporter: Callable[[LoadedInventory], None] | None = None


def set_inventory_options(
    options: InventoryOptions, *, reporter: Callable[[LoadedInventory], None] | None = None
) -> None:
    """Process-wide defaults for :func:`read_inventory` (the CLI's ``--inventory-backend`` and
    vault options), and ``reporter``, called with every inventory loaded (the CLI prints the
    skipped hosts and warnings). Not thread-safe: call before loading."""
    global _options, _reporter
    _reporter = reporter
    if options.backend not in BACKENDS:
        raise InputError(
            f"unknown inventory backend {options.backend!r}; choose one of: {', '.join(BACKENDS)}",
            field="--inventory-backend",
        )
    _options = options


def inventory_options() -> InventoryOptions:
    return _options


def _read_text(path: Path) -> str:
    from toolkit.yamlsrc import read_bounded

    return read_bounded(path, InventoryError)


def detect_format(path: str | Path, text: str) -> str:
    """``native``, ``ansible-yaml`` or ``ansible-ini`` (see the module docstring)."""
    return _detect(path, text)[0]


def _detect(path: str | Path, text: str) -> tuple[str, object]:
    """The format and what the YAML parser made of ``text`` (the data, or the
    :class:`InputError` it raised; None for a ``.ini``/``.cfg`` file), so that the text is
    parsed once."""
    from toolkit.inventory.native import TOP_KEYS
    from toolkit.inventory.vault_yaml import load_yaml
    from toolkit.yamlsrc import SrcDict

    if Path(path).suffix.lower() in _INI_SUFFIXES:
        return "ansible-ini", None
    try:
        data = load_yaml(text, str(path))
    except InputError as exc:
        return ("ansible-ini" if _LOOKS_INI.search(text) else "native"), exc
    if isinstance(data, SrcDict):
        if any(key in TOP_KEYS for key in data):
            return "native", data
        if "plugin" in data:  # an inventory plugin's configuration (constructed, aws_ec2...)
            return "ansible-yaml", data
        if "all" in data or all(_group_shaped(value) for value in data.values()):
            return "ansible-yaml", data
        return "native", data  # errors will then suggest the native keys
    if isinstance(data, str) or (data is not None and _LOOKS_INI.search(text)):
        return "ansible-ini", data
    return "native", data


def _group_shaped(value: object) -> bool:
    return value is None or (
        isinstance(value, dict) and all(k in ("hosts", "children", "vars") for k in value)
    )


def _backend(path: Path, options: InventoryOptions) -> str:
    backend = options.backend
    if os.environ.get(ENV_BACKEND) and options.backend == "auto":
        backend = os.environ[ENV_BACKEND].strip().lower()
        if backend not in BACKENDS:
            raise InventoryError(
                f"{ENV_BACKEND}={backend!r} is not one of: {', '.join(BACKENDS)}", field=ENV_BACKEND
            )
    if backend == "auto":
        from toolkit.inventory.ansible_cli import find_ansible_inventory

        backend = "ansible" if find_ansible_inventory() else "builtin"
    return backend


def _parse(path: str | Path, problems: Problems, options: InventoryOptions) -> LoadedInventory | None:
    from toolkit.inventory.native import parse_native

    file = str(path)
    source = Path(path)
    data: object = None
    decrypt: Decrypt | None = None
    if source.is_dir():
        kind = "ansible-dir"
    else:
        text = _read_text(source)
        kind, data = _detect(path, text)
    if kind == "native":
        if isinstance(data, InputError):
            problems.add_input_error(data)
            return None
        inventory = parse_native(data, file, problems)
        if inventory is None:
            return None
        return LoadedInventory(inventory)
    from toolkit.inventory.ansible import read_ansible
    from toolkit.inventory.ansible_hosts import to_inventory

    backend = _backend(source, options)
    view: AnsibleView
    if backend == "ansible":
        from toolkit.inventory.ansible_cli import VaultOptions, read_with_ansible, vault_decrypter

        vault = VaultOptions(options.vault_password_files, options.vault_ids)
        view = read_with_ansible(source, vault=vault)
        decrypt = vault_decrypter(source, vault=vault)  # type: ignore[assignment]
    elif kind == "ansible-yaml" and isinstance(data, InputError):
        problems.add_input_error(data)
        return None
    else:
        view = read_ansible(source, problems, kind=kind, data=data)
    if problems:
        return None
    inventory, skipped, warnings = to_inventory(view, problems, decrypt=decrypt)
    if inventory is None:
        return None
    if not inventory.hosts:
        first = skipped[0] if skipped else None
        detail = f" ({len(skipped)} skipped; {first.name}: {first.reason})" if first else ""
        problems.add(f"no host psfleet can manage{detail}", 1 if not source.is_dir() else None)
        return None
    return LoadedInventory(inventory, tuple(skipped), tuple(warnings), backend)


def read_inventory(
    path: str | Path, *, options: InventoryOptions | None = None, report: bool = True
) -> LoadedInventory:
    """Load an inventory and also return the hosts it skipped, with reasons (for the CLI to show).

    Raises the first :class:`InventoryError` (in line order) if the file has any problem.
    """
    from toolkit.inventory.settings import Problems
    from toolkit.yamlsrc import gc_paused

    problems = Problems(str(path))
    with gc_paused():  # tens of thousands of objects, no cycles: the collector only slows it
        loaded = _parse(path, problems, options or _options)
    if problems or loaded is None:
        errors = problems.errors
        raise errors[0] if errors else InventoryError("invalid inventory", file=str(path))
    if report and _reporter is not None:
        _reporter(loaded)
    return loaded


def load_inventory(path: str | Path) -> Inventory:
    """Load a native, Ansible INI or Ansible YAML inventory.

    Raises :class:`InventoryError` (one line, ``file:line: field: message``) for the first
    problem; use :func:`check_inventory` to see them all.
    """
    return read_inventory(path).inventory


def check_inventory(path: str | Path, *, options: InventoryOptions | None = None) -> list[InventoryError]:
    """Every problem in the inventory, in line order; an empty list means it loads."""
    from toolkit.inventory.settings import Problems
    from toolkit.yamlsrc import gc_paused

    problems = Problems(str(path))
    try:
        with gc_paused():
            _parse(path, problems, options or _options)
    except InventoryError as exc:  # unreadable file: nothing else to check
        return [exc]
    return problems.errors
