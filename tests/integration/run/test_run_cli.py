"""`psfleet run` against the lab over real WinRM (pypsrp, TCP): both forms, confirmation of
writes, error records with their FullyQualifiedErrorId, --property, formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.integration.run.conftest import REACHABLE, WS
from tests.support.cli import run_cli as support_run_cli
from toolkit.lab.fleet import Fleet

MICROSOFT_WORKAROUND = (
    'Set-ItemProperty -Path "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters" '
    "RequireSecureNegotiate -Value 0 -Force"
)
PATH_NOT_FOUND = "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand"
MISSING_VALUE = (
    "System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyCommand"
)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return support_run_cli(["run", *args], capsys)


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli([*args, "--format", "json", "--timeout", "10"], capsys)
    assert out.startswith("{"), err
    return code, json.loads(out)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in doc["hosts"]}


def test_script_line_reads_every_host_and_keeps_value_types(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = run_json(["-i", str(inventory), f"Get-ItemProperty -Path {WS}"], capsys)
    hosts = by_name(doc)
    assert doc["schema"] == "psfleet.run/1"
    assert doc["run"]["command"] == {"form": "script", "text": f"Get-ItemProperty -Path {WS}", "write": False}
    assert code == 8 and doc["run"]["exit_code"] == 8  # "gone" is unreachable, the rest ran cleanly
    assert hosts["gone"]["status"] == "unreachable" and hosts["gone"]["error"]["kind"] == "unreachable"
    assert all(hosts[n]["status"] == "ok" for n in REACHABLE)
    trap = hosts["trap-81"]["output"][0]
    # docs/windows-facts.md#registry-read-kinds: the REG_SZ "0" arrives as a String, not a DWORD.
    assert trap["properties"]["RequireSecureNegotiate"] == "0"
    assert trap["types"]["RequireSecureNegotiate"] == "String"
    assert trap["properties"]["PSDrive"] == "HKLM"  # JSON keeps everything; only tables hide noise


def test_table_has_columns_without_provider_noise_and_quotes_text_zero(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["-i", str(inventory), "--limit", "trap-81,srv2019", f"Get-ItemProperty -Path {WS}"], capsys
    )
    header = out.splitlines()[0].split()
    assert code == 0
    assert header[0] == "HOST" and header[-1] == "ERROR"
    assert "RequireSecureNegotiate" in header and "EnableSecuritySignature" in header
    assert not any(h.startswith("PS") for h in header)
    trap_row = next(line for line in out.splitlines() if line.startswith("trap-81"))
    assert "'0'" in trap_row  # text "0", quoted so it is not read as DWORD 0
    assert out.rstrip().endswith("2 hosts: 2 ok (exit 0)")
    assert "\x1b[" not in out


def test_property_selects_and_orders_columns(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        [
            "-i", str(inventory), "--limit", "srv2019", "--property", "RequireSecuritySignature,PSDrive",
            f"Get-ItemProperty -Path {WS}",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[0].split() == ["HOST", "RequireSecuritySignature", "PSDrive", "ERROR"]
    assert out.splitlines()[2].split() == ["srv2019", "0", "HKLM"]
    code, doc = run_json(["-i", str(inventory), "--limit", "srv2019", "--property", "PSDrive",
                          f"Get-ItemProperty -Path {WS}"], capsys)  # fmt: skip
    assert by_name(doc)["srv2019"]["output"][0]["properties"] == {"PSDrive": "HKLM"}


def test_error_records_have_their_own_column_with_the_windows_id(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = f"Get-ItemProperty -Path {WS} -Name NoSuchValue; Get-ItemProperty -Path HKLM:\\SOFTWARE\\NoSuchKey"
    code, out, _ = run_cli(["-i", str(inventory), "--limit", "srv2019", line], capsys)
    assert code == 4  # error records, every host reached
    rows = [r for r in out.splitlines() if r.startswith("srv2019")]
    assert len(rows) == 2
    assert any(MISSING_VALUE + ": Property NoSuchValue does not exist" in r for r in rows)
    assert any(PATH_NOT_FOUND + ": Cannot find path 'HKLM:\\SOFTWARE\\NoSuchKey'" in r for r in rows)
    code, doc = run_json(["-i", str(inventory), "--limit", "srv2019", line], capsys)
    errors = by_name(doc)["srv2019"]["errors"]
    assert [e["id"] for e in errors] == [MISSING_VALUE, PATH_NOT_FOUND]
    assert [e["category"] for e in errors] == ["InvalidArgument", "ObjectNotFound"]
    assert by_name(doc)["srv2019"]["status"] == "command_errors"


def test_cmdlet_form_sends_structured_parameters(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(
        [
            "-i", str(inventory), "--limit", "trap-81",
            "--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}", "--param", "Name=strs:RequireSecureNegotiate",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    command = doc["run"]["command"]
    assert (
        command["form"] == "cmdlet" and command["cmdlet"] == "Get-ItemProperty" and command["write"] is False
    )
    assert command["params"][1] == {"name": "Name", "type": "String[]", "value": ["RequireSecureNegotiate"]}
    out = by_name(doc)["trap-81"]["output"][0]
    assert out["properties"]["RequireSecureNegotiate"] == "0"


@pytest.mark.parametrize("transport", ["lean", "pypsrp"])
def test_cmdlet_form_typed_values_make_dword_and_qword(
    fleet: Fleet, inventory: Path, capsys: pytest.CaptureFixture[str], transport: str
) -> None:
    key = rf"HKLM:\SOFTWARE\psfleet\RunTyped-{transport}"
    fleet.sim("srv2019").registry.create_key(key)
    for name, value in (
        ("AsInt", "int:0"),
        ("AsLong", "long:5"),
        ("AsText", "str:0"),
        ("AsMulti", "strs:a,b"),
    ):
        code, _, err = run_cli(
            [
                "-i", str(inventory), "--limit", "srv2019", "--yes", "--transport", transport,
                "--cmdlet", "New-ItemProperty",
                "-p", f"Path={key}", "-p", f"Name={name}", "-p", f"Value={value}", "-p", "Force",
            ],
            capsys,
        )  # fmt: skip
        assert code == 0, err
    registry = fleet.sim("srv2019").registry
    assert registry.get_value(key, "AsInt") == ("DWord", 0)
    assert registry.get_value(key, "AsLong") == ("QWord", 5)
    assert registry.get_value(key, "AsText") == ("String", "0")
    assert registry.get_value(key, "AsMulti") == ("MultiString", ["a", "b"])


def test_microsoft_workaround_line_with_yes_writes_dword_zero(
    fleet: Fleet, inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fleet.sim("win81").registry.get_value(WS, "RequireSecureNegotiate") is None
    code, out, err = run_cli(
        ["-i", str(inventory), "--limit", "win81", "--yes", MICROSOFT_WORKAROUND], capsys
    )
    assert code == 0, err
    assert "1 host: 1 ok (exit 0)" in out
    # docs/windows-facts.md#registry-write-kind: -Value 0 (Int32) makes a new value REG_DWORD.
    assert fleet.sim("win81").registry.get_value(WS, "RequireSecureNegotiate") == ("DWord", 0)


def test_write_without_yes_refuses_without_a_terminal(
    fleet: Fleet, inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fleet.sim("srv2019").registry.get_value(WS, "RequireSecureNegotiate")
    # pytest's stdin is not a terminal: refuse at once, never prompt.
    code, out, err = run_cli(["-i", str(inventory), "--limit", "srv2019", MICROSOFT_WORKAROUND], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "writes (Set-ItemProperty)" in err and "pass --yes" in err and "no terminal" in err
    code, out, err = run_cli(
        ["-i", str(inventory), "--limit", "srv2019", "--format", "ndjson", "--cmdlet", "Remove-ItemProperty",
         "-p", f"Path={WS}", "-p", "Name=RequireSecuritySignature"],
        capsys,
    )  # fmt: skip
    assert code == 2 and out == "" and "--format ndjson cannot prompt" in err
    assert fleet.sim("srv2019").registry.get_value(WS, "RequireSecureNegotiate") == before
    assert fleet.sim("srv2019").registry.get_value(WS, "RequireSecuritySignature") is not None


def test_write_refusal_in_a_subprocess_never_waits_for_input(inventory: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "run", "-i", str(inventory), "--limit", "srv2019", "sp x y 1"],
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PSFLEET_CONFIG": ""},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == (
        "psfleet: error: --yes: this command writes (sp (Set-ItemProperty)); no terminal to confirm on: "
        "pass --yes to run it on 1 host"
    )


def test_non_admin_write_is_a_command_error_with_permission_denied(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = run_json(
        ["-i", str(inventory), "--limit", "readonly-1,gone", "--yes", MICROSOFT_WORKAROUND], capsys
    )
    assert code == 12  # an error record on one host, the other unreachable
    (error,) = by_name(doc)["readonly-1"]["errors"]
    assert error["category"] == "PermissionDenied"
    assert "Requested registry access is not allowed" in error["message"]
    assert error["id"].endswith(",Microsoft.PowerShell.Commands.SetItemPropertyCommand")


def test_bad_param_is_one_line_usage_error(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad, text in (
        ("Value=int:zero", "'zero' is not a whole number"),
        ("Value=int:4294967295", "does not fit in Int32"),
        ("Value=dword:1", "use int:1"),
        ("=x", "expected Name=value"),
        ("Va lue=1", "expected Name=value"),
        ("Enabled=bool:maybe", "not a boolean"),
    ):
        code, out, err = run_cli(["-i", str(inventory), "--cmdlet", "Set-Item", "--param", bad], capsys)
        assert code == 2 and out == "", bad
        assert err.startswith("psfleet: error: --param: ") and err.count("\n") == 1, err
        assert text in err


def test_usage_errors(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = (
        (["-i", str(inventory)], "give a command line"),
        (["-i", str(inventory), "--param", "A=1", "Get-Date"], "--param needs --cmdlet"),
        (["-i", str(inventory), "--cmdlet", "Get-Date", "Get-Date"], "not both"),
        (["-i", str(inventory), "--format", "yaml", "Get-Date"], "unknown format 'yaml'"),
    )
    for args, text in cases:
        code, out, err = run_cli(args, capsys)
        assert code == 2 and out == "" and text in err, (args, err)


@pytest.mark.parametrize("fmt", ["csv", "markdown", "junit", "ndjson"])
def test_other_formats(fmt: str, inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = f"Get-ItemProperty -Path {WS} -Name RequireSecureNegotiate"
    code, out, _ = run_cli(["-i", str(inventory), "--limit", "trap-81,srv2019,gone", "-f", fmt, "--timeout", "10", line],
                           capsys)  # fmt: skip
    assert code == 12
    if fmt == "csv":
        rows = {r["host"]: r for r in csv.DictReader(io.StringIO(out))}
        assert rows["trap-81"]["RequireSecureNegotiate"] == "0"
        assert rows["srv2019"]["error_id"] == MISSING_VALUE
        assert rows["gone"]["error_kind"] == "unreachable"
    elif fmt == "markdown":
        assert out.startswith("# psfleet run\n") and "| HOST" in out and "'0'" in out
    elif fmt == "junit":
        suite = ET.fromstring(out).find("testsuite")
        assert suite is not None and suite.get("tests") == "3"
        assert suite.get("failures") == "1" and suite.get("errors") == "1"
        failure = suite.find("testcase[@classname='srv2019']/failure")
        assert failure is not None and failure.get("type") == MISSING_VALUE
    else:
        lines = [json.loads(x) for x in out.splitlines()]
        assert sorted(h["name"] for h in lines) == ["gone", "srv2019", "trap-81"]


def test_ndjson_streams_each_host_as_it_finishes(inventory: Path) -> None:
    """The slow host is first in the inventory; the fast ones are printed before it ends."""
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", "run", "-i", str(inventory), "--limit", "slow-2012r2,win81,srv2019",
         "--format", "ndjson", f"Get-ItemProperty -Path {WS}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PSFLEET_CONFIG": ""},
    )  # fmt: skip
    assert proc.stdout is not None
    arrivals: list[tuple[float, str]] = []
    for raw in proc.stdout:
        arrivals.append((time.monotonic(), json.loads(raw)["name"]))
    proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    names = [n for _, n in arrivals]
    assert sorted(names) == ["slow-2012r2", "srv2019", "win81"]
    assert names[-1] == "slow-2012r2"
    assert arrivals[-1][0] - arrivals[0][0] > 0.3  # lines arrive apart, not all at the end


def test_no_color_on_a_terminal(inventory: Path) -> None:
    """With NO_COLOR and a terminal on stdout and stderr: no escape codes in the table or the
    messages (the progress bar is off: PSFLEET_NO_PROGRESS)."""
    import pty

    primary, secondary = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "PSFLEET_CONFIG": "", "PSFLEET_NO_PROGRESS": "1", "COLUMNS": "400"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", "run", "-i", str(inventory), "--limit", "trap-81,gone", "--timeout", "10",
         f"Get-ItemProperty -Path {WS} -Name RequireSecureNegotiate"],
        stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=env,
    )  # fmt: skip
    os.close(secondary)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(primary)
    text = b"".join(chunks).decode()
    assert proc.returncode == 8
    assert "trap-81" in text and "unreachable" in text
    assert "\x1b" not in text
