"""Errors as pypsrp sees them (docs/windows-facts.md#registry-errors, #non-terminating-errors, #smbshare-set-force): the error stream's records, had_errors,
and the pipeline carrying on after a non-terminating error."""

from __future__ import annotations

import dataclasses

import pytest
from psrpcore.types import ErrorCategory
from pypsrp.complex_objects import PSInvocationState
from pypsrp.powershell import PowerShell, RunspacePool

from tests.integration.lab.conftest import WS, host_of, invoke, open_pool, props
from toolkit.lab.fleet import Fleet

WS_PROVIDER = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"


def _only_error(ps: PowerShell) -> tuple[str, int, str, str]:
    (record,) = ps.streams.error
    return record.fq_error, record.category, record.message, props(record.exception)["Message"]


def test_missing_key_is_path_not_found_and_pipeline_continues(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", r"HKLM:\SOFTWARE\psfleet\Missing")
    ps.add_statement()
    ps.add_cmdlet("Test-Path").add_argument(WS)
    out = invoke(ps)
    assert out == [True]  # the next statement still ran (non-terminating)
    assert ps.had_errors is False
    assert ps.state == PSInvocationState.COMPLETED
    fq, category, message, text = _only_error(ps)
    assert fq == "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand"
    assert category == ErrorCategory.ObjectNotFound.value
    assert text == r"Cannot find path 'HKLM:\SOFTWARE\psfleet\Missing' because it does not exist."
    assert message == (
        r"ObjectNotFound: (HKLM:\SOFTWARE\psfleet\Missing:String) [Get-ItemProperty], ItemNotFoundException"
    )
    assert ps.streams.error[0].exception.types[0] == "System.Management.Automation.ItemNotFoundException"


def test_missing_value_is_invalid_argument(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-ItemProperty").add_argument(WS).add_argument("RequireSecureNegotiate")
    ps.add_statement()
    ps.add_cmdlet("Test-Path").add_argument(WS)
    assert invoke(ps) == [True]
    assert ps.had_errors is False
    fq, category, _, text = _only_error(ps)
    assert fq == (
        "System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyCommand"
    )
    assert category == ErrorCategory.InvalidArgument.value
    assert text.startswith(f"Property RequireSecureNegotiate does not exist at path {WS_PROVIDER}")


def test_new_item_property_existing_without_force_is_resource_exists(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("New-ItemProperty").add_parameter("Path", WS).add_parameter(
        "Name", "EnableSecuritySignature"
    )
    ps.add_parameter("PropertyType", "DWord").add_parameter("Value", 1)
    ps.add_statement()
    ps.add_cmdlet("Test-Path").add_argument(WS)
    assert invoke(ps) == [True]
    fq, category, _, text = _only_error(ps)
    assert fq == "System.IO.IOException,Microsoft.PowerShell.Commands.NewItemPropertyCommand"
    assert category == ErrorCategory.ResourceExists.value
    assert "already exists" in text


def test_non_admin_write_is_denied_but_reads_work(fleet: Fleet) -> None:
    reader = dataclasses.replace(host_of(fleet, "cmd-06"), username="reader")
    with open_pool(reader) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Set-ItemProperty").add_parameter("Path", WS).add_parameter(
            "Name", "RequireSecureNegotiate"
        )
        ps.add_parameter("Value", 0).add_parameter("Type", "DWord")
        ps.add_statement()
        ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter(
            "Name", "RequireSecuritySignature"
        )
        out = invoke(ps)
    assert [props(o)["RequireSecuritySignature"] for o in out] == [0]
    assert ps.had_errors is False
    fq, category, _, text = _only_error(ps)
    assert text == "Requested registry access is not allowed."
    assert category == ErrorCategory.PermissionDenied.value
    assert fq == "System.Security.SecurityException,Microsoft.PowerShell.Commands.SetItemPropertyCommand"
    assert fleet.sim("cmd-06").registry.get(WS_PROVIDER, "RequireSecureNegotiate") is None


@pytest.mark.parametrize("cmdlet", ["Set-SmbClientConfiguration", "Set-SmbServerConfiguration"])
def test_smb_set_without_force_fails_instead_of_prompting(pool: RunspacePool, cmdlet: str) -> None:
    """Nobody can answer the confirmation over WinRM; the command fails at once."""
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet).add_parameter("RequireSecuritySignature", True)
    out = invoke(ps)
    assert out == []
    assert ps.had_errors is True
    assert ps.state == PSInvocationState.FAILED
    fq, category, _, text = _only_error(ps)
    assert fq == "HostFunctionNotImplemented"
    assert category == ErrorCategory.NotImplemented.value
    assert "does not support user interaction" in text


def test_terminating_error_in_script_keeps_running_next_statement(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script(f"Set-SmbClientConfiguration -RequireSecuritySignature $true; Test-Path '{WS}'")
    assert invoke(ps) == [True]
    assert ps.had_errors is False
    assert [e.fq_error for e in ps.streams.error] == ["HostFunctionNotImplemented"]


def test_error_action_stop_fails_the_pipeline(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter("Name", "Nope")
    ps.add_parameter("ErrorAction", "Stop")
    ps.add_statement()
    ps.add_cmdlet("Test-Path").add_argument(WS)
    assert invoke(ps) == []
    assert ps.had_errors is True
    assert ps.state == PSInvocationState.FAILED


def test_unknown_command_fails_the_pipeline(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-SmbShareAccessNope")
    assert invoke(ps) == []
    assert ps.state == PSInvocationState.FAILED
    fq, category, _, text = _only_error(ps)
    assert fq == "CommandNotFoundException"
    assert category == ErrorCategory.ObjectNotFound.value
    assert text.startswith("The term 'Get-SmbShareAccessNope' is not recognized")


def test_no_matching_events_is_an_error_record_not_a_failure(fleet: Fleet) -> None:
    with open_pool(host_of(fleet, "os-server2019")) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Get-WinEvent").add_parameter(
            "FilterHashtable", {"LogName": "Microsoft-Windows-SMBClient/Security", "Id": 31013}
        )
        ps.add_statement()
        ps.add_cmdlet("Test-Path").add_argument(WS)
        out = invoke(ps)
    assert out == [True]
    assert ps.had_errors is False
    fq, category, _, text = _only_error(ps)
    assert fq.startswith("NoMatchingEventsFound")
    assert category == ErrorCategory.ObjectNotFound.value
    assert text == "No events were found that match the specified selection criteria."
