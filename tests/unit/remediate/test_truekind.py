"""The true-kind read: reg.exe's lines overlaid on the probe's facts; a String without them is
ambiguous and is not written."""

from __future__ import annotations

from toolkit.checks.facts import CURRENT_VERSION_KEY, SERVER_KEY, WORKSTATION_KEY, RegValue
from toolkit.remediate.truekind import parse_kinds, parse_true_facts
from toolkit.transport.model import InvocationResult, PSObj, PSValue

HEADER = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters"


def _obj(key: str, **values: PSValue) -> PSObj:
    path = PSValue(
        "String", "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\" + key.split("\\", 1)[1]
    )
    return PSObj(("System.Management.Automation.PSCustomObject",), {**values, "PSPath": path})


def _answer(*lines: str) -> InvocationResult:
    objs = (
        _obj(CURRENT_VERSION_KEY, CurrentBuild=PSValue("String", "19045")),
        _obj(WORKSTATION_KEY, RequireSecuritySignature=PSValue("String", "C:\\Windows")),
        _obj(SERVER_KEY),
    )
    return InvocationResult(output=(*objs, *(PSValue("String", line) for line in lines)))


def test_an_expand_string_gets_its_kind_and_unexpanded_text() -> None:
    read = parse_true_facts(
        _answer("", HEADER, "    RequireSecuritySignature    REG_EXPAND_SZ    %SystemRoot%", "")
    )
    assert read.facts.workstation.value("RequireSecuritySignature") == RegValue(
        "ExpandString", "%SystemRoot%"
    )
    assert read.ambiguous == frozenset()


def test_a_plain_string_stays_a_string() -> None:
    read = parse_true_facts(_answer("", HEADER, "    RequireSecuritySignature    REG_SZ    C:\\Windows", ""))
    assert read.facts.workstation.value("RequireSecuritySignature") == RegValue("String", "C:\\Windows")
    assert read.ambiguous == frozenset()


def test_a_string_reg_exe_did_not_list_is_ambiguous() -> None:
    read = parse_true_facts(_answer())
    assert read.ambiguous == frozenset({"client_signing"})


def test_lines_under_another_key_or_another_name_do_not_count() -> None:
    kinds = parse_kinds(
        [
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Other",
            "    RequireSecuritySignature    REG_EXPAND_SZ    %X%",
            HEADER,
            "    RequireSecuritySignatureX    REG_EXPAND_SZ    %Y%",
            "    RequireSecuritySignature    REG_SZ    ",
        ]
    )
    assert kinds == {(WORKSTATION_KEY, "requiresecuritysignature"): RegValue("String", "")}
