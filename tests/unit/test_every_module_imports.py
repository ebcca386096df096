"""Every module of the installed package imports on its own (CI has every optional extra).

A module that only works when something else was imported first, or that names a dependency
pyproject does not declare, fails here rather than at a user's first run of that command.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import toolkit

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(toolkit.__path__, prefix="toolkit.")
    # __main__ runs the CLI when imported; migration scripts are loaded by Alembic, not imported.
    if "migrations" not in info.name and not info.name.endswith("__main__")
)


def test_the_package_has_modules() -> None:
    assert len(MODULES) > 50, MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_in_a_fresh_interpreter(module: str) -> None:
    # A fresh interpreter: in this one, other tests have imported half the package already.
    proc = subprocess.run(
        [sys.executable, "-c", f"import importlib; importlib.import_module({module!r})"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_installed_requirements_are_consistent() -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_modules_list_is_importable_here_too() -> None:
    # The cheap in-process pass over the same list catches an import-time cycle between modules.
    for module in MODULES:
        assert importlib.import_module(module).__name__ == module
