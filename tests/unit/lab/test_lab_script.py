"""One-line script parser: literal arguments only, clear errors for everything else."""

from __future__ import annotations

from typing import Any

import pytest
from psrpcore.types import PSDouble, PSInt, PSInt64

from toolkit.lab.script import NO_VALUE, ArgToken, ParamToken, ScriptParseError, parse

ARTICLE = (
    'Set-ItemProperty -Path "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters" '
    "RequireSecureNegotiate -Value 0 -Force"
)


def elements(text: str) -> list[tuple[str, Any]]:
    script = parse(text)
    assert len(script.statements) == 1 and len(script.statements[0].commands) == 1
    out: list[tuple[str, Any]] = []
    for element in script.statements[0].commands[0].elements:
        if isinstance(element, ParamToken):
            out.append(("-" + element.name, element.value))
        else:
            out.append(("arg", element.value))
    return out


def test_microsoft_article_command_parses() -> None:
    script = parse(ARTICLE)
    command = script.statements[0].commands[0]
    assert command.name == "Set-ItemProperty"
    assert elements(ARTICLE) == [
        ("-Path", NO_VALUE),
        ("arg", r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"),
        ("arg", "RequireSecureNegotiate"),
        ("-Value", NO_VALUE),
        ("arg", 0),
        ("-Force", NO_VALUE),
    ]
    value = command.elements[4]
    assert isinstance(value, ArgToken) and type(value.value) is PSInt


@pytest.mark.parametrize(
    ("text", "value", "type_"),
    [
        ("0", 0, PSInt),
        ("-5", -5, PSInt),
        ("2147483648", 2147483648, PSInt64),
        ("0xFFFFFFFF", -1, PSInt),  # Windows PowerShell 5.1: hex that fits 32 bits is Int32
        ("0x10", 16, PSInt),
        ("0x100000000", 4294967296, PSInt64),
        ("1.5", 1.5, PSDouble),
        ("'0'", "0", str),
        ('"0"', "0", str),
        ("'it''s'", "it's", str),
        ('"a`tb"', "a\tb", str),
        ('"say ""hi"""', 'say "hi"', str),
        ('"cost $ 5"', "cost $ 5", str),
        ("\u2018smart\u2019", "smart", str),
        ("DWord", "DWord", str),
        ("$true", True, bool),
        ("$FALSE", False, bool),
    ],
)
def test_literal_values(text: str, value: Any, type_: type) -> None:
    [(kind, parsed)] = elements(f"Write-Thing {text}")
    assert kind == "arg"
    assert parsed == value
    assert type(parsed) is type_


def test_null_array_and_hashtable_literals() -> None:
    assert elements("X $null") == [("arg", None)]
    assert elements("X a, 'b' ,3") == [("arg", ["a", "b", 3])]
    assert elements("X @()") == [("arg", [])]
    assert elements("X @(1, 2; 3)") == [("arg", [1, 2, 3])]
    assert elements("X -FilterHashtable @{LogName='A','B'; Id=31012; 'Start Time'=\"x\"}") == [
        ("-FilterHashtable", NO_VALUE),
        ("arg", {"LogName": ["A", "B"], "Id": 31012, "Start Time": "x"}),
    ]


def test_colon_parameters_and_switches() -> None:
    assert elements("Set-SmbClientConfiguration -Confirm:$false -Force -RequireSecuritySignature: $true") == [
        ("-Confirm", False),
        ("-Force", NO_VALUE),
        ("-RequireSecuritySignature", True),
    ]


def test_statements_pipelines_and_comments() -> None:
    script = parse("Get-A x; Get-B | Out-Null ;\nGet-C # trailing comment")
    assert [[c.name for c in s.commands] for s in script.statements] == [
        ["Get-A"],
        ["Get-B", "Out-Null"],
        ["Get-C"],
    ]
    assert [c.column for s in script.statements for c in s.commands] == [1, 10, 18, 29]


def test_empty_script_has_no_statements() -> None:
    assert parse("  ;; ").statements == ()


@pytest.mark.parametrize(
    ("text", "error_id", "fragment"),
    [
        ("$x = 1", "LabUnsupportedSyntax", "A variable or expression statement"),
        ("Get-Item $env:TEMP", "LabUnsupportedSyntax", "The variable '$env'"),
        ('Get-Item "$env:TEMP"', "LabUnsupportedSyntax", "Variable expansion"),
        ("Get-Item $(Get-Date)", "LabUnsupportedSyntax", "subexpression"),
        ("Get-Item (Get-Date)", "LabUnsupportedSyntax", "parenthesised"),
        ("Get-Item { 1 }", "LabUnsupportedSyntax", "script block"),
        ("Get-Item [int]5", "LabUnsupportedSyntax", "type literal"),
        ("Get-Item x > out.txt", "LabUnsupportedSyntax", "Redirection"),
        ("if ($true) { Get-Item }", "LabUnsupportedSyntax", "'if' keyword"),
        ("& Get-Item", "LabUnsupportedSyntax", "call operator"),
        ("Get-Item @params", "LabUnsupportedSyntax", "Splatting"),
        ("'a'", "LabUnsupportedSyntax", "string expression"),
        ("Get-Item 'abc", "TerminatorExpectedAtEndOfString", "missing the terminator: '"),
        ('Get-Item "abc', "TerminatorExpectedAtEndOfString", 'missing the terminator: "'),
        ("Get-Item @{a=1", "MissingEndCurlyBrace", "Missing closing '}'"),
        ("Get-Item @{a 1}", "MissingEqualsInHashLiteral", "Missing '='"),
        ("Get-Item @(1", "MissingEndParenthesisInSubexpression", "Missing closing ')'"),
        ("Get-Item a,", "MissingExpressionAfterToken", "Missing expression after ','"),
        ("Get-Item |", "EmptyPipeElement", "empty pipe element"),
        ("Get-Item -Path:", "MissingArgument", "Missing an argument for parameter 'Path'"),
    ],
)
def test_rejections_say_why(text: str, error_id: str, fragment: str) -> None:
    with pytest.raises(ScriptParseError) as info:
        parse(text)
    assert info.value.error_id == error_id
    assert fragment in info.value.message
    if error_id == "LabUnsupportedSyntax":
        assert "The psfleet lab runs only cmdlet statements with literal arguments" in info.value.message


def test_error_column_points_at_the_problem() -> None:
    with pytest.raises(ScriptParseError) as info:
        parse("Get-Item -Path $x")
    assert info.value.column == 16
