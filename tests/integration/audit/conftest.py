"""A lab fleet covering every OS profile, drifted and compliant states and every fault kind."""

from __future__ import annotations

from tests.support.labfleet import lab_fleet_fixtures
from toolkit.lab.profiles import PROFILE_NAMES

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
HARDENED = (
    f"    registry:\n"
    f"      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}\n"
    f"      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}\n"
)

#: fault kind -> the host status psfleet must report
FAULTS = {
    "refuse": "unreachable",
    "reset": "unreachable",
    "hang": "timeout",
    "slow": "timeout",
    "http500": "protocol_error",
    "auth_fail": "auth_failed",
}


def fleet_spec() -> str:
    lines = [
        "users:",
        "  - {name: admin, password: 'Adm1n-Lab!', admin: true}",
        "  - {name: reader, password: 'Read3r-Lab!', admin: false}",
        "hosts:",
    ]
    for p in PROFILE_NAMES:
        lines.append(f"  - name: ok-{p}\n    profile: {p}\n" + HARDENED.rstrip("\n"))
        lines.append(f"  - name: default-{p}\n    profile: {p}")
    lines.append(
        f"  - name: trap-81\n    profile: win81\n    registry:\n"
        f"      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: '0'}}, RequireSecuritySignature: {{kind: DWord, value: 1}}}}\n"
        f"      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}"
    )
    lines.append(
        f"  - name: disabled-2012r2\n    profile: server2012r2\n    registry:\n"
        f"      '{WS}': {{RequireSecureNegotiate: {{kind: DWord, value: 0}}}}"
    )
    lines.append("  - name: flaky-1\n    profile: server2019\n    fault: {kind: flaky, count: 1}")
    lines.append("  - name: nonadmin-1\n    profile: server2019\n    fault: non_admin")
    for kind in FAULTS:
        fault = "{kind: slow, ms: 4000}" if kind == "slow" else kind
        lines.append(f"  - name: fault-{kind.replace('_', '-')}\n    profile: server2022\n    fault: {fault}")
    return "\n".join(lines) + "\n"


fleet, inventory = lab_fleet_fixtures(fleet_spec(), "audit")
