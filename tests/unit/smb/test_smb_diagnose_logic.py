"""The pure parts of the diagnosis: field comparison, cause, and workarounds by build
(docs/windows-facts.md#rsn-workaround, docs/windows-facts.md#rsn-value,
docs/windows-facts.md#rsn-enforced-since-10240)."""

from __future__ import annotations

import pytest

from toolkit.smb.diagnose import compare_negotiate, diagnose_validate_negotiate, likely_cause, workarounds_for
from toolkit.smb.probe import NegotiateInfo

GUID = "766d0000-0000-0000-0000-000000000000"
SERVER = NegotiateInfo("3.0.2", 0x47, 0x3, GUID)


@pytest.mark.parametrize(
    ("build", "require_secure_negotiate_off", "signing"),
    [
        (None, None, True),  # unknown build: depends
        (7601, False, True),  # Windows 7: no validate negotiate at all
        (9200, True, True),  # Windows 8 / 2012: honoured
        (9600, True, True),  # 8.1 / 2012 R2: honoured
        (9800, False, True),  # only 9200/9600 honour the value
        (10240, False, True),  # Windows 10 first build: cannot be disabled
        (17763, False, True),  # Server 2019
        (26100, False, True),  # 24H2 / Server 2025
    ],
)
def test_workarounds_by_build(
    build: int | None, require_secure_negotiate_off: bool | None, signing: bool
) -> None:
    by_id = {w.id: w for w in workarounds_for(build)}

    assert list(by_id) == ["require_signing", "require_secure_negotiate_off"]  # safest first
    assert by_id["require_secure_negotiate_off"].applies is require_secure_negotiate_off
    assert by_id["require_signing"].applies is signing
    assert "Security risk" in by_id["require_secure_negotiate_off"].risk
    assert "throughput" in by_id["require_signing"].risk
    assert (
        "-Type DWord -Force" in by_id["require_secure_negotiate_off"].command
    )  # docs/windows-facts.md#registry-write-kind


def test_compare_negotiate_lists_every_differing_field() -> None:
    client = NegotiateInfo("3.0", 0x45, 0x1, "00000000-0000-0000-0000-000000000001")

    differences = compare_negotiate(client, SERVER)

    assert [d.field for d in differences] == ["dialect", "capabilities", "security_mode", "server_guid"]
    assert differences[1].client_saw == "0x00000045 (DFS|LARGE_MTU|ENCRYPTION)"
    assert differences[2].server_says == "0x0003 (SIGNING_ENABLED|SIGNING_REQUIRED)"


def test_compare_negotiate_ignores_guid_case() -> None:
    assert compare_negotiate(NegotiateInfo("3.0.2", 0x47, 0x3, GUID.upper()), SERVER) == ()


def test_likely_cause_wording() -> None:
    caps = compare_negotiate(NegotiateInfo("3.0.2", 0x45, 0x3, GUID), SERVER)
    guid_only = compare_negotiate(
        NegotiateInfo("3.0.2", 0x47, 0x3, "00000000-0000-0000-0000-000000000001"), SERVER
    )

    assert "WAN accelerator" in likely_cause(caps, dropped=False)
    assert "load balancer" in likely_cause(guid_only, dropped=False)
    assert "dropped the connection" in likely_cause((), dropped=True)
    assert "not signed" in likely_cause((), dropped=False, unsigned=True)
    assert likely_cause((), dropped=False) == ""


@pytest.mark.parametrize("dialects", [("3.1.1",), ("3.0.2", "9.9")])
def test_bad_dialects_are_rejected_before_any_traffic(dialects: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"3\.1\.1|9\.9"):
        diagnose_validate_negotiate("192.0.2.1", 445, username="u", password="p", dialects=dialects)


def test_the_top_level_dialect_is_what_the_client_saw_not_what_it_asked_for() -> None:
    from toolkit.smb.diagnose import DiagnosisStatus, Stage, _Run
    from toolkit.smb.probe import NegotiateInfo

    run = _Run("fs01", 445, None, 10.0)
    run.dialect = "3.0.2"  # offered alone
    run.client_view = NegotiateInfo("3.0", 0x47, 0x01, "766d0000-0000-0000-0000-000000000000")  # answered

    result = run.result(DiagnosisStatus.FAIL, "mismatch", Stage.VALIDATE_NEGOTIATE)

    assert result.dialect == "3.0"
    assert result.dialect_requested == "3.0.2"
    assert result.to_dict()["dialect"] == "3.0" and result.to_dict()["dialect_requested"] == "3.0.2"
