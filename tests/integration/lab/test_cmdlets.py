"""Every lab cmdlet through the real pypsrp client: named and positional parameters, several
statements per pipeline, several pipelines per pool, and script text (AddScript)."""

from __future__ import annotations

from pypsrp.powershell import PowerShell, RunspacePool

from tests.integration.lab.conftest import (
    CV,
    SMB_CLIENT_CHANNELS,
    SRV,
    WS,
    host_of,
    invoke,
    open_pool,
    props,
)
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import SERVER_KEY, WORKSTATION_KEY
from toolkit.lab.registry import ValueKind

MICROSOFT_WORKAROUND = (
    'Set-ItemProperty -Path "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters" '
    "RequireSecureNegotiate -Value 0 -Force"
)


def _value(fleet: Fleet, host: str, key: str, name: str) -> tuple[ValueKind, object] | None:
    found = fleet.sim(host).registry.get(key, name)
    return None if found is None else (found.kind, found.data)


def test_get_item_property_named_and_positional(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter(
        "Name", "RequireSecuritySignature"
    )
    ps.add_statement()
    ps.add_cmdlet("Get-ItemProperty").add_argument(WS).add_argument("EnableSecuritySignature")
    ps.add_statement()
    ps.add_cmdlet("Get-ItemProperty").add_argument(CV)
    named, positional, whole = invoke(ps)
    assert not ps.had_errors and not ps.streams.error
    assert props(named)["RequireSecuritySignature"] == 0
    assert "EnableSecuritySignature" not in props(named)
    assert props(positional)["EnableSecuritySignature"] == 1
    assert props(whole)["CurrentBuild"] == "9600"
    assert props(whole)["PSChildName"] == "CurrentVersion"
    assert props(whole)["PSDrive"] == "HKLM"
    assert props(whole)["PSPath"] == (
        "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
    )


def test_set_new_remove_item_property_round_trip(fleet: Fleet) -> None:
    host = host_of(fleet, "cmd-02")
    with open_pool(host) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("New-ItemProperty").add_parameter("Path", WS).add_parameter("Name", "LabNew")
        ps.add_parameter("PropertyType", "DWord").add_parameter("Value", 7)
        ps.add_statement()
        ps.add_cmdlet("Set-ItemProperty").add_argument(WS).add_argument("LabNew").add_argument(9)
        ps.add_parameter("Type", "DWord")
        ps.add_statement()
        ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter("Name", "LabNew")
        new, read = invoke(ps)
        assert not ps.streams.error
        assert props(new)["LabNew"] == 7
        assert props(read)["LabNew"] == 9
        assert _value(fleet, host.name, WORKSTATION_KEY, "LabNew") == (ValueKind.DWord, 9)

        ps = PowerShell(rp)
        ps.add_cmdlet("Remove-ItemProperty").add_parameter("Path", WS).add_parameter("Name", "LabNew")
        ps.add_statement()
        ps.add_cmdlet("Test-Path").add_argument(WS)
        assert invoke(ps) == [True]
        assert not ps.streams.error
        assert _value(fleet, host.name, WORKSTATION_KEY, "LabNew") is None


def test_test_path_named_positional_and_missing(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Test-Path").add_parameter("Path", WS)
    ps.add_statement()
    ps.add_cmdlet("Test-Path").add_argument(r"HKLM:\SOFTWARE\NoSuchKey")
    ps.add_statement()
    ps.add_cmdlet("Test-Path").add_parameter("Path", SRV).add_parameter("PathType", "Container")
    assert invoke(ps) == [True, False, True]
    assert not ps.had_errors


def test_several_pipelines_in_one_pool(pool: RunspacePool) -> None:
    results = []
    for _ in range(4):
        ps = PowerShell(pool)
        ps.add_cmdlet("Test-Path").add_argument(CV)
        results += invoke(ps)
    assert results == [True] * 4


def test_smb_client_configuration_get_set(fleet: Fleet) -> None:
    host = host_of(fleet, "cmd-03")
    with open_pool(host) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Set-SmbClientConfiguration").add_parameter("RequireSecuritySignature", True)
        ps.add_parameter("Force")
        ps.add_statement()
        ps.add_cmdlet("Get-SmbClientConfiguration")
        (config,) = invoke(ps)
    assert not ps.streams.error
    assert config.types[0] == (
        "Microsoft.Management.Infrastructure.CimInstance#ROOT/Microsoft/Windows/SMB/MSFT_SmbClientConfiguration"
    )
    assert props(config)["RequireSecuritySignature"] is True
    assert _value(fleet, host.name, WORKSTATION_KEY, "RequireSecuritySignature") == (ValueKind.DWord, 1)


def test_smb_server_configuration_get_set(fleet: Fleet) -> None:
    host = host_of(fleet, "cmd-03")
    with open_pool(host) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Set-SmbServerConfiguration").add_parameter("RequireSecuritySignature", True)
        ps.add_parameter("Confirm", False)
        ps.add_statement()
        ps.add_cmdlet("Get-SmbServerConfiguration")
        out = invoke(ps)
    assert not ps.streams.error, [e.message for e in ps.streams.error]
    (config,) = out
    assert config.types[0].endswith("/MSFT_SmbServerConfiguration")
    assert props(config)["RequireSecuritySignature"] is True
    assert _value(fleet, host.name, SERVER_KEY, "RequireSecuritySignature") == (ValueKind.DWord, 1)


def test_get_win_event_log_names_and_filter(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-WinEvent").add_argument(list(SMB_CLIENT_CHANNELS))
    ps.add_statement()
    ps.add_cmdlet("Get-WinEvent").add_parameter(
        "FilterHashtable", {"LogName": list(SMB_CLIENT_CHANNELS), "Id": 31012}
    )
    ps.add_parameter("MaxEvents", 2)
    out = invoke(ps)
    assert not ps.streams.error
    assert len(out) == 5 + 2
    assert out[0].types[0] == "System.Diagnostics.Eventing.Reader.EventLogRecord"
    assert {props(e)["Id"] for e in out[5:]} == {31012}
    assert props(out[5])["LogName"] == "Microsoft-Windows-SMBClient/Connectivity"


def test_microsoft_workaround_script_writes_dword_zero(fleet: Fleet) -> None:
    host = host_of(fleet, "cmd-04")
    with open_pool(host) as rp:
        ps = PowerShell(rp)
        ps.add_script(MICROSOFT_WORKAROUND)
        ps.add_statement()
        ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter(
            "Name", "RequireSecureNegotiate"
        )
        out = invoke(ps)
    assert not ps.had_errors and not ps.streams.error
    (read,) = out
    assert props(read)["RequireSecureNegotiate"] == 0
    # docs/windows-facts.md#registry-write-kind: -Value 0 is an Int32, so the new value is a DWORD, not REG_SZ.
    assert _value(fleet, host.name, WORKSTATION_KEY, "RequireSecureNegotiate") == (ValueKind.DWord, 0)


def test_script_with_several_statements(fleet: Fleet) -> None:
    host = host_of(fleet, "cmd-05")
    script = (
        f"Set-ItemProperty -Path '{WS}' -Name LabScript -Value 5 -Type DWord -Force; "
        f"Get-ItemProperty '{WS}' -Name LabScript | Select-Object -ExpandProperty LabScript; "
        f"Test-Path '{SRV}'"
    )
    with open_pool(host) as rp:
        ps = PowerShell(rp)
        ps.add_script(script)
        out = invoke(ps)
    assert not ps.streams.error, [e.message for e in ps.streams.error]
    assert out == [5, True]
