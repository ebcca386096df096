"""What the audit probe reads from a host, as plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True)
class HostFacts:
    current_version: KeyFacts
    workstation: KeyFacts
    server: KeyFacts
