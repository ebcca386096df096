"""`psfleet audit` against a lab fleet over real WinRM: statuses, formats, exit codes."""

from __future__ import annotations

import csv
import io
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.audit.conftest import FAULTS
from tests.support.cli import run_cli
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import PROFILE_NAMES


@pytest.fixture(scope="module")
def audit_json(inventory: Path) -> tuple[int, dict[str, object], float]:
    import subprocess
    import sys

    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "audit",
            "-i",
            str(inventory),
            "--format",
            "json",
            "--timeout",
            "3",
            "--retries",
            "1",
            "--forks",
            "32",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert proc.stdout.lstrip().startswith("{"), proc.stderr
    return proc.returncode, json.loads(proc.stdout), elapsed


def hosts_by_name(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    hosts = doc["hosts"]
    assert isinstance(hosts, list)
    return {h["name"]: h for h in hosts}


def check(host: dict[str, object], check_id: str) -> dict[str, str]:
    checks = host["checks"]
    assert isinstance(checks, list)
    return next(c for c in checks if c["id"] == check_id)


def test_every_host_reported_once_with_exit_12(
    audit_json: tuple[int, dict[str, object], float], fleet: Fleet
) -> None:
    code, doc, _ = audit_json
    names = [h["name"] for h in doc["hosts"]]  # type: ignore[index, union-attr]
    assert sorted(names) == sorted(h.name for h in fleet.hosts)
    assert len(names) == len(set(names))
    assert doc["schema"] == "psfleet.audit/1"
    assert code == 12  # drift and unassessed hosts
    assert doc["run"]["exit_code"] == 12  # type: ignore[index]


def test_run_ends_within_deadline_plus_margin(audit_json: tuple[int, dict[str, object], float]) -> None:
    _, _, elapsed = audit_json
    assert elapsed < 3 + 20  # --timeout 3 per host; hung hosts must not hold the run


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_hardened_profiles_are_compliant_with_os_detected(
    audit_json: tuple[int, dict[str, object], float], fleet: Fleet, profile: str
) -> None:
    host = hosts_by_name(audit_json[1])[f"ok-{profile}"]
    assert host["status"] == "compliant", host
    build = next(h.build for h in fleet.hosts if h.name == f"ok-{profile}")
    assert host["os"]["build"] == build  # type: ignore[index]
    sn = check(host, "secure_negotiate")
    if build < 9200:
        assert sn["status"] == "not_applicable"
    else:
        assert sn["status"] == "compliant"
    assert sn["rule"] in {
        "windows-facts#no-validate-negotiate-before-smb3",
        "windows-facts#rsn-absent-default",
        "windows-facts#rsn-enforced-since-10240",
    }


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_default_installs_drift_on_signing_per_os_defaults(
    audit_json: tuple[int, dict[str, object], float], profile: str
) -> None:
    host = hosts_by_name(audit_json[1])[f"default-{profile}"]
    client = check(host, "client_signing")
    server = check(host, "server_signing")
    # docs/windows-facts.md#signing-defaults-24h2: 24H2 requires signing both ways, Server 2025 outbound only; others neither.
    if profile == "win11-24h2":
        assert (client["status"], server["status"]) == ("compliant", "compliant")
    elif profile == "server2025":
        assert (client["status"], server["status"]) == ("compliant", "drift")
    else:
        assert (client["status"], server["status"]) == ("drift", "drift")
    assert host["status"] == ("compliant" if profile == "win11-24h2" else "drift")


def test_reg_sz_trap_is_drift_not_compliant(audit_json: tuple[int, dict[str, object], float]) -> None:
    sn = check(hosts_by_name(audit_json[1])["trap-81"], "secure_negotiate")
    assert sn["status"] == "drift"
    assert "String" in sn["actual"]


def test_disabled_secure_negotiate_on_2012r2_is_drift(
    audit_json: tuple[int, dict[str, object], float],
) -> None:
    sn = check(hosts_by_name(audit_json[1])["disabled-2012r2"], "secure_negotiate")
    assert sn["status"] == "drift"
    assert "DWord" in sn["actual"]


@pytest.mark.parametrize(("kind", "status"), sorted(FAULTS.items()))
def test_fault_kinds_map_to_statuses(
    audit_json: tuple[int, dict[str, object], float], kind: str, status: str
) -> None:
    host = hosts_by_name(audit_json[1])[f"fault-{kind.replace('_', '-')}"]
    assert host["status"] == status
    assert host["error"]["kind"] == status  # type: ignore[index]
    assert "Traceback" not in host["error"]["message"]  # type: ignore[index]


def test_flaky_host_is_audited_after_retry(audit_json: tuple[int, dict[str, object], float]) -> None:
    assert hosts_by_name(audit_json[1])["flaky-1"]["status"] in ("compliant", "drift")


def test_non_admin_account_can_still_read(audit_json: tuple[int, dict[str, object], float]) -> None:
    assert hosts_by_name(audit_json[1])["nonadmin-1"]["status"] == "drift"


def test_csv_and_junit_and_table(inventory: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    limit = ["--limit", "ok-win81,default-win10,fault-refuse"]
    code, out, _ = run_cli(["audit", "-i", str(inventory), "--format", "csv", *limit], capsys)
    assert code == 12
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["host"] for r in rows} == {"ok-win81", "default-win10", "fault-refuse"}

    junit = tmp_path / "audit.xml"
    code, out, _ = run_cli(
        ["audit", "-i", str(inventory), "--format", "junit", "-o", str(junit), *limit], capsys
    )
    assert code == 12 and out == ""
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 9  # 3 hosts x 3 checks
    assert len(root.findall(".//failure")) >= 2 and len(root.findall(".//error")) == 3

    code, out, _ = run_cli(["audit", "-i", str(inventory), "--limit", "ok-*", "--limit", "!ok-win7"], capsys)
    assert code == 0
    assert "ok-win81" in out and "ok-win7 " not in out


def test_retry_file_lists_unassessed_hosts(
    inventory: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    retry = tmp_path / "retry.yml"
    code, _, _ = run_cli(
        [
            "audit",
            "-i",
            str(inventory),
            "--limit",
            "fault-refuse,ok-win10",
            "--format",
            "json",
            "--retry-file",
            str(retry),
        ],
        capsys,
    )
    assert code == 8
    code, out, _ = run_cli(["inventory", "list", "-i", str(retry), "--format", "json"], capsys)
    assert [h["name"] for h in json.loads(out)] == ["fault-refuse"]
    assert "Adm1n-Lab!" not in retry.read_text()


def test_ndjson_streams_one_host_per_line(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["audit", "-i", str(inventory), "--limit", "ok-*", "--format", "ndjson"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == len(PROFILE_NAMES)
    assert all(json.loads(line)["status"] == "compliant" for line in lines)


def test_bad_inventory_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts:\n  h1: {address: 10.0.0.1, auth: kerberoz}\n")
    code, out, err = run_cli(["audit", "-i", str(bad)], capsys)
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line and f"{bad}:2" in line and "auth" in line
