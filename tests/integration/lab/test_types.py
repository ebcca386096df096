"""Output types as Windows serializes them (docs/windows-facts.md#registry-read-kinds, #smbshare-output-type), read with psrpcore's deserializer
(which keeps Int32 vs Int64) and with the toolkit's own HostSession."""

from __future__ import annotations

import psrpcore.types as pt
from pypsrp.powershell import PowerShell, RunspacePool

from tests.integration.lab.conftest import CV, PASSWORD, WS, host_of, invoke
from toolkit.inventory.model import Host, Transport
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import SERVER_KEY
from toolkit.lab.registry import ValueKind
from toolkit.transport.model import Command, PSObj, PSValue
from toolkit.transport.pypsrp_session import HostSession

TYPES_KEY = r"HKLM:\SOFTWARE\psfleet\Types"


def _set(ps: PowerShell, name: str, value: object, kind: str) -> None:
    ps.add_cmdlet("New-ItemProperty").add_parameter("Path", TYPES_KEY).add_parameter("Name", name)
    ps.add_parameter("Value", value).add_parameter("PropertyType", kind).add_parameter("Force")
    ps.add_cmdlet("Out-Null")
    ps.add_statement()


def test_each_registry_kind_arrives_as_its_dotnet_type(fleet: Fleet, typed_pool: RunspacePool) -> None:
    fleet.sim("cmd-01").registry.create_key(TYPES_KEY)
    ps = PowerShell(typed_pool)
    _set(ps, "Dword", -1, "DWord")
    _set(ps, "Qword", 5, "QWord")
    _set(ps, "Text", "0", "String")
    _set(ps, "Expand", "%SystemRoot%", "ExpandString")
    _set(ps, "Multi", ["a", "b"], "MultiString")
    _set(ps, "Bin", b"\x01\x02", "Binary")
    ps.add_cmdlet("Get-ItemProperty").add_argument(TYPES_KEY)
    (obj,) = invoke(ps)
    assert not ps.streams.error, [e.message for e in ps.streams.error]
    assert obj.PSTypeNames[0] == "System.Management.Automation.PSCustomObject"
    # docs/windows-facts.md#registry-read-kinds: DWORD as Int32 (0xFFFFFFFF reads -1), QWORD as Int64, REG_SZ as String.
    assert type(obj.Dword) is pt.PSInt and obj.Dword == -1
    assert type(obj.Qword) is pt.PSInt64 and obj.Qword == 5
    assert type(obj.Text) is pt.PSString and obj.Text == "0"
    assert type(obj.Expand) is pt.PSString
    assert [str(v) for v in obj.Multi] == ["a", "b"]
    assert type(obj.Bin) is pt.PSByteArray and bytes(obj.Bin) == b"\x01\x02"
    assert str(obj.PSProvider) == "Microsoft.PowerShell.Core\\Registry"
    reg = fleet.sim("cmd-01").registry
    assert reg.get(TYPES_KEY, "Dword") is not None
    kinds = {
        name: getattr(reg.get(TYPES_KEY, name), "kind", None) for name in ("Dword", "Qword", "Text", "Multi")
    }
    assert kinds == {
        "Dword": ValueKind.DWord,
        "Qword": ValueKind.QWord,
        "Text": ValueKind.String,
        "Multi": ValueKind.MultiString,
    }


def test_string_zero_and_dword_zero_are_told_apart(fleet: Fleet, typed_pool: RunspacePool) -> None:
    """docs/windows-facts.md#registry-write-kind: without -Type, -Value "0" makes REG_SZ and -Value 0 makes DWORD."""
    fleet.sim("cmd-01").registry.create_key(TYPES_KEY)
    ps = PowerShell(typed_pool)
    ps.add_cmdlet("Set-ItemProperty").add_parameter("Path", TYPES_KEY).add_parameter("Name", "AsText")
    ps.add_parameter("Value", "0")
    ps.add_statement()
    ps.add_cmdlet("Set-ItemProperty").add_parameter("Path", TYPES_KEY).add_parameter("Name", "AsInt")
    ps.add_parameter("Value", 0)
    ps.add_statement()
    ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", TYPES_KEY).add_parameter(
        "Name", ["AsText", "AsInt"]
    )
    (obj,) = invoke(ps)
    assert type(obj.AsText) is pt.PSString
    assert type(obj.AsInt) is pt.PSInt


def test_smb_configuration_is_a_cim_instance_with_boolean_and_uint32(typed_pool: RunspacePool) -> None:
    ps = PowerShell(typed_pool)
    ps.add_cmdlet("Get-SmbServerConfiguration")
    (obj,) = invoke(ps)
    # Sent without the prefix (pypsrp shows it so); psrpcore adds "Deserialized." as .NET does.
    assert obj.PSTypeNames[0] == (
        "Deserialized.Microsoft.Management.Infrastructure.CimInstance#ROOT/Microsoft/Windows/SMB/"
        "MSFT_SmbServerConfiguration"
    )
    assert "Deserialized.Microsoft.Management.Infrastructure.CimInstance" in obj.PSTypeNames
    assert type(obj.RequireSecuritySignature) is pt.PSBool
    assert type(obj.EnableSMB2Protocol) is pt.PSBool
    assert type(obj.AutoDisconnectTimeout) is pt.PSUInt


def _lab_host(fleet: Fleet, name: str) -> Host:
    h = host_of(fleet, name)
    return Host(name=h.name, address=h.address, transport=Transport(scheme="http", port=h.port, auth="ntlm"))


class _Cred:
    username = "admin"
    password = PASSWORD


def test_host_session_keeps_dotnet_types(fleet: Fleet) -> None:
    with HostSession(_lab_host(fleet, "os-win81"), _Cred()) as session:
        result = session.run(
            [
                (Command.of("Get-ItemProperty", CV),),
                (Command.of("Get-ItemProperty", WS, Name="RequireSecuritySignature"),),
                (Command.of("Get-SmbClientConfiguration"),),
            ]
        )
    assert not result.errors and not result.had_errors
    version, signing, config = result.output
    assert isinstance(version, PSObj) and isinstance(signing, PSObj) and isinstance(config, PSObj)
    assert version.get("CurrentBuild") == PSValue("String", "9600")
    assert version.get("UBR") == PSValue("Int32", 21620)
    assert signing.get("RequireSecuritySignature") == PSValue("Int32", 0)
    assert config.type_names[0].endswith("MSFT_SmbClientConfiguration")
    assert config.get("RequireSecuritySignature") == PSValue("Boolean", False)


def test_host_session_reports_error_records(fleet: Fleet) -> None:
    with HostSession(_lab_host(fleet, "os-win81"), _Cred()) as session:
        result = session.run(
            [(Command.of("Get-ItemProperty", SERVER_KEY.replace("HKEY_LOCAL_MACHINE", "HKLM:") + "X"),)]
        )
    (error,) = result.errors
    assert error.category == "ObjectNotFound"
    assert error.fully_qualified_error_id.startswith("PathNotFound,")
    assert error.reason == "ItemNotFoundException"
