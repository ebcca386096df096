"""`psfleet probe smb` and `psfleet diagnose validate-negotiate` through the CLI against real
smbd and the NEGOTIATE-rewriting proxy (docs/windows-facts.md#validate-negotiate-abort, docs/windows-facts.md#nmap-smb2-security-mode,
docs/windows-facts.md#samba-signing-and-dialect, docs/windows-facts.md#tampering-proxy)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.integration.smb.cli_helpers import hosts_by_name, write_probe_inventory
from tests.support.cli import run_cli
from tests.support.samba import SambaServer
from tests.support.tamper_proxy import TamperProxy

pytestmark = pytest.mark.samba


@pytest.fixture
def probe_inventory(
    tmp_path: Path,
    samba_signing_required: SambaServer,
    samba_signing_disabled: SambaServer,
    samba_smb3_02: SambaServer,
    closed_port: int,
) -> Path:
    return write_probe_inventory(
        tmp_path / "inventory.yml",
        {
            "fs-required": samba_signing_required.port,
            "fs-disabled": samba_signing_disabled.port,
            "fs-smb302": samba_smb3_02.port,
            "fs-gone": closed_port,
        },
    )


def test_probe_smb_json_reports_each_server_and_exits_8_for_the_unreachable_one(
    probe_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["probe", "smb", "-i", str(probe_inventory), "--format", "json", "--timeout", "5"], capsys
    )

    assert code == 8
    doc = json.loads(out)
    assert doc["schema"] == "psfleet.probe/2"
    assert doc["run"]["exit_code"] == 8
    assert doc["summary"]["probed"] == 3 and doc["summary"]["unreachable"] == 1
    hosts = hosts_by_name(doc)
    assert list(hosts) == ["fs-required", "fs-disabled", "fs-smb302", "fs-gone"]  # inventory order
    assert hosts["fs-required"]["signing_required"] is True
    assert hosts["fs-required"]["signing"] == "Message signing enabled and required"
    assert hosts["fs-disabled"]["signing_required"] is False
    assert hosts["fs-smb302"]["dialect"] == "3.0.2"
    per_dialect = {d["dialect"]: d["supported"] for d in hosts["fs-smb302"]["probe"]["per_dialect"]}
    assert per_dialect["3.1.1"] is False and per_dialect["3.0.2"] is True
    gone = hosts["fs-gone"]
    assert gone["status"] == "unreachable"
    assert gone["error"]["kind"] == "unreachable" and "Connection refused" in gone["error"]["message"]


def test_probe_smb_table_exits_0_when_every_host_answers(
    tmp_path: Path,
    samba_signing_required: SambaServer,
    samba_signing_disabled: SambaServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inventory = write_probe_inventory(
        tmp_path / "ok.yml",
        {"fs-required": samba_signing_required.port, "fs-disabled": samba_signing_disabled.port},
    )
    code, out, _ = run_cli(["probe", "smb", "-i", str(inventory), "--no-per-dialect"], capsys)

    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["HOST", "ADDRESS", "STATUS", "DIALECT", "SIGNING"]
    required = next(line for line in lines if line.startswith("fs-required"))
    assert "probed" in required and "Message signing enabled and required" in required
    disabled = next(line for line in lines if line.startswith("fs-disabled"))
    assert "Message signing enabled but not required" in disabled
    assert lines[-1] == "2 hosts: 2 probed"


def test_probe_smb_csv_ndjson_and_limit(probe_inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        [
            "probe",
            "smb",
            "-i",
            str(probe_inventory),
            "--format",
            "csv",
            "--limit",
            "fs-required",
            "--timeout",
            "5",
        ],
        capsys,
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["host"], r["status"], r["signing_required"]) for r in rows] == [
        ("fs-required", "probed", "true")
    ]

    code, out, _ = run_cli(
        [
            "probe",
            "smb",
            "-i",
            str(probe_inventory),
            "--format",
            "ndjson",
            "--no-per-dialect",
            "--timeout",
            "5",
        ],
        capsys,
    )
    assert code == 8
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(h["name"] for h in lines) == ["fs-disabled", "fs-gone", "fs-required", "fs-smb302"]


def test_diagnose_direct_connection_passes(
    samba_smb3_02: SambaServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSFLEET_USERNAME", samba_smb3_02.username)
    monkeypatch.setenv("PSFLEET_PASSWORD", samba_smb3_02.password)
    server = f"{samba_smb3_02.host}:{samba_smb3_02.port}"

    code, out, _ = run_cli(["diagnose", "validate-negotiate", "--server", server], capsys)
    assert code == 0
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["status"] == "pass"
    assert fields["dialect"] == "3.0.2"

    code, out, _ = run_cli(["diagnose", "validate-negotiate", "--server", server, "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "psfleet.smb-diagnosis/1"
    assert doc["status"] == "pass" and doc["differences"] == [] and doc["workarounds"] == []


def test_diagnose_through_rewriting_proxy_fails_with_cause_and_workarounds(
    samba_smb3_02: SambaServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMB_SECRET", samba_smb3_02.password)
    upstream = (samba_smb3_02.host, samba_smb3_02.port)
    with TamperProxy(upstream, rewrite="response", clear_capabilities=0x02) as proxy:
        server = f"127.0.0.1:{proxy.port}"
        base = ["diagnose", "validate-negotiate", "--server", server, "--username", samba_smb3_02.username]
        base += ["--password-env", "SMB_SECRET", "--no-input"]
        code, out, _ = run_cli([*base, "--client-build", "9600"], capsys)
        assert code == 4
        assert "status                                    fail" in out
        assert "differs: capabilities" in out and "server says 0x00000047 (DFS|LEASING" in out
        assert "WAN accelerator" in out
        assert "recommended                               Require SMB signing" in out

        code, out, _ = run_cli([*base, "--client-build", "19045", "--format", "json"], capsys)
    assert code == 4
    doc = json.loads(out)
    assert doc["status"] == "fail"
    assert [d["field"] for d in doc["differences"]] == ["capabilities"]
    applies = {w["id"]: w["applies"] for w in doc["workarounds"]}
    # Windows 10 cannot disable RequireSecureNegotiate (docs/windows-facts.md#rsn-enforced-since-10240): only signing applies.
    assert applies == {"require_signing": True, "require_secure_negotiate_off": False}
    assert doc["recommended"] == "require_signing"
    assert proxy.rewritten >= 2


def test_diagnose_exit_8_when_unreachable_or_wrong_password(
    samba_smb3_02: SambaServer,
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PSFLEET_USERNAME", samba_smb3_02.username)
    monkeypatch.setenv("PSFLEET_PASSWORD", "wrong-" + samba_smb3_02.password)
    code, out, _ = run_cli(
        ["diagnose", "validate-negotiate", "--server", f"127.0.0.1:{samba_smb3_02.port}", "--format", "json"],
        capsys,
    )
    assert code == 8
    doc = json.loads(out)
    assert doc["status"] == "error" and doc["error"]["kind"] == "auth_failed"

    code, out, _ = run_cli(
        ["diagnose", "validate-negotiate", "--server", f"127.0.0.1:{closed_port}", "--timeout", "5"], capsys
    )
    assert code == 8
    assert "unreachable" in out


def test_diagnose_usage_errors_exit_2(
    samba_smb3_02: SambaServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PSFLEET_PASSWORD", raising=False)
    monkeypatch.setenv("PSFLEET_USERNAME", samba_smb3_02.username)
    server = f"127.0.0.1:{samba_smb3_02.port}"

    code, out, err = run_cli(
        ["diagnose", "validate-negotiate", "--server", server, "--format", "json"], capsys
    )
    assert code == 2 and out == ""
    assert "no password" in err

    code, _, err = run_cli(
        ["diagnose", "validate-negotiate", "--server", server, "--dialect", "3.1.1"], capsys
    )
    assert code == 2 and "pre-auth integrity" in err

    code, _, err = run_cli(["diagnose", "validate-negotiate", "--server", "127.0.0.1:99999"], capsys)
    assert code == 2 and "not a TCP port" in err
