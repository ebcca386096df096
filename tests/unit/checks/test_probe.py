from __future__ import annotations

import pytest

from toolkit.checks.facts import CURRENT_VERSION_KEY, SERVER_KEY, WORKSTATION_KEY
from toolkit.checks.probe import AUDIT_STATEMENTS, ProbeError, parse_facts
from toolkit.results import ErrorKind
from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, Param, PSObj, PSValue

PROVIDER = "Microsoft.PowerShell.Core\\Registry::"


def key_object(key: str, **values: PSValue) -> PSObj:
    """A Get-ItemProperty object as it arrives over PSRP (docs/windows-facts.md#registry-read-kinds)."""
    native = key.replace("HKLM:", "HKEY_LOCAL_MACHINE")
    parent, _, child = native.rpartition("\\")
    props: dict[str, PSValue | PSObj | None] = dict(values)
    props.update(
        PSPath=PSValue("String", PROVIDER + native),
        PSParentPath=PSValue("String", PROVIDER + parent),
        PSChildName=PSValue("String", child),
        PSDrive=PSObj(("Deserialized.System.Management.Automation.PSDriveInfo",), {}, "HKLM"),
        PSProvider=PSObj(("Deserialized.System.Management.Automation.ProviderInfo",), {}, "Registry"),
    )
    return PSObj(("System.Management.Automation.PSCustomObject", "System.Object"), props)


def not_found(key: str) -> ErrorRecordData:
    return ErrorRecordData(
        message=f"Cannot find path '{key}' because it does not exist.",
        fully_qualified_error_id="PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
        category="ObjectNotFound",
        reason="ItemNotFoundException",
        target=key,
    )


CV = key_object(
    CURRENT_VERSION_KEY,
    ProductName=PSValue("String", "Windows Server 2012 R2 Standard"),
    CurrentBuild=PSValue("String", "9600"),
)


def test_statements_are_three_structured_get_item_property_calls() -> None:
    assert (
        tuple(
            (Command("Get-ItemProperty", (Param("Path", key),)),)
            for key in (CURRENT_VERSION_KEY, WORKSTATION_KEY, SERVER_KEY)
        )
        == AUDIT_STATEMENTS
    )


def test_kinds_come_from_the_serialized_type() -> None:
    ws = key_object(
        WORKSTATION_KEY,
        RequireSecureNegotiate=PSValue("String", "0"),
        RequireSecuritySignature=PSValue("Int32", 0),
        Big=PSValue("Int64", 5),
        Multi=PSValue("String[]", ["a", "b"]),
        Blob=PSValue("Byte[]", b"\x01"),
        Odd=PSValue("Boolean", True),
    )
    facts = parse_facts(InvocationResult(output=(CV, ws, key_object(SERVER_KEY))))
    w = facts.workstation
    assert (w.value("RequireSecureNegotiate").kind, w.value("RequireSecureNegotiate").value) == (
        "String",
        "0",
    )
    assert (w.value("RequireSecuritySignature").kind, w.value("RequireSecuritySignature").value) == (
        "DWord",
        0,
    )
    assert [w.value(n).kind for n in ("Big", "Multi", "Blob", "Odd")] == [
        "QWord",
        "MultiString",
        "Binary",
        "Unknown",
    ]
    assert w.value("Multi").value == ("a", "b")
    assert facts.server.exists and not facts.server.values


def test_provider_properties_are_not_registry_values() -> None:
    facts = parse_facts(InvocationResult(output=(CV, key_object(WORKSTATION_KEY), key_object(SERVER_KEY))))
    assert set(facts.current_version.values) == {"ProductName", "CurrentBuild"}


def test_dword_all_ones_reads_unsigned() -> None:
    ws = key_object(WORKSTATION_KEY, RequireSecureNegotiate=PSValue("System.Int32", -1))
    facts = parse_facts(InvocationResult(output=(CV, ws, key_object(SERVER_KEY))))
    assert facts.workstation.value("RequireSecureNegotiate").value == 0xFFFF_FFFF


def test_objects_matched_by_path_not_position() -> None:
    srv = key_object(SERVER_KEY, RequireSecuritySignature=PSValue("Int32", 1))
    ws = key_object(WORKSTATION_KEY, RequireSecuritySignature=PSValue("Int32", 0))
    facts = parse_facts(InvocationResult(output=(srv, CV, ws)))
    assert facts.server.value("RequireSecuritySignature").value == 1
    assert facts.workstation.value("RequireSecuritySignature").value == 0


def test_parent_and_child_name_used_without_ps_path() -> None:
    obj = key_object(SERVER_KEY)
    props = {k: v for k, v in obj.properties.items() if k != "PSPath"}
    facts = parse_facts(
        InvocationResult(output=(CV, key_object(WORKSTATION_KEY), PSObj(obj.type_names, props)))
    )
    assert facts.server.exists


def test_path_not_found_means_missing_key() -> None:
    result = InvocationResult(output=(CV, key_object(SERVER_KEY)), errors=(not_found(WORKSTATION_KEY),))
    facts = parse_facts(result)
    assert not facts.workstation.exists
    assert facts.workstation.value("RequireSecureNegotiate").absent


def test_path_not_found_matched_by_message_without_target() -> None:
    err = not_found(SERVER_KEY)
    err = ErrorRecordData(err.message, err.fully_qualified_error_id, err.category)
    facts = parse_facts(InvocationResult(output=(CV, key_object(WORKSTATION_KEY)), errors=(err,)))
    assert not facts.server.exists


@pytest.mark.parametrize(
    ("result", "word"),
    [
        (InvocationResult(), "CurrentVersion"),
        (InvocationResult(output=(key_object(WORKSTATION_KEY), key_object(SERVER_KEY))), "CurrentVersion"),
        (
            InvocationResult(
                output=(key_object(WORKSTATION_KEY), key_object(SERVER_KEY)),
                errors=(not_found(CURRENT_VERSION_KEY),),
            ),
            "CurrentVersion",
        ),
        (InvocationResult(output=(CV, key_object(WORKSTATION_KEY))), "LanmanServer"),
        (InvocationResult(output=(CV, CV, key_object(WORKSTATION_KEY), key_object(SERVER_KEY))), "twice"),
        (InvocationResult(output=(CV, PSValue("String", "hello"))), "unexpected output"),
        (InvocationResult(output=(CV, key_object(r"HKLM:\SOFTWARE\Other"))), "unexpected key"),
        (InvocationResult(output=(CV, PSObj(("x",), {}))), "PSPath"),
    ],
)
def test_garbage_raises_probe_error(result: InvocationResult, word: str) -> None:
    with pytest.raises(ProbeError, match=word) as caught:
        parse_facts(result)
    assert caught.value.kind is ErrorKind.PROTOCOL_ERROR


def test_access_denied_error_is_classified() -> None:
    err = ErrorRecordData(
        "Requested registry access is not allowed.",
        "System.Security.SecurityException,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
        "PermissionDenied",
        target=SERVER_KEY,
    )
    with pytest.raises(ProbeError) as caught:
        parse_facts(InvocationResult(output=(CV, key_object(WORKSTATION_KEY)), errors=(err,)))
    assert caught.value.kind is ErrorKind.ACCESS_DENIED
