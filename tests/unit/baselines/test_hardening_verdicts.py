"""Data-driven verdicts of smb-hardening: (check, OS profile, value, desired state) -> status,
rule, a word of the reason; and the plan each drift gives (command per build, guardrails)."""

from __future__ import annotations

import pytest

from tests.unit.checks.helpers import PROFILES, current_version, dword, reg_sz
from toolkit.baselines.engine import evaluate
from toolkit.baselines.loader import resolve
from toolkit.checks.facts import ABSENT, HostFacts, KeyFacts, RegValue
from toolkit.checks.osinfo import os_info
from toolkit.inventory.model import Host, Policy
from toolkit.remediate.model import Outcome
from toolkit.remediate.plan import plan_host
from toolkit.results import CheckResult, CheckStatus, OsInfo

C, D, NA = CheckStatus.COMPLIANT, CheckStatus.DRIFT, CheckStatus.NOT_APPLICABLE
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
MRX = r"HKLM:\SYSTEM\CurrentControlSet\Services\mrxsmb10"
WHERE = {
    "smb1_server": (SRV, "SMB1"),
    "smb1_client": (MRX, "Start"),
    "insecure_guest_logons": (WS, "AllowInsecureGuestAuth"),
    "smb_encryption": (SRV, "EncryptData"),
}
HARDENING = resolve("smb-hardening")


def _facts(profile: str, check: str, value: RegValue, *, edition: str | None = None) -> HostFacts:
    cv = current_version(profile)
    if edition is not None:
        cv = KeyFacts(True, {**cv.values, "EditionID": reg_sz(edition)})
    path, name = WHERE[check]
    key = KeyFacts(True, {} if value.absent else {name: value})
    keys = {p: KeyFacts(True) for p, _ in WHERE.values()}
    keys[path] = key
    return HostFacts(cv, keys[WS], keys[SRV], {MRX: keys[MRX]})


def judge(
    profile: str, check: str, value: RegValue, state: str | None = None, edition: str | None = None
) -> CheckResult:
    facts = _facts(profile, check, value, edition=edition)
    policy = Policy(checks={check: state} if state else {})
    results = evaluate((HARDENING,), facts, policy, os=os_info(facts.current_version))
    return next(r for r in results if r.id == check)


# (check, profile, value, state, edition) -> (status, rule anchor, word in reason)
CASES = [
    # SMB1 server: absent is enabled where SMB 1.0 is installed by default
    ("smb1_server", "win7", ABSENT, None, None, D, "smb1-server-value", "default is enabled"),
    ("smb1_server", "2012r2", ABSENT, None, None, D, "smb1-server-value", "enabled"),
    ("smb1_server", "2016", ABSENT, None, None, D, "smb1-server-value", "accepts SMB1"),
    ("smb1_server", "win10_22h2", ABSENT, None, None, C, "smb1-not-installed-by-default", "1709"),
    (
        "smb1_server",
        "win10_22h2",
        ABSENT,
        None,
        "Professional",
        D,
        "smb1-not-installed-by-default",
        "Home and Pro",
    ),
    ("smb1_server", "2019", ABSENT, None, None, C, "smb1-not-installed-by-default", "Server 2019"),
    ("smb1_server", "win11_24h2", ABSENT, None, None, C, "smb1-not-installed-by-default", "Windows 11"),
    ("smb1_server", "2025", dword(1), None, None, D, "smb1-server-value", "DWORD 1"),
    ("smb1_server", "2012", dword(0), None, None, C, "smb1-server-value", "refuses SMB1"),
    ("smb1_server", "2012", reg_sz("0"), None, None, D, "smb1-server-value", "replace it with a DWORD"),
    ("smb1_server", "2012", dword(1), "any", None, C, "smb1-server-value", "not enforced by policy"),
    ("smb1_server", "2012", dword(1), "enabled", None, C, "smb1-server-value", "accepts SMB1"),
    # SMB1 client driver
    ("smb1_client", "win7", dword(2), None, None, D, "smb1-client-driver", "start type"),
    ("smb1_client", "2016", dword(4), None, None, C, "smb1-client-driver", "does not start"),
    ("smb1_client", "win11_23h2", ABSENT, None, None, C, "smb1-client-driver", "not installed"),
    ("smb1_client", "2012r2", RegValue("QWord", 4), None, None, D, "smb1-client-driver", "not honoured"),
    # insecure guest logons: per build and edition
    ("insecure_guest_logons", "win81", ABSENT, None, None, NA, "insecure-guest-logons", "from Windows 10"),
    (
        "insecure_guest_logons",
        "win10_1507",
        ABSENT,
        None,
        None,
        D,
        "insecure-guest-defaults",
        "before Windows 10 1709",
    ),
    (
        "insecure_guest_logons",
        "2016",
        ABSENT,
        None,
        None,
        D,
        "insecure-guest-defaults",
        "before Windows Server 2019",
    ),
    ("insecure_guest_logons", "2019", ABSENT, None, None, C, "insecure-guest-defaults", "Server 2019"),
    ("insecure_guest_logons", "win10_22h2", ABSENT, None, None, C, "insecure-guest-defaults", "Enterprise"),
    (
        "insecure_guest_logons",
        "win10_22h2",
        ABSENT,
        None,
        "Professional",
        D,
        "insecure-guest-defaults",
        "Home and Pro",
    ),
    ("insecure_guest_logons", "win11_24h2", ABSENT, None, None, C, "insecure-guest-defaults", "24H2 Pro"),
    ("insecure_guest_logons", "win11_24h2_home", ABSENT, None, None, D, "insecure-guest-defaults", "Home"),
    ("insecure_guest_logons", "2022", dword(1), None, None, D, "insecure-guest-logons", "allows insecure"),
    ("insecure_guest_logons", "2022", dword(0), None, None, C, "insecure-guest-logons", "refuses"),
    (
        "insecure_guest_logons",
        "2022",
        reg_sz("0"),
        None,
        None,
        D,
        "insecure-guest-logons",
        "OS default: refused",
    ),
    # SMB encryption: only where the policy asks for it
    ("smb_encryption", "win7", ABSENT, "required", None, NA, "smb-encryption-value", "SMB 3.0"),
    ("smb_encryption", "2012", ABSENT, None, None, C, "smb-encryption-value", "not enforced by policy"),
    ("smb_encryption", "2022", ABSENT, "required", None, D, "smb-encryption-value", "only the shares"),
    ("smb_encryption", "2022", dword(1), "required", None, C, "smb-encryption-value", "every session"),
    ("smb_encryption", "2025", dword(2), "required", None, D, "smb-encryption-value", "not DWORD 0 or 1"),
]


