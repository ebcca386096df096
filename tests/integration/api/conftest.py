"""Lab scaffolding for the API tests (kept here so the tests import nothing but ``toolkit``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.labfleet import lab_fleet_fixtures
from toolkit.lab.fleet import Fleet

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SPEC = f"""
hosts:
  - name: slow-81
    profile: win81
    latency_ms: 600  # long enough that the others finish first even on a loaded machine, with the
    # lockout guard holding them back until the first logon (or 1 s)
  - name: fast-2012r2
    profile: server2012r2
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: DWord, value: 0}}}}
  - name: fast-2019
    profile: server2019
  - name: down
    fault: refuse
"""


fleet, inventory = lab_fleet_fixtures(SPEC, "api")


@pytest.fixture
def workstation_value(fleet: Fleet) -> Callable[[str, str], Any]:
    """``(host, value name) -> (kind, data) | None`` under LanmanWorkstation\\Parameters."""
    return lambda host, name: fleet.sim(host).registry.get_value(WS, name)
