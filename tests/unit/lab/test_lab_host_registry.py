"""SimHost running the registry cmdlets, structured and as script text."""

from __future__ import annotations

from pathlib import Path

import pytest
from psrpcore import Command
from psrpcore.types import ErrorCategory, PSCustomObject, PSInt, PSInt64, PSList, PSString, PSUInt

from tests.unit.lab.helpers import (
    ADMIN,
    CV,
    READER,
    SWITCH,
    WS,
    WS_PROVIDER,
    clixml,
    cmd,
    error_roundtrip,
    errors,
    outputs,
    roundtrip,
    run,
    statements,
    terminates,
)
from toolkit.atomic import write_atomic
from toolkit.lab.emit import ErrorOut, Output, Terminate
from toolkit.lab.host import SimHost

ARTICLE = f'Set-ItemProperty -Path "{WS}" RequireSecureNegotiate -Value 0 -Force'


@pytest.fixture
def host() -> SimHost:
    return SimHost("web-01", "win81")


def test_microsoft_article_command_writes_a_dword(host: SimHost) -> None:
    emitted = host.run_script(ARTICLE, user=ADMIN)
    assert emitted == []
    assert host.registry.get_value(WS, "RequireSecureNegotiate") == ("DWord", 0)


def test_get_item_property_returns_typed_values_and_provider_properties(host: SimHost) -> None:
    host.registry.set(WS, "Minus", "DWord", 0xFFFFFFFF)
    host.registry.set(WS, "Big", "QWord", 2**40)
    host.registry.set(WS, "Multi", "MultiString", ["a", "b"])
    [obj] = outputs(run(host, cmd("Get-ItemProperty", Path=WS)))
    assert isinstance(obj, PSCustomObject)
    assert type(obj.EnableSecuritySignature) is PSInt and obj.EnableSecuritySignature == 1
    assert type(obj.ServiceDll) is PSString  # ExpandString reads as String...
    assert obj.ServiceDll == "C:\\Windows\\System32\\wkssvc.dll"  # ...with %SystemRoot% expanded
    assert obj.Minus == -1 and type(obj.Minus) is PSInt  # 0xFFFFFFFF reads as Int32 -1
    assert obj.Big == 2**40 and type(obj.Big) is PSInt64
    assert obj.Multi == ["a", "b"]
    assert obj.Multi.PSTypeNames[0] == "System.String[]"
    assert obj.PSPath == "Microsoft.PowerShell.Core\\Registry::" + WS_PROVIDER
    assert obj.PSParentPath == "Microsoft.PowerShell.Core\\Registry::" + WS_PROVIDER.rsplit("\\", 1)[0]
    assert obj.PSChildName == "Parameters"
    assert obj.PSDrive == "HKLM"
    assert obj.PSProvider == "Microsoft.PowerShell.Core\\Registry"
    names = [p.name for p in obj.PSObject.extended_properties]
    assert names[-5:] == ["PSPath", "PSParentPath", "PSChildName", "PSDrive", "PSProvider"]


def string_array(*items: str) -> PSList:
    """A ``System.String[]`` as a client that types its arrays sends it."""
    value = PSList(PSString(i) for i in items)
    value.PSObject.type_names = ["System.String[]", "System.Array", "System.Object"]
    return value


@pytest.mark.parametrize(
    "value",
    [["a", "b"], PSList(["a", "b"])],  # a plain list, as pypsrp sends it: Object[]
)
def test_a_list_that_is_not_a_string_array_is_refused_as_dotnet_refuses_it(
    host: SimHost, value: object
) -> None:
    emitted = run(host, cmd("Set-ItemProperty", Path=WS, Name="New", Value=value))
    [error] = errors(emitted)
    assert error.message == (
        "RegistryKey.SetValue does not support arrays of type 'Object[]'. Only Byte[] and String[] are supported."
    )
    assert host.registry.get_value(WS, "New") is None


