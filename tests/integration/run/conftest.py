"""A small lab for ``psfleet run``: Windows 8.1 / 2012 R2 hosts (where RequireSecureNegotiate
matters, DOMAIN 1.4), the REG_SZ trap, a non-admin account, an unreachable host and one slow
host listed first (for streaming order)."""

from __future__ import annotations

from tests.support.labfleet import lab_fleet_fixtures

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


fleet, inventory = lab_fleet_fixtures(SPEC, "run")
