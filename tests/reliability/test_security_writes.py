"""`psfleet run` write confirmation against the bypasses of issue 14 #10: member invocation
through ForEach-Object and the call operator on computed commands must count as writes, so
that without --yes nothing reaches a host."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.labfleet import lab_fleet_fixtures
from toolkit.lab.fleet import Fleet
from toolkit.run_command.writes import classify_script

SPEC = "users:\n  - {name: admin, password: 'Adm1n-Lab!', admin: true}\nhosts:\n  - {name: fs01, profile: server2019}\n"

#: script text -> a word the reason must contain
BYPASSES: list[tuple[str, str]] = [
    ("Get-Process | % Kill", "Kill"),
    ("Get-Process | ForEach-Object Kill", "Kill"),
    ("Get-Process | ForEach-Object -MemberName Kill", "Kill"),
    ("Get-Item HKLM:\\SOFTWARE\\x | % DeleteValue", "DeleteValue"),
    ("$c = 'Stop-Computer'; & $c", "& $c"),
    ("& (Get-Command Remove-Item) x", "& (Get-Command"),
    ('& "$verb-Item" x', "computed"),
    (". $payload", ". $payload"),
    ("& 'Remove-Item' C:\\x", "Remove-Item"),
    ("$p = Get-Process x; $p.Terminate()", "Terminate"),
]
#: reads that must stay reads (no confirmation needed)
READS = [
    "Get-Process | % { $_.Name }",
    "& 'Get-Date'",
    "& { Get-Service }",
    "$a = 7 % 2",
    "Get-Service 2>&1 > $null",
]


@pytest.mark.parametrize(("text", "why"), BYPASSES, ids=[b[0] for b in BYPASSES])
def test_bypass_counts_as_a_write(text: str, why: str) -> None:
    check = classify_script(text)
    assert check.write
    assert why in check.describe()


@pytest.mark.parametrize("text", READS)
def test_reads_stay_reads(text: str) -> None:
    assert not classify_script(text).write


fleet, inventory = lab_fleet_fixtures(SPEC, "security-writes")


@pytest.mark.parametrize("text", ["Get-Process | % Kill", "& $c", "Get-Item x | % DeleteValue"])
def test_bypass_never_reaches_the_lab_without_yes(
    fleet: Fleet, inventory: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    before = fleet.stats()["total_requests"]
    code, out, err = run_cli(["run", "-i", str(inventory), "--format", "json", text], capsys)
    assert code == 2, err
    assert "--yes" in err and "writes" in err
    assert out == ""
    assert fleet.stats()["total_requests"] == before