def test_an_array_literal_in_a_script_is_an_object_array(host: SimHost) -> None:
    emitted = host.run_script(f"Set-ItemProperty -Path '{WS}' -Name New -Value 'a','b'", user=ADMIN)
    assert [e.fully_qualified_error_id for e in errors(emitted)] == [
        "System.ArgumentException,Microsoft.PowerShell.Commands.SetItemPropertyCommand"
    ]
    assert host.registry.get_value(WS, "New") is None


def test_an_existing_multistring_takes_a_plain_list(host: SimHost) -> None:
    host.registry.set(WS, "Multi", "MultiString", ["x"])
    assert run(host, cmd("Set-ItemProperty", Path=WS, Name="Multi", Value=["a", "b"])) == []
    assert host.registry.get_value(WS, "Multi") == ("MultiString", ["a", "b"])


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("%SystemRoot%\\x.dll", "C:\\Windows\\x.dll"),
        ("%systemroot%;%WINDIR%", "C:\\Windows;C:\\Windows"),  # names are case-insensitive
        ("%NoSuchVar%\\%ProgramFiles%", "%NoSuchVar%\\C:\\Program Files"),  # undefined: left as is
        ("100%", "100%"),
    ],
)
def test_expand_string_reads_expanded_as_windows_getvalue_does(host: SimHost, stored: str, read: str) -> None:
    host.registry.set(WS, "Path", "ExpandString", stored)
    [obj] = outputs(run(host, cmd("Get-ItemProperty", Path=WS, Name="Path")))
    assert obj.Path == read
    assert host.registry.get_value(WS, "Path") == ("ExpandString", stored)  # stored unexpanded


def test_computer_name_expands_to_the_host_name(host: SimHost) -> None:
    host.registry.set(WS, "Where", "ExpandString", "\\\\%COMPUTERNAME%\\share")
    [obj] = outputs(run(host, cmd("Get-ItemProperty", Path=WS, Name="Where")))
    assert obj.Where == "\\\\WEB-01\\share"


def test_output_serializes_with_dotnet_types(host: SimHost) -> None:
    host.registry.set(WS, "Blob", "Binary", b"\x01\x02")
    host.registry.set(WS, "Minus", "DWord", 0xFFFFFFFF)
    [obj] = outputs(run(host, cmd("Get-ItemProperty", WS)))
    xml = clixml(obj)
    assert '<I32 N="Minus">-1</I32>' in xml
    assert '<I32 N="EnableSecuritySignature">1</I32>' in xml
    assert '<BA N="Blob">AQI=</BA>' in xml
    back = roundtrip(obj)
    assert back.Minus == -1 and back.Blob == b"\x01\x02"
    assert back.PSTypeNames[0].endswith("System.Management.Automation.PSCustomObject")
    assert str(back).startswith("@{EnablePlainTextPassword=0; ")


def test_reg_sz_zero_and_dword_zero_differ_by_type_alone(host: SimHost) -> None:
    host.run_script(f"Set-ItemProperty '{WS}' A -Value 0; Set-ItemProperty '{WS}' B -Value '0'", user=ADMIN)
    [obj] = outputs(run(host, cmd("Get-ItemProperty", WS, Name=["A", "B"])))
    assert type(obj.A) is PSInt and type(obj.B) is PSString
    assert host.registry.get_value(WS, "A") == ("DWord", 0)
    assert host.registry.get_value(WS, "B") == ("String", "0")


