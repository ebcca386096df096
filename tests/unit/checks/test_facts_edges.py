"""Facts and OS names at their edges, found unpinned by mutation testing: each of the three
fixed keys is read and replaced by any spelling of its path (CurrentVersion too), other keys
through ``keys``, and client builds are named at the first build of each generation."""

from __future__ import annotations

import pytest

from tests.unit.checks.helpers import facts
from toolkit.checks.facts import CURRENT_VERSION_KEY, SERVER_KEY, WORKSTATION_KEY, KeyFacts, RegValue
from toolkit.checks.osinfo import os_info

OTHER = "HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\LanmanWorkstation"


@pytest.mark.parametrize("path", [WORKSTATION_KEY, SERVER_KEY, CURRENT_VERSION_KEY, OTHER])
def test_each_key_is_read_and_replaced_by_any_spelling_of_its_path(path: str) -> None:
    host = facts("2022", workstation={"A": RegValue("DWord", 1)}, server={"B": RegValue("DWord", 2)})
    spelled = "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\" + path.split("\\", 1)[1].upper()
    new = KeyFacts(True, {"Marker": RegValue("String", path)})
    changed = host.with_key(spelled, new)
    assert changed.key(path) == new and changed.key(spelled) == new
    for other in {WORKSTATION_KEY, SERVER_KEY, CURRENT_VERSION_KEY} - {path}:
        assert changed.key(other) == host.key(other)  # the others are untouched
    if path != OTHER:
        assert host.key(path).exists and host.key(path) != new
    else:
        assert host.key(path) == KeyFacts(exists=False)  # not read: missing


@pytest.mark.parametrize(
    ("build", "product"),
    [(9199, "Odd"), (9200, "Windows 8"), (9599, "Windows 8"), (9600, "Windows 8.1"), (10240, "Windows 10")],
)
def test_client_builds_are_named_from_the_first_build_of_each_generation(build: int, product: str) -> None:
    key = KeyFacts(
        True,
        {
            "CurrentBuild": RegValue("String", str(build)),
            "InstallationType": RegValue("String", "Client"),
            "ProductName": RegValue("String", "Odd"),
        },
    )
    assert os_info(key).product == product
