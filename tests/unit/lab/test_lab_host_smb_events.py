"""SmbShare functions and Get-WinEvent on SimHost."""

from __future__ import annotations

import datetime

import pytest
from psrpcore.types import ErrorCategory, PSUInt

from tests.unit.lab.helpers import (
    ADMIN,
    READER,
    SRV,
    SWITCH,
    WS,
    clixml,
    cmd,
    error_roundtrip,
    errors,
    outputs,
    roundtrip,
    run,
)
from toolkit.lab.cmdlets_events import EventSpec
from toolkit.lab.emit import ErrorOut, Terminate
from toolkit.lab.host import SimHost

CIM = "Microsoft.Management.Infrastructure.CimInstance"
NOW = datetime.datetime(2026, 1, 10, 12, 0, tzinfo=datetime.UTC)
CONN = "Microsoft-Windows-SMBClient/Connectivity"


@pytest.mark.parametrize("profile", ["win7", "server2008r2"])
@pytest.mark.parametrize("name", ["Get-SmbClientConfiguration", "Set-SmbServerConfiguration"])
def test_smbshare_does_not_exist_before_build_9200(profile: str, name: str) -> None:
    [stop] = run(SimHost("h", profile), cmd(name))
    assert isinstance(stop, Terminate)
    assert stop.fully_qualified_error_id == "CommandNotFoundException"
    assert f"The term '{name}' is not recognized" in stop.message


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("Get-SmbClientConfiguration", "MSFT_SmbClientConfiguration"),
        ("Get-SmbServerConfiguration", "MSFT_SmbServerConfiguration"),
    ],
)
def test_get_configuration_is_a_cim_instance(name: str, cls: str) -> None:
    [obj] = outputs(run(SimHost("h", "server2019"), cmd(name)))
    assert obj.PSTypeNames == [
        f"{CIM}#ROOT/Microsoft/Windows/SMB/{cls}",
        f"{CIM}#{cls}",
        CIM,
        "System.Object",
    ]
    assert obj.RequireSecuritySignature is False
    xml = clixml(obj)
    assert '<B N="RequireSecuritySignature">false</B>' in xml
    back = roundtrip(obj)
    assert back.PSTypeNames[0] == f"Deserialized.{CIM}#ROOT/Microsoft/Windows/SMB/{cls}"


def test_server_configuration_properties_by_version() -> None:
    [old] = outputs(run(SimHost("h", "server2012"), cmd("Get-SmbServerConfiguration")))
    [new] = outputs(run(SimHost("h", "server2022"), cmd("Get-SmbServerConfiguration")))
    for obj in (old, new):
        for prop in (
            "EnableSecuritySignature",
            "RequireSecuritySignature",
            "EnableSMB2Protocol",
            "EncryptData",
        ):
            assert isinstance(getattr(obj, prop), bool)
        assert obj.RejectUnencryptedAccess is True
        assert type(obj.Smb2CreditsMax) is PSUInt
    assert old.EnableSMB1Protocol is True and new.EnableSMB1Protocol is False
    assert not hasattr(old, "EnableSMBQUIC") and new.EnableSMBQUIC is True


def test_24h2_requires_signing_both_ways_server_2025_outbound_only() -> None:
    client = SimHost("c", "win11-24h2")
    server = SimHost("s", "server2025")
    get = "Get-SmbClientConfiguration"
    assert outputs(run(client, cmd(get)))[0].RequireSecuritySignature is True
    assert outputs(run(client, cmd("Get-SmbServerConfiguration")))[0].RequireSecuritySignature is True
    assert outputs(run(server, cmd(get)))[0].RequireSecuritySignature is True
    assert outputs(run(server, cmd("Get-SmbServerConfiguration")))[0].RequireSecuritySignature is False


def test_set_with_force_writes_the_registry_and_get_item_property_sees_it() -> None:
    host = SimHost("h", "win81")
    emitted = run(host, cmd("Set-SmbClientConfiguration", RequireSecuritySignature=True, Force=SWITCH))
    assert emitted == []
    assert host.registry.get_value(WS, "RequireSecuritySignature") == ("DWord", 1)
    [obj] = outputs(run(host, cmd("Get-ItemProperty", WS, "RequireSecuritySignature")))
    assert obj.RequireSecuritySignature == 1


def test_registry_change_shows_in_get_configuration() -> None:
    host = SimHost("h", "server2016")
    run(host, cmd("Set-ItemProperty", SRV, "RequireSecuritySignature", 1))
    assert outputs(run(host, cmd("Get-SmbServerConfiguration")))[0].RequireSecuritySignature is True


def test_confirm_false_is_as_good_as_force() -> None:
    host = SimHost("h", "server2016")
    host.run_script(
        "Set-SmbServerConfiguration -RequireSecuritySignature $true -EnableSMB1Protocol 0 -Confirm:$false",
        user=ADMIN,
    )
    assert host.registry.get_value(SRV, "RequireSecuritySignature") == ("DWord", 1)
    assert host.registry.get_value(SRV, "SMB1") == ("DWord", 0)


