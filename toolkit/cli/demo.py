"""``psfleet demo``: a mixed lab fleet audited end to end, with the table explained."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from toolkit.api import audit
from toolkit.cli.common import progress_hooks, say, stderr_is_terminal
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.credentials import resolve_credentials
from toolkit.inventory.loader import load_inventory
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.lab.spec import loads_spec
from toolkit.report.render import legend, render
from toolkit.smb.audit_sections import smb_extensions

_WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
_SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"

#: Hosts hardened to the secure baseline, so the drifted ones stand out.
_HARDENED = f"""
    registry:
      '{_WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
      '{_SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
"""


def demo_spec_text() -> str:
    lines = ["users:", "  - {name: admin, password: 'Demo-P@ss-2026', admin: true}", "hosts:"]
    for profile in PROFILE_NAMES:
        lines.append(f"  - name: {profile}\n    profile: {profile}" + _HARDENED.rstrip())
    lines.append(
        f"""  - name: branch-fs-01
    profile: server2012r2
    registry:
      '{_WS}': {{RequireSecureNegotiate: {{kind: DWord, value: 0}}}}
  - name: branch-pc-07
    profile: win81
    registry:
      '{_WS}': {{RequireSecureNegotiate: {{kind: String, value: '0'}}, RequireSecuritySignature: {{kind: DWord, value: 1}}}}
      '{_SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
  - name: hq-app-03
    profile: server2019
  - name: old-dc-01
    profile: server2012
    fault: refuse
  - name: lab-kiosk
    profile: win10
    fault: auth_fail"""
    )
    return "\n".join(lines) + "\n"


def run_demo(*, transport: str | None = None) -> None:
    """Serve the demo fleet, audit it (``transport``: ``--transport``, None: the inventory's
    ``auto``), print the table and the legend."""
    from toolkit.inventory.model import Inventory
    from toolkit.transport.select import with_transport

    with_transport(Inventory(hosts=(), groups={}, source=""), transport)  # a bad name: exit 2 now
    spec = loads_spec(demo_spec_text(), "<demo spec>")
    with (
        tempfile.TemporaryDirectory(prefix="psfleet-demo-") as tmp,
        Fleet(spec, addressing="port", workdir=Path(tmp)) as fleet,
    ):
        inv_path = Path(tmp) / "demo-inventory.yml"
        fleet.write_inventory(inv_path)
        inv = with_transport(load_inventory(inv_path), transport)
        credentials = resolve_credentials(inv.hosts, interactive=False)
        say(
            f"psfleet demo: {len(inv.hosts)} emulated Windows hosts on 127.0.0.1 (real WinRM: NTLM + encryption)"
        )
        with progress_hooks(len(inv.hosts), enabled=stderr_is_terminal()) as hooks:
            run = audit(
                inv,
                credentials=credentials,
                options=FanoutOptions(forks=16, timeout=20, retries=0),
                hooks=hooks,
                # Each lab host answers SMB too: compare its wire signing with its registry.
                extensions=smb_extensions(with_probe=True),
            )
        sys.stdout.write(render(run, "table"))
        sys.stdout.flush()
        say("")
        say(legend())
        say("")
        say(
            "Try: psfleet lab serve --hosts 50 --profile mixed --inventory-out lab.yml, then psfleet audit -i lab.yml"
        )
