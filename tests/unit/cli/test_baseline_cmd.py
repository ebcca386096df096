"""psfleet baseline list|show|check, as typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli


def test_list_shows_the_shipped_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["baseline", "list", "-f", "json"], capsys)
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"smb-validate-negotiate", "smb-hardening"}
    assert rows["smb-validate-negotiate"]["checks"] == [
        "secure_negotiate",
        "client_signing",
        "server_signing",
    ]
    code, out, _ = run_cli(["baseline", "list"], capsys)
    assert code == 0 and "smb-hardening" in out


def test_show_gives_values_fixes_and_sources(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["baseline", "show", "smb-hardening", "-f", "json"], capsys)
    assert code == 0
    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    assert checks["smb1_server"]["registry"]["name"] == "SMB1"
    assert checks["smb1_server"]["remediation"]["cmdlets"][0]["command"] == (
        "Set-SmbServerConfiguration -EnableSMB1Protocol $false -Force"
    )
    assert checks["smb1_server"]["references"]["facts"] == "docs/windows-facts.md#smb1-server-value"
    assert checks["smb_encryption"]["default_state"] == "any"
    code, out, _ = run_cli(["baseline", "show", "smb-validate-negotiate"], capsys)
    assert code == 0 and "RequireSecureNegotiate" in out


def test_check_validates_files_with_file_line_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchecks:\n  - id: A\n", encoding="utf-8")
    code, out, err = run_cli(["baseline", "check", str(bad)], capsys)
    assert code == 2 and out == ""
    assert f"{bad}:3: checks[0].id: 'A' is not a check id" in err
    good = Path(__file__).resolve().parents[3] / "toolkit" / "baselines" / "data" / "smb-hardening.yaml"
    code, _, err = run_cli(["baseline", "check", str(good)], capsys)
    assert code == 0 and "baseline smb-hardening, 6 checks" in err


def test_audit_refuses_an_unknown_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text("psfleet: 1\nhosts:\n  h1: {}\n", encoding="utf-8")
    code, _, err = run_cli(["audit", "-i", str(inventory), "--baseline", "smb-hardned"], capsys)
    assert code == 2
    assert "--baseline: no shipped baseline 'smb-hardned'" in err
