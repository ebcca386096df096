"""Diagnosis renderers: plain rows and dicts, no printing."""

from __future__ import annotations

import json

from toolkit.report.diagnose import diagnosis_document, diagnosis_rows, diagnosis_text
from toolkit.smb.diagnose import (
    DiagnosisResult,
    DiagnosisStatus,
    Difference,
    Stage,
    workarounds_for,
)
from toolkit.smb.probe import NegotiateInfo

INFO = NegotiateInfo("3.0.2", 0x47, 0x3, "766d0000-0000-0000-0000-000000000000")


def failed_diagnosis(client_build: int | None) -> DiagnosisResult:
    return DiagnosisResult(
        "fs01",
        445,
        DiagnosisStatus.FAIL,
        "fs01:445: validate negotiate mismatch in capabilities",
        dialect="3.0.2",
        stage=Stage.VALIDATE_NEGOTIATE,
        client_view=NegotiateInfo("3.0.2", 0x45, 0x3, INFO.server_guid),
        server_view=INFO,
        differences=(
            Difference("capabilities", "0x00000045 (DFS|LARGE_MTU|ENCRYPTION)", "0x00000047 (...)"),
        ),
        likely_cause="a device in the path rewrote the NEGOTIATE, e.g. a WAN accelerator",
        workarounds=workarounds_for(client_build),
        client_build=client_build,
    )


def test_diagnosis_rows_explain_a_failure() -> None:
    rows = dict(diagnosis_rows(failed_diagnosis(9600)))

    assert rows["status"] == "fail"
    assert rows["stage"] == "validate_negotiate"
    assert rows["differs: capabilities"].startswith("client saw 0x00000045")
    assert "WAN accelerator" in rows["likely cause"]
    assert (
        "RequireSecureNegotiate -Value 0 -Type DWord -Force"
        in rows["workaround: require_secure_negotiate_off"]
    )
    assert "[applies:" in rows["workaround: require_secure_negotiate_off"]
    assert rows["recommended"] == "Require SMB signing"


def test_diagnosis_rows_without_a_build_say_it_depends() -> None:
    rows = dict(diagnosis_rows(failed_diagnosis(None)))

    assert "[may apply:" in rows["workaround: require_secure_negotiate_off"]
    # Signing applies to every build, so it is still the recommendation.
    assert rows["recommended"] == "Require SMB signing"


def test_diagnosis_rows_of_a_pass_are_short() -> None:
    passed = DiagnosisResult(
        "fs01", 445, DiagnosisStatus.PASS, "ok", dialect="3.0.2", stage=Stage.VALIDATE_NEGOTIATE
    )

    assert [k for k, _ in diagnosis_rows(passed)] == ["server", "status", "message", "dialect"]


def test_diagnosis_text_and_document() -> None:
    result = failed_diagnosis(19045)
    text = diagnosis_text(result)
    doc = json.loads(json.dumps(diagnosis_document(result)))

    assert text.splitlines()[1].split() == ["status", "fail"]
    assert "does not apply" in text
    assert doc["schema"] == "psfleet.smb-diagnosis/1"
    assert doc["recommended"] == "require_signing"
    assert doc["differences"][0]["field"] == "capabilities"
    assert doc["server_view"]["capabilities"] == 0x47
