"""Small helpers for inventory tests: write a file, load it, get its one error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def _find_ansible_inventory() -> str | None:
    """``ansible-inventory``: in ``$PSFLEET_ANSIBLE_BIN`` (a folder), on PATH, or in
    /opt/ansible-venv/bin, where scripts/install_deps.sh puts it."""
    given = os.environ.get("PSFLEET_ANSIBLE_BIN")
    if given:
        return str(Path(given) / "ansible-inventory")
    found = shutil.which("ansible-inventory")
    if found:
        return found
    fallback = Path("/opt/ansible-venv/bin/ansible-inventory")
    return str(fallback) if fallback.exists() else None


ANSIBLE_INVENTORY = _find_ansible_inventory()
needs_ansible = pytest.mark.skipif(
    ANSIBLE_INVENTORY is None,
    reason="ansible-inventory not installed (scripts/install_deps.sh puts it in /opt/ansible-venv)",
)


def ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put ansible-inventory's folder first on PATH, as a user's shell would have it."""
    if ANSIBLE_INVENTORY is not None:
        folder = str(Path(ANSIBLE_INVENTORY).parent)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m toolkit.cli ARGS`` as a user types it: no ``PSFLEET_*`` variables and no
    config file, ansible-inventory's folder (when installed) first on PATH, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PSFLEET_")}
    clean["PSFLEET_CONFIG"] = ""
    if ANSIBLE_INVENTORY is not None:
        clean["PATH"] = f"{Path(ANSIBLE_INVENTORY).parent}{os.pathsep}{clean.get('PATH', '')}"
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=300,
        check=False,
    )