@pytest.mark.parametrize(
    ("value", "extra", "expected"),
    [
        (PSInt(1), {}, ("DWord", 1)),
        (1, {}, ("DWord", 1)),
        (PSInt64(5), {}, ("QWord", 5)),
        (PSString("1"), {}, ("String", "1")),
        (string_array("a", "b"), {}, ("MultiString", ["a", "b"])),
        (b"\x00", {}, ("Binary", b"\x00")),
        (True, {}, ("String", "True")),  # Unknown kind: .NET stores ToString()
        (PSUInt(7), {}, ("String", "7")),
        ("1", {"Type": "DWord"}, ("DWord", 1)),
        (1, {"Type": "String"}, ("String", "1")),
        (4294967295, {"Type": "DWord"}, ("DWord", 0xFFFFFFFF)),  # Int32 fails, UInt32 fits
        (1, {"Type": "qword"}, ("QWord", 1)),
        ("x", {"Type": "ExpandString"}, ("ExpandString", "x")),
        (None, {"Type": "DWord"}, ("DWord", 0)),
        (1, {"Type": "Unknown"}, ("DWord", 1)),
    ],
)
def test_new_value_kind_follows_the_dotnet_type(
    host: SimHost, value: object, extra: dict, expected: tuple
) -> None:
    emitted = run(host, cmd("Set-ItemProperty", Path=WS, Name="New", Value=value, **extra))
    assert emitted == []
    assert host.registry.get_value(WS, "New") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", ("DWord", 1)), (PSInt64(3), ("DWord", 3)), ("abc", ("String", "abc"))],
)
def test_existing_value_keeps_its_kind_when_the_data_converts(
    host: SimHost, value: object, expected: tuple
) -> None:
    run(host, cmd("Set-ItemProperty", WS, "RequireSecuritySignature", value))
    assert host.registry.get_value(WS, "RequireSecuritySignature") == expected


def test_forced_kind_that_cannot_convert_is_a_write_error(host: SimHost) -> None:
    [error] = errors(run(host, cmd("Set-ItemProperty", WS, "X", "abc", Type="DWord")))
    assert error.fully_qualified_error_id == (
        "System.Management.Automation.PSInvalidCastException,Microsoft.PowerShell.Commands.SetItemPropertyCommand"
    )
    assert error.category is ErrorCategory.WriteError
    assert 'Cannot convert value "abc" to type "System.UInt32"' in error.message
    assert host.registry.get_value(WS, "X") is None


def test_passthru_writes_the_property(host: SimHost) -> None:
    [obj] = outputs(run(host, cmd("Set-ItemProperty", WS, "X", 1, PassThru=SWITCH)))
    assert obj.X == 1 and obj.PSChildName == "Parameters"


@pytest.mark.parametrize(
    "path",
    [
        WS,
        WS.lower(),
        "Registry::" + WS_PROVIDER,
        "Microsoft.PowerShell.Core\\Registry::" + WS_PROVIDER,
    ],
)
def test_path_forms(host: SimHost, path: str) -> None:
    [obj] = outputs(run(host, cmd("Get-ItemProperty", path, "RequireSecuritySignature")))
    assert obj.RequireSecuritySignature == 0
    assert obj.PSChildName == "Parameters"  # real case, not the case asked for


def test_missing_key_is_path_not_found(host: SimHost) -> None:
    emitted = run(host, cmd("Get-ItemProperty", r"HKLM:\SOFTWARE\Nope"))
    [error] = emitted
    assert isinstance(error, ErrorOut)
    assert error.message == r"Cannot find path 'HKLM:\SOFTWARE\Nope' because it does not exist."
    assert (
        error.fully_qualified_error_id == "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand"
    )
    assert error.category is ErrorCategory.ObjectNotFound
    assert error.target_object == r"HKLM:\SOFTWARE\Nope"
    assert str(error.category_info) == (
        r"ObjectNotFound: (HKLM:\SOFTWARE\Nope:String) [Get-ItemProperty], ItemNotFoundException"
    )
    assert error.exception.PSTypeNames[0] == "System.Management.Automation.ItemNotFoundException"
    record = error_roundtrip(error)
    assert record.FullyQualifiedErrorId == error.fully_qualified_error_id
    assert record.InvocationInfo.MyCommand.Name == "Get-ItemProperty"
    assert record.Exception.Message == error.message


