"""Lab scaffolding for the API tests (kept here so the tests import nothing but ``toolkit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SPEC = f"""
hosts:
  - name: slow-81
    profile: win81
    latency_ms: 250
  - name: fast-2012r2
    profile: server2012r2
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: DWord, value: 0}}}}
  - name: fast-2019
    profile: server2019
  - name: down
    fault: refuse
"""


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(
        loads_spec(SPEC, "api.yml"), addressing="port", workdir=tmp_path_factory.mktemp("api-lab")
    ) as f:
        yield f


@pytest.fixture(scope="package")
def inventory(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-inv") / "lab.yml"
    fleet.write_inventory(path)
    return path


@pytest.fixture
def workstation_value(fleet: Fleet) -> Callable[[str, str], Any]:
    """``(host, value name) -> (kind, data) | None`` under LanmanWorkstation\\Parameters."""
    return lambda host, name: fleet.sim(host).registry.get_value(WS, name)
