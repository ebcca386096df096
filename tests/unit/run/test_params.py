"""``--param`` parsing and the cmdlet form: typed values, switches, one-line usage errors."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.errors import UsageError
from toolkit.run_command.command import RunCommand, numeric_text_params, parse_param
from toolkit.transport.model import Param, PSValue

KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"

GOOD: list[tuple[str, Param]] = [
    (f"Path={KEY}", Param("Path", KEY)),  # HKLM: is not a type prefix
    (r"Path=C:\Windows", Param("Path", r"C:\Windows")),
    ("Name=X", Param("Name", "X")),
    ("Value=0", Param("Value", "0")),  # text unless typed (warned about, see below)
    ("Value=int:0", Param("Value", 0)),
    ("Value=int:0xFFFFFFF", Param("Value", 0xFFFFFFF)),
    ("Value=int:-1", Param("Value", -1)),
    ("Value=long:5", Param("Value", PSValue("Int64", 5))),
    ("Value=long:9223372036854775807", Param("Value", PSValue("Int64", 2**63 - 1))),
    ("Enabled=bool:true", Param("Enabled", True)),
    ("Enabled=bool:0", Param("Enabled", False)),
    ("Value=str:int:3", Param("Value", "int:3")),
    ("Value=str:", Param("Value", "")),
    ("Value=strs:a,b", Param("Value", PSValue("String[]", ["a", "b"]))),  # REG_MULTI_SZ, not Object[]
    ("Value=strs:", Param("Value", PSValue("String[]", []))),
    ("Value=ints:1,2", Param("Value", PSValue("Int32[]", [1, 2]))),
    ("Force", Param("Force", None, switch=True)),
    ("-Force", Param("Force", None, switch=True)),
    ("Force=switch", Param("Force", None, switch=True)),
    ("Confirm=switch:false", Param("Confirm", False)),
    ("Value=a=b", Param("Value", "a=b")),
]

BAD: list[tuple[str, str]] = [
    ("=x", "expected Name=value"),
    ("", "expected Name=value"),
    ("Na me=1", "expected Name=value"),
    ("Value=int:", "is not a whole number"),
    ("Value=int:1.5", "is not a whole number"),
    ("Value=int:2147483648", "does not fit in Int32"),
    ("Value=long:9223372036854775808", "does not fit in Int64"),
    ("Value=bool:maybe", "is not a boolean"),
    ("Value=ints:1,x", "is not a whole number"),
    ("Value=dword:1", "'dword' is not a value type; use int:1"),
    ("Value=REG_SZ:x", "use str:x"),
]


@pytest.mark.parametrize(("spec", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_parse_param(spec: str, expected: Param) -> None:
    assert parse_param(spec) == expected


@pytest.mark.parametrize(("spec", "message"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_bad_param_is_a_one_line_usage_error(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_param(spec)
    text = str(exc.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith("--param: ")


def test_numeric_text_is_flagged() -> None:
    params = [parse_param(s) for s in ("Value=0", "Name=X", "Other=0x1", "Typed=int:1")]
    assert numeric_text_params(params) == ["Value", "Other"]


def test_cmdlet_display_and_dict() -> None:
    cmd = RunCommand.cmdlet(
        "Set-ItemProperty",
        [parse_param(f"Path={KEY}"), parse_param("Name=RequireSecureNegotiate"), parse_param("Value=int:0"),
         parse_param("Force")],
    )  # fmt: skip
    assert cmd.text == f"Set-ItemProperty -Path '{KEY}' -Name 'RequireSecureNegotiate' -Value 0 -Force"
    data: dict[str, Any] = cmd.to_dict()
    assert data["write"] is True
    assert data["params"][2] == {"name": "Value", "type": "Int32", "value": 0}
    assert data["params"][3] == {"name": "Force", "switch": True}


def test_cmdlet_from_mapping_and_duplicates() -> None:
    cmd = RunCommand.cmdlet("Get-ItemProperty", {"Path": KEY, "Name": ["A", "B"]})
    assert cmd.as_command().params == (Param("Path", KEY), Param("Name", ["A", "B"]))
    assert RunCommand.cmdlet("Remove-Item", {"Path": "x", "Force": True}).params[1].switch
    with pytest.raises(UsageError, match="given twice"):
        RunCommand.cmdlet("Get-Item", [Param("Path", "a"), Param("path", "b")])
    with pytest.raises(UsageError, match="not a cmdlet name"):
        RunCommand.cmdlet("Get-Item; Remove-Item x")
    with pytest.raises(UsageError, match="empty"):
        RunCommand.script("   ")
