"""A lab fleet with a share of faulty hosts spread over every fault kind, and the oracle that
checks an audit report against what the lab holds.

Shared by ``tests/reliability/test_faults_at_scale.py`` (CI size) and
``scripts/faults_at_scale.py`` (1,000 hosts). Healthy hosts get one of a few registry states
whose verdicts are known per OS build; reported ``actual`` values are compared with the lab's
registry as read back from the simulated host (or its persisted ``--state`` file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.lab.profiles import PROFILE_NAMES, get_profile
from toolkit.lab.spec import FAULT_KINDS

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
NEGOTIATE = "RequireSecureNegotiate"
SIGNING = "RequireSecuritySignature"
PASSWORD = "Sc4le-Lab!pw"

#: fault kind -> the host status an audit must report (None: audited like a healthy host)
FAULT_STATUS: dict[str, str | None] = {
    "refuse": "unreachable",
    "reset": "unreachable",
    "hang": "timeout",
    "slow": "timeout",
    "http500": "protocol_error",
    "auth_fail": "auth_failed",
    "flaky": None,
    "non_admin": None,
    # Refusals every client makes: no redirect is followed, no answer may exceed the size cap.
    "redirect": "protocol_error",
    "endless_body": "protocol_error",
    # Quirks the lean client survives (or, for odd_boundary, hands to pypsrp): audited as healthy.
    "conn_close": None,
    "reauth": None,
    "odd_boundary": None,
}
assert set(FAULT_STATUS) == set(FAULT_KINDS), "a new fault kind needs an expected status here"

#: fault kind -> the host status ``psfleet remediate`` must report (healthy hosts: compliant)
REMEDIATE_STATUS: dict[str, str] = {
    **{k: v for k, v in FAULT_STATUS.items() if v is not None},
    "flaky": "compliant",
    "non_admin": "access_denied",  # the read works, every write is refused
    "conn_close": "compliant",
    "reauth": "compliant",
    "odd_boundary": "compliant",  # read and written through pypsrp after the lean client's refusal
}

#: registry states of healthy hosts: (client/server RequireSecuritySignature, RequireSecureNegotiate)
STATES: dict[str, dict[str, str]] = {
    "hardened": {
        SRV: f"{{{SIGNING}: {{kind: DWord, value: 1}}}}",
        WS: f"{{{SIGNING}: {{kind: DWord, value: 1}}}}",
    },
    "drifted": {
        SRV: f"{{{SIGNING}: {{kind: DWord, value: 0}}}}",
        WS: f"{{{SIGNING}: {{kind: DWord, value: 0}}, {NEGOTIATE}: {{kind: DWord, value: 0}}}}",
    },
    "trap": {
        SRV: f"{{{SIGNING}: {{kind: DWord, value: 1}}}}",
        WS: f"{{{SIGNING}: {{kind: DWord, value: 1}}, {NEGOTIATE}: {{kind: String, value: '0'}}}}",
    },
}
STATE_NAMES = tuple(STATES)


@dataclass(frozen=True)
class PlannedHost:
    name: str
    profile: str
    state: str
    fault: str | None


def plan(hosts: int, *, faulty_share: float = 0.10) -> list[PlannedHost]:
    """``hosts`` hosts; every ``1/faulty_share``-th one faulty, faults cycling over every kind."""
    step = max(1, round(1 / faulty_share))
    out: list[PlannedHost] = []
    faults = 0
    for i in range(hosts):
        fault = None
        if i % step == step // 2:
            fault = FAULT_KINDS[faults % len(FAULT_KINDS)]
            faults += 1
        profile = "server2022" if fault else PROFILE_NAMES[i % len(PROFILE_NAMES)]
        # Faulty hosts are drifted, so remediation has something to write on flaky/non_admin ones.
        state = "drifted" if fault else STATE_NAMES[(i // len(PROFILE_NAMES)) % len(STATE_NAMES)]
        out.append(PlannedHost(f"h{i:04d}", profile, state, fault))
    return out


def spec_text(planned: list[PlannedHost], *, timeout_s: float) -> str:
    """Lab spec YAML; ``slow`` hosts answer 3x past the per-host deadline."""
    lines = [
        "users:",
        f"  - {{name: admin, password: '{PASSWORD}', admin: true}}",
        f"  - {{name: reader, password: '{PASSWORD}', admin: false}}",
        "hosts:",
    ]
    for h in planned:
        lines += [f"  - name: {h.name}", f"    profile: {h.profile}", "    registry:"]
        lines += [f"      '{path}': {values}" for path, values in STATES[h.state].items()]
        if h.fault == "slow":
            lines.append(f"    fault: {{kind: slow, ms: {int(timeout_s * 3000)}}}")
        elif h.fault == "flaky":
            lines.append("    fault: {kind: flaky, count: 1}")
        elif h.fault:
            lines.append(f"    fault: {h.fault}")
    return "\n".join(lines) + "\n"


#: (path, value name) -> (kind, data) or None, as the lab holds it for one host
LabValues = Callable[[str, str], "tuple[str, Any] | None"]


def _describe(value: tuple[str, Any] | None) -> str:
    if value is None:
        return "absent"
    kind, data = value
    return f"{data} (DWord)" if kind == "DWord" else f"{data!r} ({kind})"


def expected_checks(profile: str, lab: LabValues) -> dict[str, str]:
    """check id -> status under the default (secure baseline) policy, from the lab's values."""
    build = get_profile(profile).build
    out: dict[str, str] = {}
    for check, path in (("client_signing", WS), ("server_signing", SRV)):
        value = lab(path, SIGNING)
        if value is None or value[0] != "DWord":
            raise AssertionError(f"oracle only knows DWORD signing states, not {value}")
        out[check] = "compliant" if value[1] == 1 else "drift"
    negotiate = lab(WS, NEGOTIATE)
    if build < 9200:
        out["secure_negotiate"] = "not_applicable"
    elif build >= 10240 or negotiate is None or negotiate == ("DWord", 1):
        out["secure_negotiate"] = "compliant"
    else:
        out["secure_negotiate"] = "drift"  # DWORD 0 or the REG_SZ trap on 9200/9600
    return out