def test_missing_value_is_a_ps_argument_exception_and_others_still_come_back(host: SimHost) -> None:
    emitted = run(host, cmd("Get-ItemProperty", WS, Name=["Nope", "RequireSecuritySignature"]))
    [error] = errors(emitted)
    assert error.message == f"Property Nope does not exist at path {WS_PROVIDER}."
    assert error.category is ErrorCategory.InvalidArgument
    assert error.fully_qualified_error_id == (
        "System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyCommand"
    )
    assert (
        str(error.category_info) == "InvalidArgument: (Nope:String) [Get-ItemProperty], PSArgumentException"
    )
    [obj] = outputs(emitted)
    assert obj.PSObject.extended_properties[0].name == "RequireSecuritySignature"


def test_wildcard_names_do_not_error_when_nothing_matches(host: SimHost) -> None:
    assert run(host, cmd("Get-ItemProperty", WS, "Zz*")) == []
    [obj] = outputs(run(host, cmd("Get-ItemProperty", WS, "*SecuritySignature")))
    assert obj.EnableSecuritySignature == 1 and obj.RequireSecuritySignature == 0


def test_non_admin_reads_but_cannot_write_hklm(host: SimHost) -> None:
    assert outputs(run(host, cmd("Get-ItemProperty", WS), user=READER))
    [error] = run(host, cmd("Set-ItemProperty", WS, "RequireSecureNegotiate", 0), user=READER)
    assert isinstance(error, ErrorOut)
    assert error.message == "Requested registry access is not allowed."
    assert error.category is ErrorCategory.PermissionDenied
    assert error.fully_qualified_error_id == (
        "System.Security.SecurityException,Microsoft.PowerShell.Commands.SetItemPropertyCommand"
    )
    assert error.target_object == WS_PROVIDER
    assert host.registry.get_value(WS, "RequireSecureNegotiate") is None
    for command in (
        cmd("New-ItemProperty", WS, "X", Value=1),
        cmd("Remove-ItemProperty", WS, "EnableSecuritySignature"),
    ):
        [denied] = errors(run(host, command, user=READER))
        assert denied.category is ErrorCategory.PermissionDenied
    assert host.registry.get_value(WS, "EnableSecuritySignature") == ("DWord", 1)


def test_new_item_property_refuses_existing_without_force(host: SimHost) -> None:
    [error] = run(host, cmd("New-ItemProperty", WS, "EnableSecuritySignature", Value=0, PropertyType="DWord"))
    assert isinstance(error, ErrorOut)
    assert error.message == "The property already exists."
    assert error.category is ErrorCategory.ResourceExists
    assert (
        error.fully_qualified_error_id
        == "System.IO.IOException,Microsoft.PowerShell.Commands.NewItemPropertyCommand"
    )
    assert host.registry.get_value(WS, "EnableSecuritySignature") == ("DWord", 1)
    [obj] = outputs(
        run(
            host,
            cmd(
                "New-ItemProperty",
                WS,
                "EnableSecuritySignature",
                Value="0",
                PropertyType="String",
                Force=SWITCH,
            ),
        )
    )
    assert obj.EnableSecuritySignature == "0"
    assert host.registry.get_value(WS, "EnableSecuritySignature") == ("String", "0")


def test_new_item_property_type_alias(host: SimHost) -> None:
    run(host, cmd("New-ItemProperty", WS, "RequireSecureNegotiate", Value=0, Type="DWord"))
    assert host.registry.get_value(WS, "RequireSecureNegotiate") == ("DWord", 0)


def test_remove_item_property(host: SimHost) -> None:
    assert run(host, cmd("Remove-ItemProperty", WS, "EnableSecuritySignature")) == []
    assert host.registry.get_value(WS, "EnableSecuritySignature") is None
    [error] = errors(run(host, cmd("Remove-ItemProperty", WS, "EnableSecuritySignature")))
    assert error.message == f"Property EnableSecuritySignature does not exist at path {WS_PROVIDER}."
    assert error.fully_qualified_error_id.endswith(",Microsoft.PowerShell.Commands.RemoveItemPropertyCommand")


