"""What the audit probe reads from a host, as plain data."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from toolkit.errors import PsfleetError
from toolkit.results import ErrorKind

#: Registry value kinds as PowerShell's -Type names them. Over PSRP String and ExpandString
#: both arrive as String, so the probe reports them as "String".
RegKind = Literal["DWord", "QWord", "String", "ExpandString", "MultiString", "Binary", "Unknown"]

CURRENT_VERSION_KEY = r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
WORKSTATION_KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SERVER_KEY = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"


@dataclass(frozen=True)
class RegValue:
    """A registry value and its kind; ``kind`` None means the value is absent."""

    kind: RegKind | None
    value: Any = None

    @property
    def absent(self) -> bool:
        return self.kind is None

    def describe(self) -> str:
        if self.kind is None:
            return "absent"
        return f"{self.value!r} ({self.kind})" if self.kind != "DWord" else f"{self.value} (DWord)"


ABSENT = RegValue(None)


@dataclass(frozen=True)
class KeyFacts:
    """The values of one registry key; ``exists`` False when the key itself is missing."""

    exists: bool
    values: Mapping[str, RegValue] = field(default_factory=dict)

    def value(self, name: str) -> RegValue:
        # The registry is case-insensitive for value names.
        for k, v in self.values.items():
            if k.lower() == name.lower():
                return v
        return ABSENT


@functools.lru_cache(maxsize=1024)
def normalize_key(path: str) -> str:
    """``Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\X``, ``HKLM:\\X`` and
    ``HKEY_LOCAL_MACHINE\\X`` all become ``hklm\\x`` (registry paths are case-insensitive)."""
    text = path.strip().split("::", 1)[-1].replace("/", "\\").rstrip("\\").lower()
    for prefix in ("hkey_local_machine", "hklm:", "hklm"):
        if text.startswith(prefix):
            return "hklm" + text[len(prefix) :]
    return text


@dataclass(frozen=True)
class HostFacts:
    """The keys the probe read. ``workstation`` and ``server`` are the LanmanWorkstation and
    LanmanServer parameters; ``keys`` holds any other key a baseline reads, by path."""

    current_version: KeyFacts
    workstation: KeyFacts
    server: KeyFacts
    keys: Mapping[str, KeyFacts] = field(default_factory=dict)

    def key(self, path: str) -> KeyFacts:
        """The facts of the key at ``path`` (missing when it was not read)."""
        wanted = normalize_key(path)
        if wanted == _WORKSTATION:
            return self.workstation
        if wanted == _SERVER:
            return self.server
        if wanted == _CURRENT_VERSION:
            return self.current_version
        for key, facts in self.keys.items():
            if normalize_key(key) == wanted:
                return facts
        return KeyFacts(exists=False)

    def with_key(self, path: str, facts: KeyFacts) -> HostFacts:
        """These facts with the key at ``path`` replaced."""
        wanted = normalize_key(path)
        if wanted == _WORKSTATION:
            return replace(self, workstation=facts)
        if wanted == _SERVER:
            return replace(self, server=facts)
        if wanted == _CURRENT_VERSION:
            return replace(self, current_version=facts)
        keys = {k: v for k, v in self.keys.items() if normalize_key(k) != wanted}
        keys[path] = facts
        return replace(self, keys=keys)


_WORKSTATION = normalize_key(WORKSTATION_KEY)
_SERVER = normalize_key(SERVER_KEY)
_CURRENT_VERSION = normalize_key(CURRENT_VERSION_KEY)


class ProbeError(PsfleetError):
    """The probe's answer cannot be turned into facts (no CurrentVersion, objects that do not
    belong to any key, unexpected errors). The caller reports the host as ``kind``:
    ``protocol_error`` for garbage, ``access_denied`` when a key could not be read for lack
    of rights."""

    def __init__(self, message: str, *, kind: ErrorKind = ErrorKind.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
