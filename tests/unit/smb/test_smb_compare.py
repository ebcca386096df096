"""compare_wire_with_registry: the wire's signing-required flag vs LanmanServer
RequireSecuritySignature (docs/windows-facts.md#signing-either-side, #signing-defaults-24h2)."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.checks.facts import RegValue
from toolkit.results import ErrorKind, HostError
from toolkit.smb.compare import compare_wire_with_registry, registry_requires_signing
from toolkit.smb.probe import DialectSigning, NegotiateInfo, SmbProbeResult


def probe(security_mode: int | None, per_dialect: tuple[DialectSigning, ...] = ()) -> SmbProbeResult:
    if security_mode is None:
        return SmbProbeResult(
            "10.0.0.5", 445, error=HostError(ErrorKind.TIMEOUT, "10.0.0.5:445: no answer within 10s")
        )
    info = NegotiateInfo("3.1.1", 0x2F, security_mode, "a5b9c1d2-0000-0000-0000-000000000001")
    return SmbProbeResult("10.0.0.5", 445, ("3.1.1",), info, per_dialect)


REQUIRED, NOT_REQUIRED = 0x3, 0x1

CASES: list[tuple[str, int | None, Any, bool | None, str, str]] = [
    # id, wire security mode, registry value, default_required, status, text fragment
    ("required-dword-1", REQUIRED, RegValue("DWord", 1), None, "match", "= 1 (DWord)"),
    ("not-required-dword-0", NOT_REQUIRED, RegValue("DWord", 0), None, "match", "= 0 (DWord)"),
    ("wire-required-registry-0", REQUIRED, RegValue("DWord", 0), None, "mismatch", "means not required"),
    ("wire-not-required-registry-1", NOT_REQUIRED, RegValue("DWord", 1), None, "mismatch", "means required"),
    ("dword-minus-one-is-nonzero", REQUIRED, RegValue("DWord", -1), None, "match", "= -1 (DWord)"),
    ("tuple-input", REQUIRED, ("DWord", 1), None, "match", "signing required"),
    ("absent-default-unknown", NOT_REQUIRED, RegValue(None), None, "unknown", "value absent"),
    ("absent-default-not-required", NOT_REQUIRED, RegValue(None), False, "match", "OS default applies"),
    ("absent-on-dc-but-wire-not-required", NOT_REQUIRED, RegValue(None), True, "mismatch", "OS default"),
    ("reg-sz-not-honoured", REQUIRED, RegValue("String", "1"), False, "mismatch", "not a DWORD"),
    ("reg-sz-default-unknown", REQUIRED, RegValue("String", "1"), None, "unknown", "'1' (String)"),
    ("registry-not-read", REQUIRED, None, None, "unknown", "registry was not read"),
    ("no-wire-data", None, RegValue("DWord", 1), None, "unknown", "no answer within 10s"),
]


@pytest.mark.parametrize(
    ("wire", "registry", "default", "status", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_compare(wire: int | None, registry: Any, default: bool | None, status: str, fragment: str) -> None:
    result = compare_wire_with_registry(probe(wire), registry, default_required=default)

    assert result.status == status
    assert fragment in result.text
    assert result.rule == "windows-facts#signing-either-side"
    assert result.to_dict()["status"] == status


def test_match_reports_both_sides() -> None:
    result = compare_wire_with_registry(probe(REQUIRED), RegValue("DWord", 1))

    assert (result.wire_required, result.registry_required) == (True, True)


def test_dialects_that_disagree_with_the_chosen_one_are_named() -> None:
    per_dialect = (
        DialectSigning("2.0.2", True, True, False),
        DialectSigning("3.1.1", True, True, True),
        DialectSigning("3.0", False, note="not supported"),
    )
    result = compare_wire_with_registry(probe(REQUIRED, per_dialect), RegValue("DWord", 1))

    assert result.status == "match"
    assert "but not on 2.0.2" in result.text


def test_bool_is_not_taken_for_a_dword() -> None:
    required, why = registry_requires_signing(("DWord", True), default_required=None)

    assert required is None
    assert "not a DWORD" in why