@pytest.mark.parametrize(
    ("path", "extra", "expected"),
    [
        (WS, {}, True),
        (r"HKLM:\SOFTWARE\Nope", {}, False),
        (r"C:\Windows", {}, False),
        (WS, {"PathType": "Leaf"}, False),
        (WS, {"PathType": "Container"}, True),
        (r"HKLM:\SOFTWARE\Nope", {"IsValid": SWITCH}, True),
    ],
)
def test_test_path(host: SimHost, path: str, extra: dict, expected: bool) -> None:
    assert outputs(run(host, cmd("Test-Path", path, **extra))) == [expected]


def test_whatif_changes_nothing(host: SimHost) -> None:
    assert run(host, cmd("Set-ItemProperty", WS, "X", 1, WhatIf=SWITCH)) == []
    assert host.registry.get_value(WS, "X") is None


def test_confirm_prompt_fails_without_a_user(host: SimHost) -> None:
    [stop] = run(host, cmd("Set-ItemProperty", WS, "X", 1, Confirm=SWITCH))
    assert isinstance(stop, Terminate)
    assert stop.fully_qualified_error_id == "HostFunctionNotImplemented"
    assert host.registry.get_value(WS, "X") is None


# -- binding -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "error_id", "message"),
    [
        (cmd("Get-ItemProperty", WS, Bogus=1), "NamedParameterNotFound",
         "A parameter cannot be found that matches parameter name 'Bogus'."),
        (cmd("Set-ItemProperty", WS, "X", 1, P=1), "AmbiguousParameter",
         "Parameter cannot be processed because the parameter name 'P' is ambiguous. Possible matches include: "
         "-Path -PassThru -PipelineVariable."),
        (cmd("Get-ItemProperty", WS, "A", "extra"), "PositionalParameterNotFound",
         "A positional parameter cannot be found that accepts argument 'extra'."),
        (cmd("Set-ItemProperty", WS, "X"), "MissingMandatoryParameter",
         "Cannot process command because of one or more missing mandatory parameters: Value."),
        (cmd("Get-ItemProperty"), "MissingMandatoryParameter",
         "Cannot process command because of one or more missing mandatory parameters: Path."),
        (cmd("Set-ItemProperty", WS, "X", 1, Type="REG_DWORD"), "CannotConvertArgumentNoMessage",
         "Cannot bind parameter 'Type'. Cannot convert value \"REG_DWORD\" to type "
         "\"Microsoft.Win32.RegistryValueKind\"."),
    ],
)  # fmt: skip
def test_binding_errors_terminate_a_structured_pipeline(
    command: Command, error_id: str, message: str
) -> None:
    host = SimHost("h", "win10")
    [stop] = run(host, command)
    assert isinstance(stop, Terminate)
    assert (
        stop.fully_qualified_error_id
        == f"{error_id},Microsoft.PowerShell.Commands.{command.command_text.replace('-', '')}Command"
    )
    assert stop.message.startswith(message)
    assert stop.exception.PSTypeNames[0] == "System.Management.Automation.ParameterBindingException"


def test_prefix_and_alias_parameter_names(host: SimHost) -> None:
    run(host, cmd("Set-ItemProperty", pat=WS, n="X", va=1, ty="String"))
    assert host.registry.get_value(WS, "X") == ("String", "1")
    [obj] = outputs(run(host, cmd("Get-ItemProperty", PSPath=WS, PSProperty="X")))
    assert obj.X == "1"


def test_script_missing_argument_for_non_switch(host: SimHost) -> None:
    [error] = host.run_script(f"Set-ItemProperty -Path '{WS}' -Name", user=ADMIN)
    assert isinstance(error, ErrorOut)  # statement-terminating inside a script
    assert (
        error.fully_qualified_error_id
        == "MissingArgument,Microsoft.PowerShell.Commands.SetItemPropertyCommand"
    )
    assert "Missing an argument for parameter 'Name'" in error.message


