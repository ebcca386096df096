"""The SMB configuration cmdlets' part of an audit, without the lab: each getter's CIM instance
becomes a pseudo key (Booleans and integers as DWORDs, strings as strings, anything else
unknown), a getter that answered an error (the cmdlet missing before 9200) is a missing key,
everything else of the answer is left to the registry parser, and a getter that answered
nothing at all is a protocol error. Mutation testing found this module unpinned by unit tests."""

from __future__ import annotations

import pytest

from tests.unit.checks.helpers import facts
from toolkit.checks.facts import KeyFacts, ProbeError, RegValue
from toolkit.checks.smbconfig import (
    getters_of,
    is_getter,
    is_smb_read_error,
    setter_of,
    smb_statements,
    smb_write,
    split_smb,
    with_smb,
)
from toolkit.transport.model import ErrorRecordData, InvocationResult, PSObj, PSValue

SERVER, CLIENT = "Get-SmbServerConfiguration", "Get-SmbClientConfiguration"
BOTH = (SERVER, CLIENT)


def cim(name: str, **props: PSValue | PSObj | None) -> PSObj:
    return PSObj(
        (f"Microsoft.Management.Infrastructure.CimInstance#ROOT/Microsoft/Windows/SMB/{name}",), props
    )


def missing(getter: str, *, where: str = "target") -> ErrorRecordData:
    text = f"The term '{getter}' is not recognized as the name of a cmdlet."
    fields = {"target": getter} if where == "target" else {"activity": getter} if where == "activity" else {}
    return ErrorRecordData(text, "CommandNotFoundException", "ObjectNotFound", **fields)


def test_getters_and_setters_are_named_by_the_cmdlets() -> None:
    assert is_getter(SERVER) and not is_getter("HKLM:\\SOFTWARE\\X")
    assert getters_of([CLIENT, "HKLM:\\X", SERVER, CLIENT]) == BOTH  # each once, fixed order
    assert [s[0].name for s in smb_statements(BOTH)] == list(BOTH)
    assert setter_of(SERVER) == "Set-SmbServerConfiguration"
    flag = smb_write(SERVER, "EnableSMB1Protocol", "bool", 0)
    assert flag.name == "Set-SmbServerConfiguration"
    assert [(p.name, p.value, p.switch) for p in flag.params] == [
        ("EnableSMB1Protocol", False, False),
        ("Force", None, True),
    ]
    number = smb_write(CLIENT, "SessionTimeout", "uint32", 60)
    assert (number.params[0].name, number.params[0].value) == ("SessionTimeout", 60)


def test_each_getters_instance_becomes_its_pseudo_key_with_typed_values() -> None:
    server = cim(
        "MSFT_SmbServerConfiguration",
        EnableSMB1Protocol=PSValue("Boolean", False),
        RequireSecuritySignature=PSValue("Boolean", True),
        MaxThreadsPerQueue=PSValue("UInt32", 20),
        Negative=PSValue("Int32", -1),
        Name=PSValue("String", "srv"),
        Ratio=PSValue("Double", 1.5),
        Empty=PSValue("String", None),
        Nested=PSObj(("X",), {}),
    )
    other = PSObj(("System.Management.Automation.PSCustomObject",), {"PSPath": PSValue("String", "x")})
    rest, found = split_smb(InvocationResult(output=(other, server)), BOTH)
    assert rest.output == (other,) and rest.errors == () and not rest.had_errors
    assert set(found) == {SERVER}
    values = found[SERVER].values
    assert found[SERVER].exists
    assert values["EnableSMB1Protocol"] == RegValue("DWord", 0)
    assert values["RequireSecuritySignature"] == RegValue("DWord", 1)
    assert values["MaxThreadsPerQueue"] == RegValue("DWord", 20)
    assert values["Negative"] == RegValue("DWord", 0xFFFF_FFFF)
    assert values["Name"] == RegValue("String", "srv")
    assert values["Ratio"] == RegValue("Unknown", 1.5)
    assert values["Empty"] == RegValue("Unknown", None)
    assert values["Nested"] == RegValue("Unknown", None)


def test_an_instance_of_a_getter_not_asked_for_is_left_in_the_answer() -> None:
    client = cim("MSFT_SmbClientConfiguration", RequireSecuritySignature=PSValue("Boolean", True))
    rest, found = split_smb(InvocationResult(output=(client,)), (SERVER,))
    assert rest.output == (client,) and found == {}


@pytest.mark.parametrize("where", ["target", "activity", "message"])
def test_a_getter_that_answered_an_error_is_a_missing_key(where: str) -> None:
    registry_error = ErrorRecordData("gone", "PathNotFound,X", "ObjectNotFound", activity="Get-ItemProperty")
    answer = InvocationResult(errors=(missing(CLIENT, where=where), registry_error), had_errors=True)
    rest, found = split_smb(answer, BOTH)
    assert found == {CLIENT: KeyFacts(False)}
    assert rest.errors == (registry_error,) and rest.had_errors


def test_an_instance_outweighs_an_error_of_the_same_getter() -> None:
    server = cim("MSFT_SmbServerConfiguration", EnableSMB1Protocol=PSValue("Boolean", False))
    rest, found = split_smb(
        InvocationResult(output=(server,), errors=(missing(SERVER),), had_errors=True), BOTH
    )
    assert found[SERVER].exists and rest.errors == () and rest.had_errors is False


def test_without_getters_the_answer_is_untouched() -> None:
    answer = InvocationResult(output=(cim("MSFT_SmbServerConfiguration"),), errors=(missing(SERVER),))
    rest, found = split_smb(answer, ())
    assert rest is answer and found == {}


def test_a_read_error_is_told_from_a_write_error() -> None:
    assert is_smb_read_error(missing(SERVER))
    write = ErrorRecordData("Set-SmbServerConfiguration failed", "X", "InvalidOperation", activity=SERVER)
    assert not is_smb_read_error(write)
    assert not is_smb_read_error(ErrorRecordData("gone", "PathNotFound,X", "ObjectNotFound"))


def test_the_getters_facts_join_the_hosts_and_silence_is_an_error() -> None:
    host = facts()
    assert with_smb(host, (), {}) is host
    server = KeyFacts(True, {"EnableSMB1Protocol": RegValue("DWord", 0)})
    joined = with_smb(host, BOTH, {SERVER: server, CLIENT: KeyFacts(False)})
    assert joined.keys[SERVER] == server and joined.keys[CLIENT] == KeyFacts(False)
    assert joined.workstation == host.workstation
    with pytest.raises(ProbeError, match=f"neither an object nor an error for {CLIENT}$"):
        with_smb(host, BOTH, {SERVER: server})
