"""Data-driven verdicts: OS build x value/kind x policy -> status, rule, a word of the reason."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.checks import rules
from toolkit.checks.facts import ABSENT, HostFacts, KeyFacts, RegValue
from toolkit.checks.verdicts import CHECK_IDS, evaluate, host_status
from toolkit.inventory.model import NegotiatePolicy, Policy, SigningPolicy
from toolkit.results import CheckResult, CheckStatus, HostStatus, OsInfo

from .helpers import PROFILES, dword, facts, os_for, reg_sz

C, D, NA = CheckStatus.COMPLIANT, CheckStatus.DRIFT, CheckStatus.NOT_APPLICABLE
QWORD_0 = RegValue("QWord", 0)
DWORD_MAX = dword(0xFFFF_FFFF)


def judge_negotiate(
    profile: str,
    value: RegValue,
    policy: NegotiatePolicy,
    *,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
) -> CheckResult:
    ws = {} if value.absent else {"RequireSecureNegotiate": value}
    host, pol = facts(profile, workstation=ws), Policy(secure_negotiate=policy)
    return evaluate(host, pol, os=os_for(profile), now=now, workarounds=workarounds)[0]


# (profile, RequireSecureNegotiate, policy) -> (status, rule, word in reason)
NEGOTIATE_CASES = [
    # builds < 9200: nothing to validate
    ("win7", ABSENT, "required", NA, rules.NO_VALIDATE_NEGOTIATE_BEFORE_SMB3, "SMB 3.0"),
    ("2008r2", dword(0), "disabled", NA, rules.NO_VALIDATE_NEGOTIATE_BEFORE_SMB3, "SMB 3.0"),
    ("win7", dword(0), "any", NA, rules.NO_VALIDATE_NEGOTIATE_BEFORE_SMB3, "SMB 3.0"),
    # builds 9200/9600: the value decides
    ("2012", ABSENT, "required", C, rules.RSN_ABSENT_DEFAULT, "absent means required"),
    ("2012r2", dword(1), "required", C, rules.RSN_DWORD_VALUES, "DWORD 1"),
    ("2012r2", dword(0), "required", D, rules.RSN_DWORD_VALUES, "disabled"),
    ("win81", dword(2), "required", D, rules.RSN_DWORD_VALUES, "disabled"),
    ("win8", DWORD_MAX, "required", D, rules.RSN_DWORD_VALUES, "4294967295"),
    ("2012r2", dword(0), "disabled", C, rules.RSN_DWORD_VALUES, "skips validate negotiate"),
    ("2012", dword(5), "disabled", C, rules.RSN_DWORD_VALUES, "disabled"),
    ("2012r2", ABSENT, "disabled", D, rules.RSN_ABSENT_DEFAULT, "validates negotiate"),
    ("win81", dword(1), "disabled", D, rules.RSN_DWORD_VALUES, "validates negotiate"),
    # the REG_SZ "0" trap and other wrong kinds: not honoured, drift (psfleet's assumption)
    ("2012r2", reg_sz("0"), "disabled", D, rules.RSN_WRONG_KIND, "wrong type"),
    ("2012r2", reg_sz("0"), "required", D, rules.RSN_WRONG_KIND, "wrong type"),
    ("2012", QWORD_0, "disabled", D, rules.RSN_WRONG_KIND, "QWord"),
    ("win8", QWORD_0, "required", D, rules.RSN_WRONG_KIND, "wrong type"),
    ("2012r2", reg_sz("0"), "any", C, rules.RSN_WRONG_KIND, "not enforced by policy"),
    ("2012r2", dword(0), "any", C, rules.RSN_DWORD_VALUES, "skips validate negotiate"),
    # builds >= 10240: enforced by the OS whatever the value
    ("win10_1507", ABSENT, "required", C, rules.RSN_ENFORCED_SINCE_10240, "enforced by OS since build 10240"),
    ("2016", dword(0), "required", C, rules.RSN_ENFORCED_SINCE_10240, "ignored by this OS"),
    ("2019", reg_sz("0"), "required", C, rules.RSN_ENFORCED_SINCE_10240, "ignored by this OS"),
    ("win10_22h2", dword(1), "required", C, rules.RSN_ENFORCED_SINCE_10240, "enforced"),
    ("2022", QWORD_0, "required", C, rules.RSN_ENFORCED_SINCE_10240, "ignored"),
    ("win11_21h2", ABSENT, "disabled", NA, rules.RSN_ENFORCED_SINCE_10240, "require SMB signing instead"),
    ("win11_22h2", dword(0), "disabled", NA, rules.RSN_ENFORCED_SINCE_10240, "cannot be disabled"),
    ("win11_23h2", dword(0), "any", C, rules.RSN_ENFORCED_SINCE_10240, "not enforced by policy"),
    ("win11_24h2", ABSENT, "required", C, rules.RSN_ENFORCED_SINCE_10240, "enforced"),
    ("2025", dword(0), "disabled", NA, rules.RSN_ENFORCED_SINCE_10240, "signing"),
]


@pytest.mark.parametrize(("profile", "value", "policy", "status", "rule", "word"), NEGOTIATE_CASES)
def test_secure_negotiate(
    profile: str, value: RegValue, policy: NegotiatePolicy, status: CheckStatus, rule: str, word: str
) -> None:
    check = judge_negotiate(profile, value, policy)
    assert (check.id, check.status, check.rule) == ("secure_negotiate", status, rule)
    assert word in check.reason
    assert "RequireSecureNegotiate=" in check.actual


def test_every_domain_build_is_covered_by_negotiate_cases() -> None:
    covered = {PROFILES[profile][0] for profile, *_ in NEGOTIATE_CASES}
    assert covered == {7601, 9200, 9600, 10240, 14393, 17763, 19045, 20348, 22000, 22621, 22631, 26100}


def test_actual_shows_kind_so_reg_sz_zero_differs_from_dword_zero() -> None:
    assert judge_negotiate("2012r2", reg_sz("0"), "disabled").actual == "RequireSecureNegotiate='0' (String)"
    assert judge_negotiate("2012r2", dword(0), "disabled").actual == "RequireSecureNegotiate=0 (DWord)"


def test_missing_workstation_key_means_absent_value() -> None:
    host = facts("2012r2", workstation_exists=False)
    check = evaluate(host, Policy(), os=os_for("2012r2"))[0]
    assert check.status is C
    assert check.actual == "RequireSecureNegotiate=absent (key missing)"


def test_unknown_build_is_judged_as_if_the_value_matters() -> None:
    host = facts("2012r2", workstation={"RequireSecureNegotiate": dword(0)})
    unknown = OsInfo(product="Windows", build=None, display="Windows (build unknown)")
    check = evaluate(host, Policy(), os=unknown)[0]
    assert check.status is D
    assert "build unknown" in check.reason


NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("profile", "value", "expiry", "status", "word"),
    [
        (
            "2012r2",
            dword(0),
            datetime(2025, 5, 1, tzinfo=UTC),
            D,
            "temporary workaround expired on 2025-05-01",
        ),
        ("2012r2", dword(0), datetime(2025, 6, 1), D, "expired on 2025-06-01"),  # naive = UTC, expiry == now
        ("2012r2", ABSENT, datetime(2025, 5, 1, tzinfo=UTC), C, "expired on 2025-05-01"),  # already reverted
        ("2012r2", dword(0), datetime(2025, 7, 1, tzinfo=UTC), C, "workaround until 2025-07-01"),
        ("2016", dword(0), datetime(2025, 5, 1, tzinfo=UTC), C, "enforced by OS"),
    ],
)
def test_workaround_expiry(
    profile: str, value: RegValue, expiry: datetime, status: CheckStatus, word: str
) -> None:
    check = judge_negotiate(profile, value, "disabled", now=NOW, workarounds={"secure_negotiate": expiry})
    assert check.status is status
    assert word in check.reason
    if status is D:
        assert check.expected.startswith("required")


def test_workaround_ignored_when_policy_is_not_disabled() -> None:
    check = judge_negotiate(
        "2012r2",
        dword(0),
        "required",
        now=NOW,
        workarounds={"secure_negotiate": datetime(2025, 1, 1, tzinfo=UTC)},
    )
    assert check.status is D
    assert "workaround" not in check.reason


# (profile, side, RequireSecuritySignature, policy) -> (status, rule, word in reason)
SIGNING_CASES = [
    ("2012r2", "client", dword(1), "required", C, rules.SIGNING_CLIENT_VALUE, "requires signing outbound"),
    ("2012r2", "server", dword(1), "required", C, rules.SIGNING_SERVER_VALUE, "requires signing inbound"),
    ("2016", "client", dword(0), "required", D, rules.SIGNING_CLIENT_VALUE, "does not require"),
    ("2019", "server", dword(0), "required", D, rules.SIGNING_SERVER_VALUE, "does not require"),
    ("win10_22h2", "client", dword(0), "any", C, rules.SIGNING_CLIENT_VALUE, "not enforced by policy"),
    # absent = the OS default
    ("win7", "client", ABSENT, "required", D, rules.SIGNING_DEFAULTS_LEGACY, "before Windows 11 24H2"),
    ("2022", "server", ABSENT, "required", D, rules.SIGNING_DEFAULTS_LEGACY, "domain controllers"),
    ("win11_23h2", "client", ABSENT, "required", D, rules.SIGNING_DEFAULTS_LEGACY, "not required"),
    (
        "win11_24h2",
        "client",
        ABSENT,
        "required",
        C,
        rules.SIGNING_DEFAULTS_24H2,
        "24H2 requires signing both ways",
    ),
    (
        "win11_24h2",
        "server",
        ABSENT,
        "required",
        C,
        rules.SIGNING_DEFAULTS_24H2,
        "24H2 requires signing both ways",
    ),
    ("win11_24h2_home", "client", ABSENT, "required", D, rules.SIGNING_DEFAULTS_24H2, "Home"),
    ("2025", "client", ABSENT, "required", C, rules.SIGNING_DEFAULTS_24H2, "Server 2025"),
    ("2025", "server", ABSENT, "required", D, rules.SIGNING_DEFAULTS_24H2, "outbound only"),
    ("2012", "server", ABSENT, "any", C, rules.SIGNING_DEFAULTS_LEGACY, "not enforced by policy"),
    # wrong kind or value: not honoured, drift under policy required
    ("2012r2", "client", reg_sz("1"), "required", D, rules.SIGNING_NONBINARY_VALUES, "wrong type"),
    ("win11_24h2", "client", reg_sz("1"), "required", D, rules.SIGNING_NONBINARY_VALUES, "not honoured"),
    ("2016", "server", RegValue("QWord", 1), "required", D, rules.SIGNING_NONBINARY_VALUES, "QWord"),
    ("2016", "server", dword(2), "required", D, rules.SIGNING_NONBINARY_VALUES, "not honoured"),
    ("2016", "server", reg_sz("1"), "any", C, rules.SIGNING_NONBINARY_VALUES, "not enforced by policy"),
]


@pytest.mark.parametrize(("profile", "side", "value", "policy", "status", "rule", "word"), SIGNING_CASES)
def test_signing(
    profile: str, side: str, value: RegValue, policy: SigningPolicy, status: CheckStatus, rule: str, word: str
) -> None:
    key = {} if value.absent else {"RequireSecuritySignature": value}
    host = facts(profile, workstation=key if side == "client" else {}, server=key if side == "server" else {})
    pol = Policy(client_signing=policy, server_signing=policy)
    checks = {c.id: c for c in evaluate(host, pol, os=os_for(profile))}
    check = checks[f"{side}_signing"]
    assert (check.status, check.rule) == (status, rule)
    assert word in check.reason


def test_enable_security_signature_is_reported_but_never_decides() -> None:
    host = facts("2016", server={"RequireSecuritySignature": dword(0), "EnableSecuritySignature": dword(1)})
    check = evaluate(host, Policy(), os=os_for("2016"))[2]
    assert check.status is D
    assert check.actual == "RequireSecuritySignature=0 (DWord); EnableSecuritySignature=1 (DWord), SMB1 only"


def test_value_names_are_case_insensitive() -> None:
    host = facts("2016", workstation={"requiresecuritysignature": dword(1)})
    assert evaluate(host, Policy(), os=os_for("2016"))[1].status is C


def test_results_are_in_check_id_order_with_expected_text() -> None:
    checks = evaluate(facts(), Policy(), os=os_for("2012r2"))
    assert tuple(c.id for c in checks) == CHECK_IDS
    assert all(c.expected.startswith("required") for c in checks)


@pytest.mark.parametrize(
    ("statuses", "host"),
    [
        ((C, C, C), HostStatus.COMPLIANT),
        ((NA, C, C), HostStatus.COMPLIANT),
        ((NA, D, C), HostStatus.DRIFT),
        ((), HostStatus.COMPLIANT),
    ],
)
def test_host_status(statuses: tuple[CheckStatus, ...], host: HostStatus) -> None:
    checks = [CheckResult("x", "", "", s, "", rules.RSN_ABSENT_DEFAULT) for s in statuses]
    assert host_status(checks) is host


reg_values = st.one_of(
    st.just(ABSENT),
    st.builds(RegValue, st.sampled_from(["DWord", "QWord"]), st.integers(0, 2**64 - 1)),
    st.builds(RegValue, st.sampled_from(["String", "MultiString", "Binary", "Unknown"]), st.text(max_size=5)),
)


@given(
    build=st.one_of(
        st.none(), st.sampled_from(sorted({p[0] for p in PROFILES.values()})), st.integers(0, 40000)
    ),
    server_os=st.booleans(),
    negotiate=reg_values,
    client=reg_values,
    server=reg_values,
    policy=st.builds(
        Policy,
        client_signing=st.sampled_from(["required", "any"]),
        server_signing=st.sampled_from(["required", "any"]),
        secure_negotiate=st.sampled_from(["required", "disabled", "any"]),
    ),
)
def test_any_input_gives_three_cited_one_line_verdicts(
    build: int | None,
    server_os: bool,
    negotiate: RegValue,
    client: RegValue,
    server: RegValue,
    policy: Policy,
) -> None:
    os = OsInfo(product="x", build=build, display="x", installation_type="Server" if server_os else "Client")
    host = HostFacts(
        current_version=KeyFacts(True),
        workstation=KeyFacts(True, {"RequireSecureNegotiate": negotiate, "RequireSecuritySignature": client}),
        server=KeyFacts(True, {"RequireSecuritySignature": server}),
    )
    checks = evaluate(host, policy, os=os)
    assert tuple(c.id for c in checks) == CHECK_IDS
    for check in checks:
        assert check.rule in rules.AUDIT_RULES
        assert check.reason and "\n" not in check.reason
        if check.id != "secure_negotiate":
            assert check.status is not NA
    if policy.secure_negotiate == "any" and (build is None or build >= 9200):
        assert checks[0].status is C
