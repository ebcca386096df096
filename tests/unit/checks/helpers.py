"""Builders for registry facts as a host would report them."""

from __future__ import annotations

from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.checks.osinfo import os_info
from toolkit.results import OsInfo

#: (name, build, installation type, ProductName, EditionID, DisplayVersion, UBR) per docs/windows-facts.md#os-build-numbers.
PROFILES: dict[str, tuple[int, str, str, str, str, int | None]] = {
    "win7": (7601, "Client", "Windows 7 Professional", "Professional", "", None),
    "2008r2": (7601, "Server", "Windows Server 2008 R2 Standard", "ServerStandard", "", None),
    "win8": (9200, "Client", "Windows 8 Pro", "Professional", "", None),
    "2012": (9200, "Server", "Windows Server 2012 Standard", "ServerStandard", "", None),
    "win81": (9600, "Client", "Windows 8.1 Pro", "Professional", "", None),
    "2012r2": (9600, "Server", "Windows Server 2012 R2 Standard", "ServerStandard", "", None),
    "win10_1507": (10240, "Client", "Windows 10 Pro", "Professional", "", 16384),
    "2016": (14393, "Server", "Windows Server 2016 Standard", "ServerStandard", "", 6252),
    "2019": (17763, "Server Core", "Windows Server 2019 Datacenter", "ServerDatacenter", "", 5458),
    "win10_22h2": (19045, "Client", "Windows 10 Enterprise", "Enterprise", "22H2", 4046),
    "2022": (20348, "Server", "Windows Server 2022 Standard", "ServerStandard", "21H2", 2322),
    "win11_21h2": (22000, "Client", "Windows 10 Pro", "Professional", "21H2", 2538),
    "win11_22h2": (22621, "Client", "Windows 10 Enterprise", "Enterprise", "22H2", 3007),
    "win11_23h2": (22631, "Client", "Windows 10 Education", "Education", "23H2", 3007),
    "win11_24h2": (26100, "Client", "Windows 10 Pro", "Professional", "24H2", 1234),
    "win11_24h2_home": (26100, "Client", "Windows 10 Home", "Core", "24H2", 1234),
    "2025": (26100, "Server", "Windows Server 2025 Standard", "ServerStandard", "24H2", 1742),
}


def dword(value: int) -> RegValue:
    return RegValue("DWord", value)


def reg_sz(value: str) -> RegValue:
    return RegValue("String", value)


def current_version(profile: str, *, current_build: str | None = None) -> KeyFacts:
    build, itype, product, edition, display, ubr = PROFILES[profile]
    values: dict[str, RegValue] = {
        "ProductName": reg_sz(product),
        "EditionID": reg_sz(edition),
        "InstallationType": reg_sz(itype),
        "CurrentBuild": reg_sz(current_build if current_build is not None else str(build)),
        "CurrentBuildNumber": reg_sz(str(build)),
        "CurrentVersion": reg_sz("6.1" if build < 9200 else "6.2" if build == 9200 else "6.3"),
    }
    if display:
        values["DisplayVersion"] = reg_sz(display)
    if ubr is not None:
        values["UBR"] = dword(ubr)
    if build >= 10240:
        values["CurrentMajorVersionNumber"] = dword(10)
    return KeyFacts(exists=True, values=values)


def os_for(profile: str) -> OsInfo:
    return os_info(current_version(profile))


def facts(
    profile: str = "2012r2",
    *,
    workstation: dict[str, RegValue] | None = None,
    server: dict[str, RegValue] | None = None,
    workstation_exists: bool = True,
) -> HostFacts:
    return HostFacts(
        current_version=current_version(profile),
        workstation=KeyFacts(workstation_exists, workstation or {}),
        server=KeyFacts(True, server or {}),
    )
