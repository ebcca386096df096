"""Data-driven plans: OS profile x values x policy x --allow-insecure -> outcome, write, command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.checks.helpers import dword, facts, reg_sz
from toolkit.checks.facts import RegValue
from toolkit.errors import UsageError
from toolkit.inventory.model import Host, Policy
from toolkit.remediate.model import Outcome
from toolkit.remediate.plan import plan_host, registry_write, validate_only

NOW = datetime(2026, 5, 1, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)
SIGNED = {"RequireSecuritySignature": dword(1)}


@dataclass(frozen=True)
class Case:
    name: str
    profile: str
    workstation: dict[str, RegValue]
    expected: dict[str, str]  # check id -> outcome
    server: dict[str, RegValue] = field(default_factory=lambda: dict(SIGNED))
    policy: Policy = field(default_factory=Policy)
    allow_insecure: bool = False
    command: str = ""  # a fragment of the first planned command
    after: RegValue | None = None  # of the first planned write
    reason: str = ""  # a fragment of the first item's reason
    workarounds: dict[str, datetime] | None = None


CASES = [
    Case(
        "compliant 2012r2",
        "2012r2",
        {"RequireSecureNegotiate": dword(1), **SIGNED},
        {"secure_negotiate": "compliant", "client_signing": "compliant", "server_signing": "compliant"},
    ),
    Case(
        "REG_SZ trap becomes a DWORD 1",
        "2012r2",
        {"RequireSecureNegotiate": reg_sz("0"), **SIGNED},
        {"secure_negotiate": "pending", "client_signing": "compliant", "server_signing": "compliant"},
        command="Set-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters' "
        "-Name 'RequireSecureNegotiate' -Value 1 -Type 'DWord' -Force",
        after=dword(1),
    ),
    Case(
        "DWORD 0 on 8.1 with policy required",
        "win81",
        {"RequireSecureNegotiate": dword(0), **SIGNED},
        {"secure_negotiate": "pending"},
        after=dword(1),
    ),
    Case(
        "absent secure negotiate is required already", "win8", dict(SIGNED), {"secure_negotiate": "compliant"}
    ),
    Case(
        "signing via SmbShare from 9200",
        "2012",
        {},
        {"client_signing": "pending"},
        server=dict(SIGNED),
        command="Set-SmbClientConfiguration -RequireSecuritySignature $true -Force",
        after=dword(1),
    ),
    Case(
        "server signing via SmbShare",
        "2016",
        dict(SIGNED),
        {"server_signing": "pending"},
        server={},
        command="Set-SmbServerConfiguration -RequireSecuritySignature $true -Force",
    ),
    Case(
        "signing via the registry on Windows 7",
        "win7",
        {"RequireSecuritySignature": dword(0)},
        {"secure_negotiate": "not_applicable", "client_signing": "pending"},
        command="Set-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters' "
        "-Name 'RequireSecuritySignature' -Value 1 -Type 'DWord' -Force",
    ),
    Case(
        "signing REG_SZ '1' is not honoured",
        "2019",
        {"RequireSecuritySignature": reg_sz("1")},
        {"client_signing": "pending"},
    ),
    Case("24H2 client default requires signing", "win11_24h2", {}, {"client_signing": "compliant"}),
    Case(
        "policy any writes nothing",
        "2012r2",
        {"RequireSecureNegotiate": dword(0)},
        {"secure_negotiate": "compliant", "client_signing": "compliant", "server_signing": "compliant"},
        server={},
        policy=Policy(client_signing="any", server_signing="any", secure_negotiate="any"),
    ),
    Case(
        "disable needs --allow-insecure",
        "2012r2",
        dict(SIGNED),
        {"secure_negotiate": "blocked"},
        policy=Policy(secure_negotiate="disabled"),
        reason="--allow-insecure",
    ),
    Case(
        "disable with --allow-insecure on 9600",
        "2012r2",
        dict(SIGNED),
        {"secure_negotiate": "pending"},
        policy=Policy(secure_negotiate="disabled"),
        allow_insecure=True,
        after=dword(0),
        command="-Value 0 -Type 'DWord' -Force",
        reason="temporary workaround until 2026-05-08",
    ),
    Case(
        "disable with --allow-insecure on 9200",
        "win8",
        dict(SIGNED),
        {"secure_negotiate": "pending"},
        policy=Policy(secure_negotiate="disabled"),
        allow_insecure=True,
        after=dword(0),
    ),
    Case(
        "disable is not applicable on 2019",
        "2019",
        dict(SIGNED),
        {"secure_negotiate": "not_applicable"},
        policy=Policy(secure_negotiate="disabled"),
        allow_insecure=True,
        reason="require SMB signing instead",
    ),
    Case(
        "disable is not applicable on Windows 7",
        "win7",
        dict(SIGNED),
        {"secure_negotiate": "not_applicable"},
        policy=Policy(secure_negotiate="disabled"),
        allow_insecure=True,
    ),
    Case(
        "already disabled is compliant",
        "win81",
        {"RequireSecureNegotiate": dword(0), **SIGNED},
        {"secure_negotiate": "compliant"},
        policy=Policy(secure_negotiate="disabled"),
    ),
    Case(
        "expired workaround goes back to required",
        "win81",
        {"RequireSecureNegotiate": dword(0), **SIGNED},
        {"secure_negotiate": "pending"},
        policy=Policy(secure_negotiate="disabled"),
        after=dword(1),
        workarounds={"secure_negotiate": NOW - timedelta(days=1)},
        reason="expired",
    ),
    Case(
        "workaround not expired stays",
        "win81",
        {"RequireSecureNegotiate": dword(0), **SIGNED},
        {"secure_negotiate": "compliant"},
        policy=Policy(secure_negotiate="disabled"),
        workarounds={"secure_negotiate": NOW + timedelta(days=1)},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan(case: Case) -> None:
    host = Host(name="h", address="10.0.0.1", policy=case.policy)
    hp = plan_host(
        host,
        facts(case.profile, workstation=case.workstation, server=case.server),
        allow_insecure=case.allow_insecure,
        expires=EXPIRES,
        now=NOW,
        workarounds=case.workarounds,
    )
    outcomes = {i.id: i.outcome.value for i in hp.items}
    for check_id, outcome in case.expected.items():
        assert outcomes[check_id] == outcome, (check_id, hp.items)
    pending = [i for i in hp.items if i.outcome is Outcome.PENDING]
    assert [w.setting.id for w in hp.writes] == [i.id for i in pending]
    for w in hp.writes:
        assert all("-Force" in c.render() for c in w.commands)  # DOMAIN 3.3
        for c in w.commands:
            if c.name in ("Set-ItemProperty", "New-ItemProperty"):
                assert "-Type 'DWord'" in c.render()  # DOMAIN 4.1
    if case.command:
        assert case.command in hp.writes[0].command_text
    if case.after is not None:
        assert hp.writes[0].after == case.after
    if case.reason:
        first = next(i for i in hp.items if i.id in case.expected)
        assert case.reason in first.reason


def test_only_keeps_the_selected_settings() -> None:
    hp = plan_host(Host(name="h", address="a"), facts("2019"), only=["server_signing"], now=NOW)
    assert [i.id for i in hp.items] == ["server_signing"]


def test_unknown_only_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown check 'signing'"):
        validate_only(["signing"])


def test_missing_key_is_not_created() -> None:
    hp = plan_host(Host(name="h", address="a"), facts("2012r2", workstation_exists=False), now=NOW)
    item = next(i for i in hp.items if i.id == "client_signing")
    assert item.outcome is Outcome.BLOCKED and "does not exist" in item.reason
    assert [w.setting.id for w in hp.writes] == ["server_signing"]


def test_unknown_build_never_disables() -> None:
    f = facts("2012r2", workstation=dict(SIGNED), server=dict(SIGNED))
    cv = dict(f.current_version.values)
    for name in ("CurrentBuild", "CurrentBuildNumber"):
        cv.pop(name)
    unknown = type(f)(type(f.current_version)(True, cv), f.workstation, f.server)
    hp = plan_host(
        Host(name="h", address="a", policy=Policy(secure_negotiate="disabled")),
        unknown,
        allow_insecure=True,
        now=NOW,
    )
    assert hp.items[0].outcome is Outcome.NOT_APPLICABLE and "unknown" in hp.items[0].reason
    assert hp.writes == ()


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (RegValue(None), "Remove-ItemProperty -Path 'K' -Name 'N' -Force"),
        (reg_sz("0"), "Set-ItemProperty -Path 'K' -Name 'N' -Value '0' -Type 'String' -Force"),
        (dword(0xFFFFFFFF), "Set-ItemProperty -Path 'K' -Name 'N' -Value -1 -Type 'DWord' -Force"),
        (
            RegValue("MultiString", ("a", "b")),
            "Set-ItemProperty -Path 'K' -Name 'N' -Value 'a','b' -Type 'MultiString' -Force",
        ),
    ],
)
def test_registry_write_restores_kind_and_data(value: RegValue, rendered: str) -> None:
    assert registry_write("K", "N", value).render() == rendered
