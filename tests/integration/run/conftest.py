"""A small lab for ``psfleet run``: Windows 8.1 / 2012 R2 hosts (where RequireSecureNegotiate
matters, DOMAIN 1.4), the REG_SZ trap, a non-admin account, an unreachable host and one slow
host listed first (for streaming order)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"

SPEC = f"""
users:
  - {{name: admin, password: 'Adm1n-Run!', admin: true}}
  - {{name: reader, password: 'Read3r-Run!', admin: false}}
hosts:
  - name: slow-2012r2
    profile: server2012r2
    latency_ms: 250
  - name: win81
    profile: win81
  - name: trap-81
    profile: win81
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: '0'}}}}
  - name: srv2019
    profile: server2019
  - name: readonly-1
    profile: server2012r2
    fault: non_admin
  - name: gone
    profile: server2012
    fault: refuse
"""

#: Hosts that answer (everything but the refused one).
REACHABLE = ("slow-2012r2", "win81", "trap-81", "srv2019", "readonly-1")


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("run-lab")
    with Fleet(loads_spec(SPEC, "run-fleet.yml"), addressing="port", workdir=work) as f:
        yield f


@pytest.fixture(scope="package")
def inventory(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run-inv") / "lab.yml"
    fleet.write_inventory(path)
    return path
