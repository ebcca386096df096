"""Which commands count as writes (confirmation needed): data-driven cases."""

from __future__ import annotations

import pytest

from toolkit.run_command.writes import classify_cmdlet, classify_script

KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"

#: script text -> the reasons it writes (empty: read-only)
SCRIPTS: list[tuple[str, tuple[str, ...]]] = [
    (f"Get-ItemProperty -Path {KEY} -Name RequireSecureNegotiate", ()),
    (f'Set-ItemProperty -Path "{KEY}" RequireSecureNegotiate -Value 0 -Force', ("Set-ItemProperty",)),
    ("Get-SmbClientConfiguration | Select-Object RequireSecuritySignature", ()),
    ("Set-SmbClientConfiguration -RequireSecuritySignature $true -Force", ("Set-SmbClientConfiguration",)),
    ("gp HKLM:\\x | select Name | ft; Test-Path x", ()),
    ("sp x y 1", ("sp (Set-ItemProperty)",)),
    (
        "New-ItemProperty -Path x -Name y -Value 1; Remove-ItemProperty x y",
        ("New-ItemProperty", "Remove-ItemProperty"),
    ),
    ("Get-ChildItem C:\\ | ForEach-Object { Remove-Item $_ }", ("Remove-Item",)),
    ("Get-Item x | % { $_.DeleteValue('a') }", ("method call DeleteValue()",)),
    ("[Microsoft.Win32.Registry]::SetValue('k', 'n', 1)", ("method call SetValue()",)),
    ("[math]::Round(1.5); $x = Get-Date; $x.ToString()", ()),
    ("Get-Service > C:\\out.txt", ("redirection to a file ('> C:\\out.txt')",)),
    ("Get-Service 2>&1 > $null", ()),
    ("reg query HKLM\\x", ("reg (not a known read-only command)",)),
    ("@{Name='x'; Value=1} | Format-Table", ()),
    ("Format-Volume -DriveLetter D", ("Format-Volume",)),
    ("if (Test-Path x) { Get-Item x } else { New-Item x }", ("New-Item",)),
    ('Write-Output "$(Remove-Item x)"', ("Remove-Item",)),
    ("Write-Output 'Remove-Item x' # Stop-Computer", ()),
    ("function Foo { Get-Date }; Foo", ("Foo (not a known read-only command)",)),
    ("Restart-Service LanmanWorkstation", ("Restart-Service",)),
    ("Invoke-Expression 'Get-Date'", ("Invoke-Expression",)),
    ("Get-Date | Out-File x.txt", ("Out-File",)),
    ("Get-Date | Out-String", ()),
]


@pytest.mark.parametrize(("text", "reasons"), SCRIPTS, ids=[s[0][:40] for s in SCRIPTS])
def test_script_writes(text: str, reasons: tuple[str, ...]) -> None:
    check = classify_script(text)
    assert check.names == reasons
    assert check.write is bool(reasons)


@pytest.mark.parametrize(
    "verb",
    ["Set", "New", "Remove", "Rename", "Clear", "Add", "Disable", "Enable", "Install", "Uninstall", "Stop",
     "Restart", "Start", "Invoke", "Copy", "Move", "Reset", "Update", "Register", "Grant"],
)  # fmt: skip
def test_write_verbs(verb: str) -> None:
    assert classify_cmdlet(f"{verb}-Thing").write


@pytest.mark.parametrize("name", ["Get-ItemProperty", "Test-Path", "Select-Object", "Measure-Object", "gci"])
def test_read_cmdlets(name: str) -> None:
    assert not classify_cmdlet(name).write
