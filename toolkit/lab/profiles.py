"""Windows versions the lab can pretend to be, and the registry each one starts with.

Each profile seeds ``HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion`` (docs/windows-facts.md#os-currentversion-values) and the
LanmanWorkstation / LanmanServer ``Parameters`` keys with the out-of-the-box signing values
(docs/windows-facts.md#signing-defaults-legacy). ``RequireSecureNegotiate`` is absent by default everywhere
(docs/windows-facts.md#rsn-absent-default).

The lab's own choices: UBR numbers are plausible late patch levels, not tied to a date; UBR is
seeded from build 9200 on (Windows 7 / 2008 R2 report CSDVersion instead).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from toolkit.lab.registry import Registry, ValueKind

CURRENT_VERSION_KEY = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"
WORKSTATION_KEY = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters"
SERVER_KEY = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters"
MRXSMB10_KEY = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\mrxsmb10"


@dataclass(frozen=True)
class Profile:
    """One Windows version/edition as the lab models it."""

    name: str
    product_name: str
    edition_id: str
    installation_type: str  # Client / Server
    build: int
    ubr: int | None
    release_id: str | None
    display_version: str | None
    # (EnableSecuritySignature, RequireSecuritySignature) defaults, docs/windows-facts.md#signing-defaults-legacy
    client_signing: tuple[int, int] = (1, 0)
    server_signing: tuple[int, int] = (0, 0)

    @property
    def is_server(self) -> bool:
        return self.installation_type != "Client"

    @property
    def has_smbshare(self) -> bool:
        """The SmbShare module exists from Windows 8 / Server 2012 (docs/windows-facts.md#smbshare-availability)."""
        return self.build >= 9200

    @property
    def current_version(self) -> str:
        if self.build < 9200:
            return "6.1"
        if self.build < 9600:
            return "6.2"
        return "6.3"

    @property
    def has_smbclient_channels(self) -> bool:
        """Microsoft-Windows-SMBClient/* event channels (from build 9200: psfleet's assumption,
        docs/windows-facts.md#smbclient-event-channels)."""
        return self.build >= 9200

    def seed(self, registry: Registry) -> None:
        """Write this profile's default values into ``registry``."""
        for key, values in self.registry_values().items():
            registry.create_key(key)
            for name, (kind, data) in values.items():
                registry.set(key, name, kind, data)

    def registry_values(self) -> dict[str, dict[str, tuple[ValueKind, Any]]]:
        version: dict[str, tuple[ValueKind, Any]] = {
            "SystemRoot": (ValueKind.String, "C:\\Windows"),
            "ProductName": (ValueKind.String, self.product_name),
            "EditionID": (ValueKind.String, self.edition_id),
            "InstallationType": (ValueKind.String, self.installation_type),
            "CurrentVersion": (ValueKind.String, self.current_version),
            "CurrentBuild": (ValueKind.String, str(self.build)),
            "CurrentBuildNumber": (ValueKind.String, str(self.build)),
            "CurrentType": (ValueKind.String, "Multiprocessor Free"),
            "RegisteredOwner": (ValueKind.String, "psfleet lab"),
        }
        if self.build >= 10240:
            version["CurrentMajorVersionNumber"] = (ValueKind.DWord, 10)
            version["CurrentMinorVersionNumber"] = (ValueKind.DWord, 0)
        if self.ubr is not None:
            version["UBR"] = (ValueKind.DWord, self.ubr)
        if self.build == 7601:
            version["CSDVersion"] = (ValueKind.String, "Service Pack 1")
        if self.release_id is not None:
            version["ReleaseId"] = (ValueKind.String, self.release_id)
        if self.display_version is not None:
            version["DisplayVersion"] = (ValueKind.String, self.display_version)
        workstation: dict[str, tuple[ValueKind, Any]] = {
            "EnablePlainTextPassword": (ValueKind.DWord, 0),
            "EnableSecuritySignature": (ValueKind.DWord, self.client_signing[0]),
            "RequireSecuritySignature": (ValueKind.DWord, self.client_signing[1]),
            "ServiceDll": (ValueKind.ExpandString, "%SystemRoot%\\System32\\wkssvc.dll"),
        }
        server: dict[str, tuple[ValueKind, Any]] = {
            "autodisconnect": (ValueKind.DWord, 15),
            "enableforcedlogoff": (ValueKind.DWord, 1),
            "EnableSecuritySignature": (ValueKind.DWord, self.server_signing[0]),
            "RequireSecuritySignature": (ValueKind.DWord, self.server_signing[1]),
            "NullSessionPipes": (ValueKind.MultiString, []),
            "NullSessionShares": (ValueKind.MultiString, []),
            "ServiceDll": (ValueKind.ExpandString, "%SystemRoot%\\system32\\srvsvc.dll"),
            "Guid": (ValueKind.Binary, _guid_bytes(self.name)),
        }
        keys = {CURRENT_VERSION_KEY: version, WORKSTATION_KEY: workstation, SERVER_KEY: server}
        if self.build < 16299:
            # The SMB 1.0 client driver, installed and started automatically before 1709
            # (docs/windows-facts.md#smb1-client-driver); later lab profiles do not have it.
            keys[MRXSMB10_KEY] = {"Start": (ValueKind.DWord, 2)}
        return keys


def _guid_bytes(seed: str) -> bytes:
    raw = seed.encode("utf-8") * 16
    return bytes(raw[:16])


_CLIENT = "Client"
_SERVER = "Server"

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("win7", "Windows 7 Enterprise", "Enterprise", _CLIENT, 7601, None, None, None),
        Profile(
            "server2008r2",
            "Windows Server 2008 R2 Standard",
            "ServerStandard",
            _SERVER,
            7601,
            None,
            None,
            None,
        ),
        Profile("win8", "Windows 8 Enterprise", "Enterprise", _CLIENT, 9200, 24_000, None, None),
        Profile(
            "server2012", "Windows Server 2012 Standard", "ServerStandard", _SERVER, 9200, 24_000, None, None
        ),
        Profile("win81", "Windows 8.1 Enterprise", "Enterprise", _CLIENT, 9600, 21_620, None, None),
        Profile(
            "server2012r2",
            "Windows Server 2012 R2 Standard",
            "ServerStandard",
            _SERVER,
            9600,
            21_620,
            None,
            None,
        ),
        Profile("win10", "Windows 10 Enterprise", "Enterprise", _CLIENT, 19045, 5_371, "2009", "22H2"),
        Profile(
            "server2016",
            "Windows Server 2016 Standard",
            "ServerStandard",
            _SERVER,
            14393,
            7_428,
            "1607",
            None,
        ),
        Profile(
            "server2019",
            "Windows Server 2019 Standard",
            "ServerStandard",
            _SERVER,
            17763,
            6_893,
            "1809",
            None,
        ),
        Profile(
            "server2022",
            "Windows Server 2022 Standard",
            "ServerStandard",
            _SERVER,
            20348,
            2_966,
            "2009",
            "21H2",
        ),
        # Windows 11 keeps "Windows 10" in ProductName (docs/windows-facts.md#os-windows11-by-build).
        Profile("win11-23h2", "Windows 10 Enterprise", "Enterprise", _CLIENT, 22631, 4_890, "2009", "23H2"),
        # 24H2 Enterprise/Pro require signing outbound and inbound (docs/windows-facts.md#signing-defaults-24h2).
        Profile(
            "win11-24h2",
            "Windows 10 Enterprise",
            "Enterprise",
            _CLIENT,
            26100,
            2_894,
            "2009",
            "24H2",
            client_signing=(1, 1),
            server_signing=(1, 1),
        ),
        # Server 2025 requires signing outbound only (docs/windows-facts.md#signing-defaults-24h2).
        Profile(
            "server2025",
            "Windows Server 2025 Standard",
            "ServerStandard",
            _SERVER,
            26100,
            2_894,
            "2009",
            "24H2",
            client_signing=(1, 1),
        ),
    )
}

PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)
MIXED = "mixed"


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (case-insensitive); KeyError if there is none."""
    try:
        return PROFILES[name.lower()]
    except KeyError:
        raise KeyError(name) from None


def mixed(count: int | None = None) -> Iterator[Profile]:
    """Profiles in ``PROFILE_NAMES`` order, round and round (``count`` items, or forever)."""
    cycle = itertools.cycle(PROFILES.values())
    return cycle if count is None else itertools.islice(cycle, count)
