"""What crosses the broker: hosts without secrets, results and run answers that come back
as the same report, and the broker URL rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from toolkit.engine.app import redact, resolve_broker
from toolkit.engine.run_command import answer_from_wire, answer_to_wire, command_from_wire, command_to_wire
from toolkit.engine.wire import NotPortable, host_from_wire, host_to_wire, result_from_wire, result_to_wire
from toolkit.errors import UsageError
from toolkit.inventory.model import Host, PasswordSource, Policy, SourceRef, Transport
from toolkit.results import CheckResult, CheckStatus, ErrorKind, HostError, HostResult, HostStatus, OsInfo
from toolkit.run_command.command import RunCommand
from toolkit.run_command.results import HostRunResult, OutputObject, RunStatus
from toolkit.transport.model import ErrorRecordData, Param, PSObj, PSValue

HOST = Host(
    name="h1",
    address="10.0.0.1",
    transport=Transport(
        scheme="https", port=5986, auth="ntlm", ca_file="/etc/ca.pem", source_address="10.0.0.9"
    ),
    policy=Policy(secure_negotiate="disabled"),
    username="CORP\\svc",
    password=PasswordSource("env", "FLEET_PASSWORD"),
    groups=("branch",),
    smb_port=1445,
    source=SourceRef("fleet.yml", 12),
    site="paris",
)


def test_a_host_travels_with_its_password_source_only() -> None:
    wire = host_to_wire(HOST)
    assert host_from_wire(wire) == HOST
    assert wire["password"] == {"kind": "env", "ref": "FLEET_PASSWORD"}


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (PasswordSource("inventory", "hosts.ini:3", secret="S3cret!"), "ansible_password"),
        (PasswordSource("prompt"), "password_prompt"),
    ],
)
def test_sources_that_would_carry_or_need_a_password_are_refused(source: PasswordSource, says: str) -> None:
    with pytest.raises(NotPortable) as caught:
        host_to_wire(replace(HOST, password=source))
    assert says in str(caught.value) and "S3cret!" not in str(caught.value)


@pytest.mark.parametrize(
    "password", [{"kind": "inventory", "ref": "x"}, {"kind": "env", "ref": "PSFLEET_BROKER"}]
)
def test_a_worker_refuses_what_no_controller_sends(password: dict[str, str]) -> None:
    wire = dict(host_to_wire(HOST), password=password)
    with pytest.raises(ValueError):
        host_from_wire(wire)


def test_an_audit_result_comes_back_as_the_same_report_entry() -> None:
    result = HostResult(
        name="h1",
        address="10.0.0.1",
        status=HostStatus.DRIFT,
        os=OsInfo("Windows Server 2019", 17763, "Server 2019 (17763)", "ServerStandard", "Server", 5458),
        checks=(CheckResult("client_signing", "required", "0", CheckStatus.DRIFT, "off", "windows-facts#x"),),
        error=None,
        duration_s=0.123456,
        groups=("branch",),
        extra={"transport": "lean", "transport_fallback": None, "probe": {"signing": "required"}},
    )
    back = result_from_wire(result_to_wire(result))
    assert back.to_dict() == result.to_dict()
    assert back.groups == result.groups and back.os == result.os
    failed = HostResult("h2", "a", HostStatus.TIMEOUT, error=HostError(ErrorKind.TIMEOUT, "late"))
    assert result_from_wire(result_to_wire(failed)).to_dict() == failed.to_dict()


def test_a_run_answer_keeps_every_dotnet_type() -> None:
    nested = PSObj(("System.Management.Automation.PSCustomObject",), {"n": PSValue("Int64", 5)}, "x")
    item = PSObj(
        ("Microsoft.Win32.RegistryKey",),
        {
            "Dword": PSValue("Int32", 1),
            "Text": PSValue("String", "0"),
            "Multi": PSValue("String[]", ["a", "b"]),
            "Bytes": PSValue("Byte[]", b"\x00\xff"),
            "When": PSValue("DateTime", datetime(2026, 1, 2, tzinfo=UTC)),
            "Table": PSValue("Hashtable", {"k": PSValue("Int32", 2)}),
            "Obj": nested,
            "Nothing": None,
        },
    )
    answer = HostRunResult(
        name="h1",
        address="a",
        status=RunStatus.COMMAND_ERRORS,
        output=(OutputObject.of(item), OutputObject.of(PSValue("Boolean", True)), OutputObject.of(None)),
        errors=(
            ErrorRecordData(
                "no key", "PathNotFound,Get-Item", "ObjectNotFound", "ItemNotFound", "t", "Get-Item"
            ),
        ),
        duration_s=0.5,
        groups=("g",),
        transport="lean",
    )
    back = answer_from_wire(answer_to_wire(answer))
    assert back.to_dict() == answer.to_dict()
    assert back.output[0].get("Dword") == PSValue("Int32", 1) and back.errors == answer.errors


def test_a_typed_cmdlet_travels_as_typed() -> None:
    command = RunCommand.cmdlet(
        "Set-ItemProperty",
        [Param("Path", "HKLM:\\X"), Param("Value", PSValue("Int64", 7)), Param("Force", None, switch=True)],
    )
    back = command_from_wire(command_to_wire(command))
    assert back == command and back.write.write
    script = RunCommand.script("Get-Date")
    assert command_from_wire(command_to_wire(script)) == script


def test_broker_url_rules() -> None:
    with pytest.raises(UsageError) as caught:
        resolve_broker("redis://:hunter2@10.0.0.5:6379/0", env={})
    assert "hunter2" not in str(caught.value)
    assert resolve_broker(None, env={"PSFLEET_BROKER": "redis://:pw@r:6379/0"}) == "redis://:pw@r:6379/0"
    assert resolve_broker("redis://r:6379/0", env={"REDISCLI_AUTH": "p@ss"}) == "redis://:p%40ss@r:6379/0"
    assert resolve_broker(None, config_value="rediss://r:6380/0", env={}) == "rediss://r:6380/0"
    with pytest.raises(UsageError):
        resolve_broker("amqp://r", env={})
    with pytest.raises(UsageError):
        resolve_broker(None, env={})
    assert redact("redis://:pw@r:6379/0") == "redis://:***@r:6379/0"