def test_set_without_force_fails_like_a_prompt_with_no_user() -> None:
    host = SimHost("h", "server2019")
    [stop] = run(host, cmd("Set-SmbServerConfiguration", RequireSecuritySignature=True))
    assert isinstance(stop, Terminate)
    assert stop.fully_qualified_error_id == "HostFunctionNotImplemented"
    assert stop.category is ErrorCategory.NotImplemented
    assert stop.message.startswith(
        "A command that prompts the user failed because the host program or the command type does not support "
        "user interaction. The host was attempting to request confirmation with the following message: "
        "Are you sure you want to perform this action?\nPerforming operation 'Modify' on Target 'SMB Service Configuration'."
    )
    assert stop.exception.PSTypeNames[0] == "System.Management.Automation.Host.HostException"
    assert host.registry.get_value(SRV, "RequireSecuritySignature") == ("DWord", 0)
    assert error_roundtrip(stop).InvocationInfo.MyCommand.Name == "Set-SmbServerConfiguration"


def test_set_as_non_admin_is_access_denied() -> None:
    host = SimHost("h", "server2019")
    [error] = run(
        host, cmd("Set-SmbClientConfiguration", RequireSecuritySignature=True, Force=SWITCH), user=READER
    )
    assert isinstance(error, ErrorOut)
    assert error.message == "Access denied"
    assert error.category is ErrorCategory.PermissionDenied
    assert error.fully_qualified_error_id == "Windows System Error 5,Set-SmbClientConfiguration"
    assert host.registry.get_value(WS, "RequireSecuritySignature") == ("DWord", 0)
    assert outputs(run(host, cmd("Get-SmbClientConfiguration"), user=READER))  # reads work


def test_boolean_parameter_refuses_strings() -> None:
    [stop] = run(
        SimHost("h", "win10"), cmd("Set-SmbClientConfiguration", RequireSecuritySignature="yes", Force=SWITCH)
    )
    assert isinstance(stop, Terminate)
    assert stop.fully_qualified_error_id == "ParameterArgumentTransformationError,Set-SmbClientConfiguration"
    assert "Boolean parameters accept only Boolean values and numbers" in stop.message


# -- events ----------------------------------------------------------------------------------
def _event_host(profile: str = "win81") -> SimHost:
    specs = [
        EventSpec(31012, CONN, count=3, days_ago=1),
        EventSpec(30804, "Microsoft-Windows-SMBClient/Operational", count=1, days_ago=10, message="custom"),
    ]
    return SimHost("web-01", profile, events=specs, now=NOW)


def test_filter_hashtable_by_log_and_id() -> None:
    host = _event_host()
    emitted = run(host, cmd("Get-WinEvent", FilterHashtable={"LogName": CONN, "Id": 31012}))
    events = outputs(emitted)
    assert len(events) == 3 and not errors(emitted)
    first = events[0]
    assert first.PSTypeNames[0] == "System.Diagnostics.Eventing.Reader.EventLogRecord"
    assert first.Id == 31012 and first.LogName == CONN
    assert first.ProviderName == "Microsoft-Windows-SMBClient"
    assert first.LevelDisplayName == "Error"
    assert first.Message == "The negotiate validation failed."
    assert first.TimeCreated >= events[1].TimeCreated  # newest first
    assert first.MachineName == "web-01"
    back = roundtrip(first)
    assert (back.Id, back.LogName, back.TimeCreated) == (31012, CONN, first.TimeCreated)


def test_filter_over_all_channels_with_start_time_and_id_list() -> None:
    host = _event_host()
    table = {
        "LogName": ["Microsoft-Windows-SMBClient/Security", CONN, "Microsoft-Windows-SMBClient/Operational"],
        "Id": [31012, 30804],
        "StartTime": NOW - datetime.timedelta(days=5),
    }
    events = outputs(run(host, cmd("Get-WinEvent", FilterHashtable=table)))
    assert [e.Id for e in events] == [31012, 31012, 31012]
    table["StartTime"] = NOW - datetime.timedelta(days=30)
    events = outputs(run(host, cmd("Get-WinEvent", FilterHashtable=table)))
    assert (
        events[-1].Id == 30804 and events[-1].Message == "custom" and events[-1].LevelDisplayName == "Warning"
    )


def test_script_hashtable_and_max_events() -> None:
    host = _event_host()
    emitted = host.run_script(
        f"Get-WinEvent -FilterHashtable @{{LogName='{CONN}'; Id=31012}} -MaxEvents 1", user=ADMIN
    )
    assert len(outputs(emitted)) == 1


def test_no_match_is_no_matching_events_found() -> None:
    [error] = run(_event_host(), cmd("Get-WinEvent", FilterHashtable={"LogName": CONN, "Id": 31013}))
    assert isinstance(error, ErrorOut)
    assert error.message == "No events were found that match the specified selection criteria."
    assert (
        error.fully_qualified_error_id
        == "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand"
    )
    assert error.category is ErrorCategory.ObjectNotFound
    assert str(error.category_info) == "ObjectNotFound: (:) [Get-WinEvent], Exception"


def test_log_name_parameter_and_missing_log() -> None:
    host = SimHost("old", "win7")
    [error] = run(host, cmd("Get-WinEvent", LogName=CONN))
    assert (
        error.fully_qualified_error_id
        == "NoMatchingLogsFound,Microsoft.PowerShell.Commands.GetWinEventCommand"
    )
    assert error.message == f'There is not an event log on the localhost computer that matches "{CONN}".'
    assert len(outputs(run(_event_host(), cmd("Get-WinEvent", CONN)))) == 3


def test_unknown_filter_key_fails() -> None:
    [stop] = run(_event_host(), cmd("Get-WinEvent", FilterHashtable={"Bogus": 1}))
    assert isinstance(stop, Terminate)
    assert "bogus" in stop.message
