"""OS profiles seed what Windows really has (docs/windows-facts.md#signing-defaults-legacy, #os-currentversion-values)."""

from __future__ import annotations

import pytest

from toolkit.lab.profiles import (
    CURRENT_VERSION_KEY,
    PROFILE_NAMES,
    SERVER_KEY,
    WORKSTATION_KEY,
    get_profile,
    mixed,
)
from toolkit.lab.registry import Registry

# name: (build, ProductName, InstallationType, CurrentVersion, major, ReleaseId, DisplayVersion,
#        client (enable, require), server (enable, require))
CASES = {
    "win7": (7601, "Windows 7 Enterprise", "Client", "6.1", None, None, None, (1, 0), (0, 0)),
    "server2008r2": (
        7601,
        "Windows Server 2008 R2 Standard",
        "Server",
        "6.1",
        None,
        None,
        None,
        (1, 0),
        (0, 0),
    ),
    "win8": (9200, "Windows 8 Enterprise", "Client", "6.2", None, None, None, (1, 0), (0, 0)),
    "server2012": (9200, "Windows Server 2012 Standard", "Server", "6.2", None, None, None, (1, 0), (0, 0)),
    "win81": (9600, "Windows 8.1 Enterprise", "Client", "6.3", None, None, None, (1, 0), (0, 0)),
    "server2012r2": (
        9600,
        "Windows Server 2012 R2 Standard",
        "Server",
        "6.3",
        None,
        None,
        None,
        (1, 0),
        (0, 0),
    ),
    "win10": (19045, "Windows 10 Enterprise", "Client", "6.3", 10, "2009", "22H2", (1, 0), (0, 0)),
    "server2016": (14393, "Windows Server 2016 Standard", "Server", "6.3", 10, "1607", None, (1, 0), (0, 0)),
    "server2019": (17763, "Windows Server 2019 Standard", "Server", "6.3", 10, "1809", None, (1, 0), (0, 0)),
    "server2022": (
        20348,
        "Windows Server 2022 Standard",
        "Server",
        "6.3",
        10,
        "2009",
        "21H2",
        (1, 0),
        (0, 0),
    ),
    "win11-23h2": (22631, "Windows 10 Enterprise", "Client", "6.3", 10, "2009", "23H2", (1, 0), (0, 0)),
    "win11-24h2": (26100, "Windows 10 Enterprise", "Client", "6.3", 10, "2009", "24H2", (1, 1), (1, 1)),
    "server2025": (
        26100,
        "Windows Server 2025 Standard",
        "Server",
        "6.3",
        10,
        "2009",
        "24H2",
        (1, 1),
        (0, 0),
    ),
}


def test_every_profile_has_a_case() -> None:
    assert set(CASES) == set(PROFILE_NAMES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_profile_seeds_windows_values(name: str) -> None:
    build, product, install, version, major, release, display, client, server = CASES[name]
    registry = Registry()
    get_profile(name).seed(registry)
    get = registry.get_value
    assert get(CURRENT_VERSION_KEY, "CurrentBuild") == ("String", str(build))
    assert get(CURRENT_VERSION_KEY, "CurrentBuildNumber") == ("String", str(build))
    assert get(CURRENT_VERSION_KEY, "ProductName") == ("String", product)
    assert get(CURRENT_VERSION_KEY, "InstallationType") == ("String", install)
    assert get(CURRENT_VERSION_KEY, "CurrentVersion") == ("String", version)
    assert get(CURRENT_VERSION_KEY, "CurrentMajorVersionNumber") == (
        None if major is None else ("DWord", major)
    )
    assert get(CURRENT_VERSION_KEY, "ReleaseId") == (None if release is None else ("String", release))
    assert get(CURRENT_VERSION_KEY, "DisplayVersion") == (None if display is None else ("String", display))
    ubr = get(CURRENT_VERSION_KEY, "UBR")
    assert (ubr is None) == (build == 7601)
    assert ubr is None or ubr[0] == "DWord"
    assert get(WORKSTATION_KEY, "EnableSecuritySignature") == ("DWord", client[0])
    assert get(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", client[1])
    assert get(SERVER_KEY, "EnableSecuritySignature") == ("DWord", server[0])
    assert get(SERVER_KEY, "RequireSecuritySignature") == ("DWord", server[1])
    assert (
        get(WORKSTATION_KEY, "RequireSecureNegotiate") is None
    )  # absent = required (docs/windows-facts.md#rsn-absent-default)
    assert get_profile(name).has_smbshare == (build >= 9200)


def test_mixed_cycles_over_all_profiles() -> None:
    names = [p.name for p in mixed(len(PROFILE_NAMES) + 2)]
    assert names[: len(PROFILE_NAMES)] == list(PROFILE_NAMES)
    assert names[-2:] == list(PROFILE_NAMES[:2])


def test_unknown_profile_raises_key_error() -> None:
    with pytest.raises(KeyError):
        get_profile("win95")
    assert get_profile("WIN81").name == "win81"
