"""Small helpers for inventory tests: write a file, load it, get its one error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.loader import check_inventory, load_inventory
from toolkit.inventory.model import Inventory


def write(tmp_path: Path, text: str, name: str = "inv.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, name: str = "inv.yml") -> Inventory:
    return load_inventory(write(tmp_path, text, name))


def only_error(tmp_path: Path, text: str, name: str = "inv.yml") -> str:
    """The single error of an inventory, with the temp folder replaced by ``{dir}``."""
    path = write(tmp_path, text, name)
    errors = check_inventory(path)
    assert len(errors) == 1, [str(e) for e in errors]
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value) == str(errors[0])
    assert "\n" not in str(errors[0])
    return str(errors[0]).replace(str(tmp_path), "{dir}")
