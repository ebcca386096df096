"""Value reads and build names that a one-character bug would shift: a REG_DWORD shown by
PowerShell as a negative Int32 is the unsigned DWORD, a REG_QWORD above 2**32 is not cut to
32 bits; a Windows 10/11 client without DisplayVersion/ReleaseId is named by its build
(docs/windows-facts.md#os-currentversion-values)."""

from __future__ import annotations

import pytest

from tests.unit.checks.test_probe import CV, key_object
from toolkit.checks.facts import SERVER_KEY, WORKSTATION_KEY, KeyFacts, RegValue
from toolkit.checks.osinfo import os_info
from toolkit.checks.probe import parse_facts
from toolkit.transport.model import InvocationResult, PSValue


def test_dword_and_qword_keep_their_width() -> None:
    answer = InvocationResult(
        output=(
            CV,
            key_object(WORKSTATION_KEY, A=PSValue("Int32", -1), B=PSValue("Int64", 2**40 + 5)),
            key_object(SERVER_KEY, C=PSValue("Int64", -1)),
        )
    )
    found = parse_facts(answer)
    assert found.workstation.value("A") == RegValue("DWord", 0xFFFF_FFFF)
    assert found.workstation.value("B") == RegValue("QWord", 2**40 + 5)
    assert found.server.value("C") == RegValue("QWord", 0xFFFF_FFFF_FFFF_FFFF)


@pytest.mark.parametrize(
    ("build", "name"),
    [(10240, "1507"), (10586, "1511"), (14393, "1607"), (17763, "1809"), (19045, "22H2"), (22631, "23H2")],
)
def test_a_client_build_without_its_version_text_is_named_by_the_build(build: int, name: str) -> None:
    info = os_info(
        KeyFacts(
            True,
            {
                "CurrentBuild": RegValue("String", str(build)),
                "InstallationType": RegValue("String", "Client"),
                "ProductName": RegValue("String", "Windows 10 Pro"),
            },
        )
    )
    assert info.build == build and f" {name} ({build})" in info.display
