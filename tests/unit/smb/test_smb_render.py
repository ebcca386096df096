"""Renderers: plain rows and dicts, no printing."""

from __future__ import annotations

import json

from toolkit.results import ErrorKind, HostError
from toolkit.smb.compare import compare_wire_with_registry
from toolkit.smb.diagnose import (
    DiagnosisResult,
    DiagnosisStatus,
    Difference,
    Stage,
    workarounds_for,
)
from toolkit.smb.probe import DialectSigning, NegotiateInfo, SmbProbeResult
from toolkit.smb.render import (
    comparison_row,
    diagnosis_document,
    diagnosis_rows,
    diagnosis_text,
    probe_document,
    probe_rows,
    probe_table,
)

INFO = NegotiateInfo("3.0.2", 0x47, 0x3, "766d0000-0000-0000-0000-000000000000")
PROBE = SmbProbeResult(
    "fs01",
    445,
    ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"),
    INFO,
    (DialectSigning("3.0.2", True, True, True), DialectSigning("3.1.1", False, note="not supported")),
)
FAILED_PROBE = SmbProbeResult(
    "fs02", 445, error=HostError(ErrorKind.UNREACHABLE, "fs02:445: TCP connect failed")
)


def test_probe_rows_use_nmap_wording_per_dialect() -> None:
    rows = dict(probe_rows(PROBE))

    assert rows["dialect"] == "3.0.2"
    assert rows["signing"] == "Message signing enabled and required"
    assert rows["capabilities"] == "0x00000047 (DFS|LEASING|LARGE_MTU|ENCRYPTION)"
    assert rows["security mode"] == "0x0003 (SIGNING_ENABLED|SIGNING_REQUIRED)"
    assert rows["SMB 3.0.2"] == "Message signing enabled and required"
    assert rows["SMB 3.1.1"] == "not supported"


def test_probe_rows_of_a_failed_probe_show_the_error_only() -> None:
    assert probe_rows(FAILED_PROBE) == [
        ("server", "fs02:445"),
        ("error", "unreachable: fs02:445: TCP connect failed"),
    ]


def test_probe_table_has_one_row_per_server() -> None:
    headers, rows = probe_table([PROBE, FAILED_PROBE])

    assert headers == ("server", "dialect", "signing", "per dialect", "error")
    assert rows[0] == (
        "fs01:445",
        "3.0.2",
        "Message signing enabled and required",
        "3.0.2: required; 3.1.1: n/a",
        "",
    )
    assert rows[1][0] == "fs02:445" and rows[1][4].startswith("unreachable:")


def test_probe_document_is_json() -> None:
    doc = json.loads(json.dumps(probe_document([PROBE, FAILED_PROBE])))

    assert doc["schema"] == "psfleet.smb-probe/1"
    assert doc["servers"][0]["signing_required"] is True
    assert doc["servers"][0]["capability_names"] == ["DFS", "LEASING", "LARGE_MTU", "ENCRYPTION"]
    assert doc["servers"][1]["error"]["kind"] == "unreachable"


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
        likely_cause="a device in the path rewrote the NEGOTIATE, e.g. a WAN accelerator (DOMAIN 1.1)",
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


def test_comparison_row_cites_the_rule() -> None:
    row = comparison_row(PROBE, compare_wire_with_registry(PROBE, ("DWord", 1)))

    assert row[0] == "fs01:445"
    assert row[1].startswith("match: ") and row[1].endswith("(DOMAIN 2.1, 2.3)")
