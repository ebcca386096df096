"""Read an inventory file in whichever format it is written.

Detection: ``.ini``/``.cfg`` files are Ansible INI. Otherwise the text is parsed as YAML; a
mapping is native if it has any of ``psfleet``, ``hosts``, ``groups`` or ``defaults``; a mapping with ``all:`` or whose values all look like Ansible groups (only
``hosts``/``children``/``vars``) is an Ansible YAML inventory; anything else is read as native
so that its errors suggest native keys.
Text that is not YAML, or is YAML but not a mapping (an INI file often parses as a plain string),
is read as Ansible INI when it looks like INI (a ``[section]`` line or ``key=value``) or is
plain text (a list of host names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import InputError, InventoryError
from toolkit.inventory.ansible import SkippedHost, parse_ansible_ini, parse_ansible_yaml
from toolkit.inventory.model import Inventory
from toolkit.inventory.native import TOP_KEYS, parse_native
from toolkit.inventory.settings import Problems
from toolkit.yamlsrc import SrcDict, loads

_INI_SUFFIXES = (".ini", ".cfg")
_LOOKS_INI = re.compile(r"^\s*(\[[^\]\s]+\]\s*|[^\s#;:=]+(\s+[^\s=]+=\S*)+\s*)$", re.MULTILINE)
_VAULT_ADVICE = (
    "encrypted (!vault) values are not read; psfleet does not read passwords from inventories: "
    "use password_env, password_keyring or password_prompt"
)


@dataclass(frozen=True)
class LoadedInventory:
    """An inventory and the hosts left out of it on purpose (Ansible hosts not on WinRM)."""

    inventory: Inventory
    skipped: tuple[SkippedHost, ...] = ()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError("file not found", file=path) from None
    except IsADirectoryError:
        raise InventoryError("is a directory, not an inventory file", file=path) from None
    except UnicodeDecodeError as exc:
        raise InventoryError(f"not UTF-8 text (byte {exc.start})", file=path) from None
    except OSError as exc:
        raise InventoryError(f"cannot read: {exc.strerror}", file=path) from None


def detect_format(path: str | Path, text: str) -> str:
    """``native``, ``ansible-yaml`` or ``ansible-ini`` (see the module docstring)."""
    return _detect(path, text)[0]


def _detect(path: str | Path, text: str) -> tuple[str, object]:
    """The format and what the YAML parser made of ``text`` (the data, or the
    :class:`InputError` it raised; None for a ``.ini``/``.cfg`` file), so that the text is
    parsed once."""
    if Path(path).suffix.lower() in _INI_SUFFIXES:
        return "ansible-ini", None
    try:
        data = loads(text, str(path))
    except InputError as exc:
        return ("ansible-ini" if _LOOKS_INI.search(text) else "native"), exc
    if isinstance(data, SrcDict):
        if any(key in TOP_KEYS for key in data):
            return "native", data
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


def _parse(path: str | Path, problems: Problems) -> LoadedInventory | None:
    file = str(path)
    text = _read_text(Path(path))
    kind, data = _detect(path, text)
    skipped: list[SkippedHost] = []
    if kind == "ansible-ini":
        inventory, skipped = parse_ansible_ini(text, file, problems)
    elif isinstance(data, InputError):
        if "!vault" in data.message:
            problems.add(_VAULT_ADVICE, data.line, data.field)
        else:
            problems.add_input_error(data)
        return None
    elif kind == "native":
        inventory = parse_native(data, file, problems)
    else:
        inventory, skipped = parse_ansible_yaml(data, file, problems)
    if inventory is None:
        return None
    if not inventory.hosts:
        first = skipped[0] if skipped else None
        detail = f" ({len(skipped)} skipped; {first.name}: {first.reason})" if first else ""
        problems.add(f"no host psfleet can manage{detail}", 1)
        return None
    return LoadedInventory(inventory, tuple(skipped))


def read_inventory(path: str | Path) -> LoadedInventory:
    """Load an inventory and also return the hosts it skipped, with reasons (for the CLI to show).

    Raises the first :class:`InventoryError` (in line order) if the file has any problem.
    """
    problems = Problems(str(path))
    loaded = _parse(path, problems)
    if problems or loaded is None:
        errors = problems.errors
        raise errors[0] if errors else InventoryError("invalid inventory", file=str(path))
    return loaded


def load_inventory(path: str | Path) -> Inventory:
    """Load a native, Ansible INI or Ansible YAML inventory.

    Raises :class:`InventoryError` (one line, ``file:line: field: message``) for the first
    problem; use :func:`check_inventory` to see them all.
    """
    return read_inventory(path).inventory


def check_inventory(path: str | Path) -> list[InventoryError]:
    """Every problem in the inventory, in line order; an empty list means it loads."""
    problems = Problems(str(path))
    try:
        _parse(path, problems)
    except InventoryError as exc:  # unreadable file: nothing else to check
        return [exc]
    return problems.errors
