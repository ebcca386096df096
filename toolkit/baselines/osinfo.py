"""Which Windows a host runs, from ``HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion``.

The build number decides, not ProductName (which still says "Windows 10" on Windows 11).
CurrentBuild is preferred over CurrentBuildNumber (docs/windows-facts.md#os-windows11-by-build).
"""

from __future__ import annotations

from toolkit.baselines.facts import KeyFacts, RegValue
from toolkit.results import OsInfo

#: First build of each OS generation that matters to the verdicts (docs/windows-facts.md#os-build-numbers).
BUILD_WIN8 = 9200
BUILD_WIN81 = 9600
BUILD_WIN10 = 10240
BUILD_WIN11 = 22000
BUILD_24H2 = 26100

#: Server products by build (docs/windows-facts.md#os-build-numbers). Builds between these (semi-annual channel
#: servers) fall back to the registry's ProductName.
_SERVER_PRODUCTS: dict[int, str] = {
    7600: "Windows Server 2008 R2",
    7601: "Windows Server 2008 R2",
    9200: "Windows Server 2012",
    9600: "Windows Server 2012 R2",
    14393: "Windows Server 2016",
    17763: "Windows Server 2019",
    20348: "Windows Server 2022",
    26100: "Windows Server 2025",
}

#: Feature-update names for Windows 10/11 builds, used when DisplayVersion/ReleaseId is
#: missing (ReleaseId up to 2009, DisplayVersion from 20H2: docs/windows-facts.md#os-currentversion-values).
_CLIENT_VERSIONS: dict[int, str] = {
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


def os_info(current_version: KeyFacts) -> OsInfo:
    """Describe the OS from the CurrentVersion key's values.

    ``product`` is the family name decided by build and installation type ("Windows 11",
    "Windows Server 2012 R2"); ``edition`` is EditionID ("Professional", "Core" = Home);
    ``display`` reads like "Windows 11 24H2 (26100.1234)" or "Windows Server 2012 R2 (9600)"
    (the ``.UBR`` part only when UBR is present). A build that cannot be read gives
    ``build=None`` and the raw ProductName.
    """
    product_name = _text(current_version.value("ProductName"))
    edition = _text(current_version.value("EditionID"))
    installation_type = _text(current_version.value("InstallationType"))
    build = _build(current_version)
    ubr = _dword(current_version.value("UBR"))

    server = _is_server(installation_type, product_name)
    product = _product(build, server=server, product_name=product_name)
    version = ""
    if not server and build is not None and build >= BUILD_WIN10:
        version = (
            _text(current_version.value("DisplayVersion"))
            or _text(current_version.value("ReleaseId"))
            or _CLIENT_VERSIONS.get(build, "")
        )

    if build is None:
        display = f"{product} (build unknown)"
    else:
        number = f"{build}.{ubr}" if ubr is not None else str(build)
        display = f"{product} {version} ({number})" if version else f"{product} ({number})"
    return OsInfo(
        product=product,
        build=build,
        display=display,
        edition=edition,
        installation_type=installation_type,
        ubr=ubr,
    )


def is_server(os: OsInfo) -> bool:
    """True for Server and Server Core installations (InstallationType, else the product)."""
    return _is_server(os.installation_type, os.product)


def is_home_edition(os: OsInfo) -> bool:
    """Windows Home editions have EditionID Core, CoreN, CoreSingleLanguage,
    CoreCountrySpecific (24H2 Home does not require signing: docs/windows-facts.md#signing-defaults-24h2)."""
    return not is_server(os) and os.edition.lower().startswith("core")


def _is_server(installation_type: str, product_name: str) -> bool:
    if installation_type:
        return installation_type.lower().startswith("server")
    return "server" in product_name.lower()


def _product(build: int | None, *, server: bool, product_name: str) -> str:
    if build is None:
        return product_name or "Windows"
    if server:
        return _SERVER_PRODUCTS.get(build) or product_name or "Windows Server"
    if build >= BUILD_WIN11:
        return "Windows 11"
    if build >= BUILD_WIN10:
        return "Windows 10"
    if build >= BUILD_WIN81:
        return "Windows 8.1"
    if build >= BUILD_WIN8:
        return "Windows 8"
    if build in (7600, 7601):
        return "Windows 7"
    return product_name or "Windows"


def _build(key: KeyFacts) -> int | None:
    for name in ("CurrentBuild", "CurrentBuildNumber"):
        value = key.value(name)
        if value.absent:
            continue
        try:
            return int(str(value.value).strip())
        except ValueError:
            continue
    return None


def _text(value: RegValue) -> str:
    if value.absent or value.value is None:
        return ""
    return str(value.value).strip()


def _dword(value: RegValue) -> int | None:
    if value.kind == "DWord" and isinstance(value.value, int):
        return value.value
    return None