# -- error flow ------------------------------------------------------------------------------
def test_unknown_command_is_command_not_found(host: SimHost) -> None:
    [stop] = run(host, cmd("Get-Bogus"))
    assert isinstance(stop, Terminate)
    assert stop.message.startswith(
        "The term 'Get-Bogus' is not recognized as the name of a cmdlet, function, script file"
    )
    assert stop.fully_qualified_error_id == "CommandNotFoundException"
    assert stop.category is ErrorCategory.ObjectNotFound
    assert str(stop.category_info) == "ObjectNotFound: (Get-Bogus:String) [], CommandNotFoundException"
    record = error_roundtrip(stop)
    assert record.FullyQualifiedErrorId == "CommandNotFoundException"
    assert record.Exception.Message == stop.message


def test_structured_terminating_error_stops_later_statements(host: SimHost) -> None:
    emitted = run(host, *statements(cmd("Get-Bogus"), cmd("Set-ItemProperty", WS, "X", 1)))
    assert len(terminates(emitted)) == 1
    assert host.registry.get_value(WS, "X") is None


def test_script_statement_error_does_not_stop_the_next_statement(host: SimHost) -> None:
    emitted = host.run_script(f"Get-Bogus; Set-ItemProperty '{WS}' X 1; Test-Path '{WS}'", user=ADMIN)
    assert [type(e) for e in emitted] == [ErrorOut, Output]
    assert host.registry.get_value(WS, "X") == ("DWord", 1)


def test_non_terminating_errors_let_the_pipeline_continue(host: SimHost) -> None:
    emitted = run(host, *statements(cmd("Get-ItemProperty", r"HKLM:\Nope"), cmd("Test-Path", WS)))
    assert [type(e) for e in emitted] == [ErrorOut, Output]


def test_parse_error_runs_nothing(host: SimHost) -> None:
    [stop] = host.run_script(f"Set-ItemProperty '{WS}' X 1; $x = 2", user=ADMIN)
    assert isinstance(stop, Terminate)
    assert stop.category is ErrorCategory.ParserError
    assert stop.fully_qualified_error_id == "LabUnsupportedSyntax"
    assert "The psfleet lab runs only cmdlet statements with literal arguments" in stop.message
    assert host.registry.get_value(WS, "X") is None
    record = error_roundtrip(stop)
    assert record.InvocationInfo.Line == f"Set-ItemProperty '{WS}' X 1; $x = 2"


@pytest.mark.parametrize(
    ("action", "kinds"), [("SilentlyContinue", []), ("Ignore", []), ("Continue", [ErrorOut])]
)
def test_error_action(host: SimHost, action: str, kinds: list[type]) -> None:
    emitted = run(host, cmd("Get-ItemProperty", r"HKLM:\Nope", ErrorAction=action))
    assert [type(e) for e in emitted] == kinds


def test_error_action_stop_terminates_everything(host: SimHost) -> None:
    emitted = host.run_script(
        f"Get-ItemProperty HKLM:\\Nope -ea Stop; Set-ItemProperty '{WS}' X 1", user=ADMIN
    )
    [stop] = emitted
    assert isinstance(stop, Terminate)
    assert stop.fully_qualified_error_id.startswith("PathNotFound,")
    assert host.registry.get_value(WS, "X") is None


def test_pipeline_by_pspath_and_select_object(host: SimHost) -> None:
    host.run_script(f"Get-ItemProperty '{WS}' | Set-ItemProperty -Name X -Value 5", user=ADMIN)
    assert host.registry.get_value(WS, "X") == ("DWord", 5)
    emitted = host.run_script(f"Get-ItemProperty '{WS}' X | Select-Object -ExpandProperty X", user=ADMIN)
    assert outputs(emitted) == [5]
    assert host.run_script(f"Get-ItemProperty '{WS}' | Out-Null", user=ADMIN) == []


