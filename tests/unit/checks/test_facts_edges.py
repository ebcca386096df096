"""Facts and OS names at their edges, found unpinned by mutation testing: each of the three
fixed keys is read and replaced by any spelling of its path (CurrentVersion too), other keys
through ``keys``, client builds are named at the first build of each generation, the product name tells a
server when the installation type is missing, a key name holding "::" is kept, a client
without DisplayVersion is named by its build's feature update, and the build falls back to
CurrentBuildNumber."""

from __future__ import annotations

import pytest

from tests.unit.checks.helpers import facts
from toolkit.checks.facts import (
    CURRENT_VERSION_KEY,
    SERVER_KEY,
    WORKSTATION_KEY,
    KeyFacts,
    RegValue,
    normalize_key,
)
from toolkit.checks.osinfo import os_info
from toolkit.results import OsInfo

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
    [
        (9199, "Odd"),
        (9200, "Windows 8"),
        (9599, "Windows 8"),
        (9600, "Windows 8.1"),
        (10239, "Windows 8.1"),
        (10240, "Windows 10"),
        (21999, "Windows 10"),
        (22000, "Windows 11"),
    ],
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


def test_without_an_installation_type_the_product_name_says_server() -> None:
    def named(product: str) -> str:
        key = KeyFacts(
            True, {"CurrentBuild": RegValue("String", "9600"), "ProductName": RegValue("String", product)}
        )
        return os_info(key).product

    assert named("Windows Server 2012 R2 Standard") == "Windows Server 2012 R2"
    assert named("Windows 8.1 Pro") == "Windows 8.1"


def test_a_key_name_holding_two_colons_is_kept() -> None:
    provider = "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\SOFTWARE\\a::b"
    assert normalize_key(provider) == "hklm\\software\\a::b"


@pytest.mark.parametrize(
    ("itype", "build", "product"),
    [
        ("Server", 7600, "Windows Server 2008 R2"),
        ("Server", 7601, "Windows Server 2008 R2"),
        ("Client", 7600, "Windows 7"),
        ("Client", 7601, "Windows 7"),
        ("Client", 7599, "Odd"),
        ("Server", 26100, "Windows Server 2025"),
    ],
)
def test_windows_7_and_2008_r2_are_named_from_their_rtm_build_on(
    itype: str, build: int, product: str
) -> None:
    key = KeyFacts(
        True,
        {
            "CurrentBuild": RegValue("String", str(build)),
            "InstallationType": RegValue("String", itype),
            "ProductName": RegValue("String", "Odd"),
        },
    )
    assert os_info(key).product == product


#: Feature updates by build, as Microsoft names them (docs/windows-facts.md#os-build-numbers).
FEATURE_UPDATES = {
    10240: "1507",
    10586: "1511",
    14393: "1607",
    15063: "1703",
    16299: "1709",
    17134: "1803",
    17763: "1809",
    18362: "1903",
    18363: "1909",
    19041: "2004",
    19042: "20H2",
    19043: "21H1",
    19044: "21H2",
    19045: "22H2",
    22000: "21H2",
    22621: "22H2",
    22631: "23H2",
    26100: "24H2",
}


@pytest.mark.parametrize(("build", "version"), sorted(FEATURE_UPDATES.items()))
def test_a_client_without_a_display_version_is_named_by_its_build(build: int, version: str) -> None:
    key = KeyFacts(
        True,
        {"CurrentBuild": RegValue("String", str(build)), "InstallationType": RegValue("String", "Client")},
    )
    family = "Windows 11" if build >= 22000 else "Windows 10"
    assert os_info(key).display == f"{family} {version} ({build})"


def test_the_build_falls_back_to_current_build_number_and_a_bad_one_is_unknown() -> None:
    def read(**values: str) -> OsInfo:
        return os_info(KeyFacts(True, {k: RegValue("String", v) for k, v in values.items()}))

    assert read(CurrentBuild="x", CurrentBuildNumber=" 9600 ").build == 9600
    assert read(CurrentBuildNumber="9600").build == 9600
    unknown = read(CurrentBuild="x", ProductName="Windows Something")
    assert unknown.build is None and unknown.display == "Windows Something (build unknown)"


def test_only_a_dword_ubr_counts_and_an_empty_value_is_no_text() -> None:
    def read(**values: RegValue) -> OsInfo:
        return os_info(KeyFacts(True, {"CurrentBuild": RegValue("String", "9600"), **values}))

    assert read(UBR=RegValue("DWord", 20000)).display.endswith("(9600.20000)")
    assert (
        read(UBR=RegValue("String", "20000")).ubr is None and read(UBR=RegValue("QWord", 20000)).ubr is None
    )
    assert read(
        ProductName=RegValue("String", None), InstallationType=RegValue("String", "Server")
    ).product == ("Windows Server 2012 R2")
    assert read(ProductName=RegValue("String", None)).product == "Windows 8.1"
    odd = os_info(
        KeyFacts(True, {"CurrentBuild": RegValue("String", "5000"), "ProductName": RegValue("String", None)})
    )
    assert odd.product == "Windows"
