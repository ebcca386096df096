"""A package-scoped lab fleet and its inventory, the pair most integration folders need.

In a ``conftest.py``::

    fleet, inventory = lab_fleet_fixtures(SPEC, "run")

gives the fixtures ``fleet`` (a started :class:`toolkit.lab.fleet.Fleet` on 127.0.0.1, one
port per host) and ``inventory`` (the path of a psfleet inventory for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec


def lab_fleet_fixtures(spec: str, name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The ``fleet`` and ``inventory`` fixtures for the lab spec text ``spec``; ``name`` labels
    the spec in errors and the temporary folders."""

    @pytest.fixture(scope="package")
    def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
        work = tmp_path_factory.mktemp(f"{name}-lab")
        with Fleet(loads_spec(spec, f"{name}-fleet.yml"), addressing="port", workdir=work) as f:
            yield f

    @pytest.fixture(scope="package")
    def inventory(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
        path = tmp_path_factory.mktemp(f"{name}-inv") / "lab.yml"
        fleet.write_inventory(path)
        return path

    return fleet, inventory