def test_script_command_alongside_structured_ones() -> None:
    host = SimHost("h", "server2012r2")
    script = Command(f"Get-ItemProperty '{CV}' CurrentBuild", is_script=True)
    script.end_of_statement = True
    emitted = run(host, script, cmd("Test-Path", CV))
    assert [o if isinstance(o, bool) else o.CurrentBuild for o in outputs(emitted)] == ["9600", True]


def test_state_dir_survives_a_restart(tmp_path: Path) -> None:
    first = SimHost("web-01", "win81", state_dir=tmp_path)
    first.run_script(ARTICLE, user=ADMIN)
    again = SimHost("web-01", "server2022", state_dir=tmp_path)  # state file wins over the profile
    assert again.registry.get_value(WS, "RequireSecureNegotiate") == ("DWord", 0)
    assert (tmp_path / "web-01.json").exists()


def test_a_request_writes_the_state_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = SimHost("web-01", "win81", state_dir=tmp_path)
    writes: list[Path] = []

    def counted(path: Path, text: str) -> None:
        writes.append(path)
        write_atomic(path, text)

    monkeypatch.setattr("toolkit.lab.registry.write_atomic", counted)
    run(host, *statements(cmd("Set-ItemProperty", WS, "A", 1), cmd("Set-ItemProperty", WS, "B", 2)))
    assert writes == [tmp_path / "web-01.json"]
    again = SimHost("web-01", "win10", state_dir=tmp_path)
    assert again.registry.get_value(WS, "A") == ("DWord", 1)
    assert again.registry.get_value(WS, "B") == ("DWord", 2)
    assert outputs(run(host, cmd("Test-Path", WS))) == [True]
    assert len(writes) == 1  # a request that changes nothing writes nothing


def test_registry_overrides_set_and_delete() -> None:
    host = SimHost(
        "h",
        "win81",
        registry_overrides={WS: {"RequireSecureNegotiate": ("String", "0"), "EnableSecuritySignature": None}},
    )
    assert host.registry.get_value(WS, "RequireSecureNegotiate") == ("String", "0")
    assert host.registry.get_value(WS, "EnableSecuritySignature") is None


def test_a_long_error_target_is_shortened_in_the_category_message(host: SimHost) -> None:
    path = "HKLM:\\SOFTWARE\\psfleet\\A\\Very\\Long\\Path\\That\\Does\\Not\\Exist"
    [error] = errors(run(host, cmd("Get-ItemProperty", Path=path)))
    assert error.category_info.TargetName == path  # the field itself stays whole
    assert str(error.category_info) == (
        f"ObjectNotFound: ({path[:15]}...{path[-15:]}:String) [Get-ItemProperty], ItemNotFoundException"
    )
    short = "HKLM:\\SOFTWARE\\psfleet\\Nope"  # 40 characters or fewer: as is
    [error] = errors(run(host, cmd("Get-ItemProperty", Path=short)))
    assert str(error.category_info).startswith(f"ObjectNotFound: ({short}:String)")


def test_reads_are_shared_between_hosts_but_never_stale() -> None:
    first, second = SimHost("web-01", "win81"), SimHost("web-02", "win81")
    [a] = outputs(run(first, cmd("Get-ItemProperty", Path=WS)))
    [b] = outputs(run(second, cmd("Get-ItemProperty", Path=WS)))
    assert a is b  # same content: one object, serialized once
    assert run(second, cmd("Set-ItemProperty", Path=WS, Name="RequireSecuritySignature", Value=1)) == []
    [after] = outputs(run(second, cmd("Get-ItemProperty", Path=WS)))
    assert after.RequireSecuritySignature == 1
    [again] = outputs(run(first, cmd("Get-ItemProperty", Path=WS)))
    assert again is a and again.RequireSecuritySignature == 0
    assert clixml(after) != clixml(again)