@pytest.mark.parametrize(("check", "profile", "value", "state", "edition", "status", "anchor", "word"), CASES)
def test_hardening_verdicts(
    check: str,
    profile: str,
    value: RegValue,
    state: str | None,
    edition: str | None,
    status: CheckStatus,
    anchor: str,
    word: str,
) -> None:
    result = judge(profile, check, value, state, edition)
    assert (result.status, result.rule) == (status, f"windows-facts#{anchor}"), result.reason
    assert word in result.reason
    assert "\n" not in result.reason


def test_every_check_and_build_is_covered() -> None:
    covered = {(c[0], PROFILES[c[1]][0]) for c in CASES}
    assert {check for check, _ in covered} == set(WHERE)
    builds = {build for _, build in covered}
    assert {7601, 9200, 9600, 10240, 14393, 17763, 19045, 20348, 22631, 26100} <= builds


# (check, profile, value, state, allow_insecure) -> (outcome, command fragment)
PLANS = [
    ("smb1_server", "win7", ABSENT, None, False, Outcome.PENDING, "Set-ItemProperty -Path '" + SRV),
    (
        "smb1_server",
        "2012",
        dword(1),
        None,
        False,
        Outcome.PENDING,
        "Set-SmbServerConfiguration -EnableSMB1Protocol $false -Force",
    ),
    ("smb1_server", "2022", dword(0), "enabled", False, Outcome.BLOCKED, ""),
    (
        "smb1_server",
        "2022",
        dword(0),
        "enabled",
        True,
        Outcome.PENDING,
        "-Name 'SMB1' -Value 1 -Type 'DWord' -Force",
    ),
    ("smb1_client", "win7", dword(2), None, False, Outcome.BLOCKED, ""),
    (
        "insecure_guest_logons",
        "2016",
        dword(1),
        None,
        False,
        Outcome.PENDING,
        "Set-SmbClientConfiguration -EnableInsecureGuestLogons $false -Force",
    ),
    (
        "insecure_guest_logons",
        "2016",
        reg_sz("1"),
        None,
        False,
        Outcome.PENDING,
        "-EnableInsecureGuestLogons $false",
    ),
    (
        "smb_encryption",
        "2019",
        ABSENT,
        "required",
        False,
        Outcome.PENDING,
        "Set-SmbServerConfiguration -EncryptData $true -Force",
    ),
]


@pytest.mark.parametrize(("check", "profile", "value", "state", "allow", "outcome", "command"), PLANS)
def test_hardening_plans(
    check: str, profile: str, value: RegValue, state: str | None, allow: bool, outcome: Outcome, command: str
) -> None:
    facts = _facts(profile, check, value)
    host = Host("h", "h", policy=Policy(checks={check: state} if state else {}))
    plan = plan_host(host, facts, baselines=(HARDENING,), only=[check], allow_insecure=allow)
    (item,) = plan.items
    assert item.outcome is outcome, item.reason
    assert command in item.command
    if outcome is Outcome.PENDING:  # the data says whether a restart is needed
        assert item.reason.endswith("takes effect after a restart") == (check == "smb1_server")
    if outcome is Outcome.BLOCKED and check == "smb1_client":
        assert "sc.exe config lanmanworkstation depend= bowser/mrxsmb20/nsi" in item.reason
    elif outcome is Outcome.BLOCKED:
        assert "--allow-insecure" in item.reason


def test_os_for_unknown_build_uses_the_catch_all_defaults() -> None:
    unknown = OsInfo(product="Windows", build=None, display="Windows (build unknown)")
    facts = _facts("2016", "smb1_server", ABSENT)
    results = {r.id: r for r in evaluate((HARDENING,), facts, Policy(), os=unknown)}
    assert results["smb1_server"].status is D
    assert results["insecure_guest_logons"].status is D
