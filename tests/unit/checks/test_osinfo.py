from __future__ import annotations

import pytest

from toolkit.checks.facts import KeyFacts, RegValue
from toolkit.checks.osinfo import is_home_edition, is_server, os_info

from .helpers import PROFILES, current_version, os_for

# profile -> (product, display)
CASES = {
    "win7": ("Windows 7", "Windows 7 (7601)"),
    "2008r2": ("Windows Server 2008 R2", "Windows Server 2008 R2 (7601)"),
    "win8": ("Windows 8", "Windows 8 (9200)"),
    "2012": ("Windows Server 2012", "Windows Server 2012 (9200)"),
    "win81": ("Windows 8.1", "Windows 8.1 (9600)"),
    "2012r2": ("Windows Server 2012 R2", "Windows Server 2012 R2 (9600)"),
    "win10_1507": ("Windows 10", "Windows 10 1507 (10240.16384)"),
    "2016": ("Windows Server 2016", "Windows Server 2016 (14393.6252)"),
    "2019": ("Windows Server 2019", "Windows Server 2019 (17763.5458)"),
    "win10_22h2": ("Windows 10", "Windows 10 22H2 (19045.4046)"),
    "2022": ("Windows Server 2022", "Windows Server 2022 (20348.2322)"),
    "win11_21h2": ("Windows 11", "Windows 11 21H2 (22000.2538)"),
    "win11_22h2": ("Windows 11", "Windows 11 22H2 (22621.3007)"),
    "win11_23h2": ("Windows 11", "Windows 11 23H2 (22631.3007)"),
    "win11_24h2": ("Windows 11", "Windows 11 24H2 (26100.1234)"),
    "win11_24h2_home": ("Windows 11", "Windows 11 24H2 (26100.1234)"),
    "2025": ("Windows Server 2025", "Windows Server 2025 (26100.1742)"),
}


def test_every_profile_has_a_case() -> None:
    assert set(CASES) == set(PROFILES)


@pytest.mark.parametrize("profile", sorted(CASES))
def test_profile(profile: str) -> None:
    info = os_for(profile)
    product, display = CASES[profile]
    assert info.product == product
    assert info.display == display
    assert info.build == PROFILES[profile][0]
    assert is_server(info) == ("Server" in product)


def test_windows_11_decided_by_build_although_product_name_says_10() -> None:
    info = os_for("win11_22h2")
    assert info.product == "Windows 11"
    assert "Windows 10" not in info.display


def test_current_build_preferred_over_current_build_number() -> None:
    info = os_info(current_version("win10_22h2", current_build="22631"))
    assert info.build == 22631
    assert info.product == "Windows 11"


def test_falls_back_to_current_build_number() -> None:
    key = KeyFacts(
        True,
        {
            "ProductName": RegValue("String", "Windows 8.1 Pro"),
            "CurrentBuildNumber": RegValue("String", "9600"),
        },
    )
    info = os_info(key)
    assert info.build == 9600
    assert info.display == "Windows 8.1 (9600)"


def test_client_version_from_build_when_display_version_missing() -> None:
    key = KeyFacts(
        True, {"InstallationType": RegValue("String", "Client"), "CurrentBuild": RegValue("String", "26100")}
    )
    assert os_info(key).display == "Windows 11 24H2 (26100)"


def test_release_id_used_before_display_version_existed() -> None:
    key = KeyFacts(
        True,
        {
            "InstallationType": RegValue("String", "Client"),
            "CurrentBuild": RegValue("String", "18363"),
            "ReleaseId": RegValue("String", "1909"),
        },
    )
    assert os_info(key).display == "Windows 10 1909 (18363)"


def test_unreadable_build_keeps_product_name() -> None:
    key = KeyFacts(
        True, {"ProductName": RegValue("String", "Windows 10 Pro"), "CurrentBuild": RegValue("String", "abc")}
    )
    info = os_info(key)
    assert info.build is None
    assert info.display == "Windows 10 Pro (build unknown)"


def test_unknown_server_build_uses_product_name() -> None:
    key = KeyFacts(
        True,
        {
            "ProductName": RegValue("String", "Windows Server Datacenter"),
            "InstallationType": RegValue("String", "Server Core"),
            "CurrentBuild": RegValue("String", "19042"),
        },
    )
    info = os_info(key)
    assert info.product == "Windows Server Datacenter"
    assert is_server(info)


def test_home_edition_detected_only_on_clients() -> None:
    assert is_home_edition(os_for("win11_24h2_home"))
    assert not is_home_edition(os_for("win11_24h2"))
    assert not is_home_edition(os_for("2025"))