def verify_report(
    doc: Mapping[str, Any], planned: list[PlannedHost], lab_values: Callable[[str], LabValues]
) -> list[str]:
    """Every problem found in an audit JSON report (empty list: all good)."""
    problems: list[str] = []
    hosts = doc.get("hosts", [])
    names = [h["name"] for h in hosts]
    expected_names = [p.name for p in planned]
    if sorted(names) != sorted(expected_names):
        missing = sorted(set(expected_names) - set(names))
        extra = sorted(set(names) - set(expected_names))
        problems.append(f"host set differs: missing {missing[:5]}, unexpected {extra[:5]}")
    dupes = sorted({n for n in names if names.count(n) > 1}) if len(names) != len(set(names)) else []
    if dupes:
        problems.append(f"hosts reported more than once: {dupes[:5]}")
    by_name = {h["name"]: h for h in hosts}
    for p in planned:
        host = by_name.get(p.name)
        if host is None:
            continue
        want = FAULT_STATUS[p.fault] if p.fault else None
        if want is not None:
            if host["status"] != want:
                problems.append(
                    f"{p.name} ({p.fault}): status {host['status']}, expected {want}: {host['error']}"
                )
            elif "Traceback" in json.dumps(host):
                problems.append(f"{p.name}: traceback in the report")
            continue
        lab = lab_values(p.name)
        checks = {c["id"]: c for c in host.get("checks", [])}
        if host["status"] not in ("compliant", "drift"):
            problems.append(
                f"{p.name} ({p.fault or 'healthy'}): not assessed: {host['status']} {host['error']}"
            )
            continue
        for check_id, status in expected_checks(p.profile, lab).items():
            got = checks.get(check_id)
            if got is None or got["status"] != status:
                problems.append(
                    f"{p.name} {p.profile} {p.state}: {check_id} {got and got['status']}, expected {status}"
                )
        for check_id, path in (("client_signing", WS), ("server_signing", SRV)):
            actual = checks.get(check_id, {}).get("actual", "")
            if f"{SIGNING}={_describe(lab(path, SIGNING))}" not in actual:
                problems.append(f"{p.name}: {check_id} actual {actual!r} does not match the lab")
        actual = checks.get("secure_negotiate", {}).get("actual", "")
        if f"{NEGOTIATE}={_describe(lab(WS, NEGOTIATE))}" not in actual:
            problems.append(f"{p.name}: secure_negotiate actual {actual!r} does not match the lab")
        want_host = "drift" if "drift" in expected_checks(p.profile, lab).values() else "compliant"
        if host["status"] != want_host:
            problems.append(f"{p.name}: host status {host['status']}, expected {want_host}")
    return problems


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.MULTILINE)


def has_traceback(text: str) -> bool:
    return bool(TRACEBACK.search(text))
