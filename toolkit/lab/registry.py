"""The simulated registry: case-insensitive keys holding typed values, optionally on disk.

Data is stored the way the registry stores it, not the way PowerShell shows it: a DWord is an
unsigned 32-bit number (0..0xFFFFFFFF), a QWord an unsigned 64-bit number. The cmdlets convert
on the way out (DWORD 0xFFFFFFFF reads as Int32 -1,
docs/windows-facts.md#registry-read-kinds).

Paths accepted everywhere: ``HKLM:\\X``, ``HKEY_LOCAL_MACHINE\\X``, ``Registry::HKEY_LOCAL_MACHINE\\X``
and ``Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\X`` (forward slashes too).

Persistence: with ``state_file`` set, every change is written at once (temp file +
``os.replace``), so a lab restarted on the same state directory keeps what was changed;
inside :meth:`Registry.batched` the changes are written once, when the block ends.
Not thread-safe on its own: :class:`toolkit.lab.host.SimHost` serializes access.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.atomic import write_atomic

HIVES: dict[str, str] = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
}
_LONG_TO_SHORT = {long.upper(): short for short, long in HIVES.items()}
_PROVIDER_PREFIXES = ("microsoft.powershell.core\\registry::", "registry::")

DWORD_MAX = 0xFFFFFFFF
QWORD_MAX = 0xFFFFFFFFFFFFFFFF


class ValueKind(enum.StrEnum):
    """Microsoft.Win32.RegistryValueKind names (the ones the lab stores)."""

    String = "String"
    ExpandString = "ExpandString"
    Binary = "Binary"
    DWord = "DWord"
    MultiString = "MultiString"
    QWord = "QWord"

    @classmethod
    def parse(cls, text: str) -> ValueKind:
        """Case-insensitive lookup (``dword`` -> DWord); ValueError if unknown."""
        for kind in cls:
            if kind.value.lower() == text.strip().lower():
                return kind
        raise ValueError(f"unknown registry value kind {text!r}")


@dataclass(frozen=True)
class RegPath:
    """A parsed registry path: the hive's long name and the subkey parts as written."""

    hive: str
    parts: tuple[str, ...]

    @property
    def provider_path(self) -> str:
        """``HKEY_LOCAL_MACHINE\\SYSTEM\\...``: what the registry provider names in its messages."""
        return "\\".join((self.hive, *self.parts))

    @property
    def drive(self) -> str:
        return _LONG_TO_SHORT.get(self.hive.upper(), "")

    @property
    def drive_path(self) -> str:
        """``HKLM:\\SYSTEM\\...``."""
        return f"{self.drive}:\\" + "\\".join(self.parts)

    @property
    def ps_path(self) -> str:
        return "Microsoft.PowerShell.Core\\Registry::" + self.provider_path

    @property
    def parent(self) -> RegPath | None:
        if not self.parts:
            return None
        return RegPath(self.hive, self.parts[:-1])

    @property
    def child_name(self) -> str:
        return self.parts[-1] if self.parts else self.hive

    @property
    def lookup(self) -> str:
        return self.provider_path.lower()


def parse_path(path: str) -> RegPath | None:
    """Parse any accepted registry path form; None when it is not a registry path."""
    text = path.strip().replace("/", "\\")
    lowered = text.lower()
    for prefix in _PROVIDER_PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :]
            break
    else:
        drive, sep, rest = text.partition(":")
        if sep and drive.upper() in HIVES:
            text = HIVES[drive.upper()] + "\\" + rest
        elif sep:
            return None
    parts = [p for p in text.split("\\") if p]
    if not parts:
        return None
    hive = parts[0].upper()
    if hive in HIVES:
        hive = HIVES[hive]
    if hive not in _LONG_TO_SHORT:
        return None
    return RegPath(hive, tuple(parts[1:]))


@dataclass(frozen=True)
class RegValue:
    """One value: its name as created, kind and raw data."""

    name: str
    kind: ValueKind
    data: Any


def check_data(kind: ValueKind, data: Any) -> Any:
    """Validate and normalise raw data for ``kind``; ValueError if it cannot be stored."""
    if kind is ValueKind.DWord or kind is ValueKind.QWord:
        limit = DWORD_MAX if kind is ValueKind.DWord else QWORD_MAX
        if isinstance(data, bool) or not isinstance(data, int):
            raise ValueError(f"{kind} data must be an integer")
        value = int(data)
        if value < 0:
            value += limit + 1  # a signed view of the same bits (-1 -> 0xFFFFFFFF)
        if not 0 <= value <= limit:
            raise ValueError(f"{data} does not fit a {kind}")
        return value
    if kind is ValueKind.String or kind is ValueKind.ExpandString:
        if not isinstance(data, str):
            raise ValueError(f"{kind} data must be a string")
        return str(data)
    if kind is ValueKind.MultiString:
        if isinstance(data, str) or not isinstance(data, list | tuple):
            raise ValueError("MultiString data must be a list of strings")
        if not all(isinstance(item, str) for item in data):
            raise ValueError("MultiString data must be a list of strings")
        return [str(item) for item in data]
    if not isinstance(data, bytes | bytearray):
        raise ValueError("Binary data must be bytes")
    return bytes(data)


class _Key:
    __slots__ = ("path", "values")

    def __init__(self, path: RegPath) -> None:
        self.path = path  # as created: its case is the one Windows shows
        self.values: dict[str, RegValue] = {}


class Registry:
    """An in-memory registry, saved to ``state_file`` after every change when one is given."""

    def __init__(self, *, state_file: str | Path | None = None) -> None:
        self._keys: dict[str, _Key] = {}
        self._state_file = Path(state_file) if state_file is not None else None
        self._batching = False
        self._unsaved = False

    # -- reading ---------------------------------------------------------------------------
    def key_exists(self, path: str | RegPath) -> bool:
        reg = _as_path(path)
        return reg is not None and (not reg.parts or reg.lookup in self._keys)

    def key_name(self, path: str | RegPath) -> RegPath | None:
        """The key's path with the case it was created with; None if it does not exist."""
        reg = _as_path(path)
        if reg is None or not self.key_exists(reg):
            return None
        if not reg.parts:
            return reg
        return self._keys[reg.lookup].path

    def values(self, path: str | RegPath) -> list[RegValue]:
        """All values of a key in creation order (empty if the key does not exist)."""
        reg = _as_path(path)
        key = self._keys.get(reg.lookup) if reg is not None else None
        return list(key.values.values()) if key is not None else []

    def get(self, path: str | RegPath, name: str) -> RegValue | None:
        reg = _as_path(path)
        key = self._keys.get(reg.lookup) if reg is not None else None
        if key is None:
            return None
        return key.values.get(name.lower())

    def get_value(self, path: str, name: str) -> tuple[str, Any] | None:
        """``(kind, data)`` of a value, e.g. ``("DWord", 0)``; None if key or value is missing.

        For tests and benchmarks that check the lab's state directly.
        """
        value = self.get(path, name)
        return None if value is None else (value.kind.value, value.data)

    def subkeys(self, path: str | RegPath) -> list[str]:
        reg = _as_path(path)
        if reg is None:
            return []
        prefix = reg.lookup + "\\"
        depth = len(reg.parts) + 1
        return [
            key.path.child_name
            for lookup, key in self._keys.items()
            if lookup.startswith(prefix) and lookup.count("\\") == depth
        ]

    # -- writing ---------------------------------------------------------------------------
    def create_key(self, path: str | RegPath) -> RegPath:
        """Create a key and its missing parents; returns its (existing-case) path."""
        reg = _require_path(path)
        if self._add_key(reg):
            self._save()
        found = self.key_name(reg)
        assert found is not None
        return found

    def _add_key(self, reg: RegPath) -> bool:
        """Add ``reg`` and its missing parents without saving; False if it already existed."""
        if reg.lookup in self._keys:
            return False
        for depth in range(1, len(reg.parts) + 1):
            partial = RegPath(reg.hive, reg.parts[:depth])
            if partial.lookup not in self._keys:
                self._keys[partial.lookup] = _Key(partial)
        return True

    def set(self, path: str | RegPath, name: str, kind: ValueKind | str, data: Any) -> None:
        """Set a value (creating the key if needed). ValueError if the data does not fit ``kind``."""
        reg = _require_path(path)
        value_kind = kind if isinstance(kind, ValueKind) else ValueKind.parse(kind)
        stored = check_data(value_kind, data)
        self._add_key(reg)
        key = self._keys[reg.lookup]
        existing = key.values.get(name.lower())
        key.values[name.lower()] = RegValue(existing.name if existing else name, value_kind, stored)
        self._save()

    def delete(self, path: str | RegPath, name: str) -> bool:
        """Delete a value; False if it was not there."""
        reg = _require_path(path)
        key = self._keys.get(reg.lookup)
        if key is None or key.values.pop(name.lower(), None) is None:
            return False
        self._save()
        return True

    # -- persistence -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "keys": {
                key.path.provider_path: {value.name: _encode(value) for value in key.values.values()}
                for key in self._keys.values()
            }
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, state_file: str | Path | None = None) -> Registry:
        registry = cls()
        for key_name, values in data.get("keys", {}).items():
            registry.create_key(key_name)
            for value_name, encoded in values.items():
                kind = ValueKind.parse(encoded["kind"])
                registry.set(key_name, value_name, kind, _decode(kind, encoded["data"]))
        registry._state_file = Path(state_file) if state_file is not None else None
        return registry

    @classmethod
    def load(cls, state_file: str | Path) -> Registry:
        with open(state_file, encoding="utf-8") as fh:
            return cls.from_json(json.load(fh), state_file=state_file)

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Write the state file once, when the block ends, rather than after every change.

        :class:`~toolkit.lab.host.SimHost` runs each pipeline inside one, so a request's writes
        cost one file write, still made before the lab answers. Not reentrant.
        """
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            if self._unsaved:
                self._save()

    def _save(self) -> None:
        if self._state_file is None:
            return
        if self._batching:
            self._unsaved = True
            return
        self._unsaved = False
        target = self._state_file
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps(self.to_json(), indent=1, sort_keys=True))

    def attach(self, state_file: str | Path) -> None:
        """Start persisting to ``state_file`` (and write the current state now)."""
        self._state_file = Path(state_file)
        self._save()


def _as_path(path: str | RegPath) -> RegPath | None:
    return path if isinstance(path, RegPath) else parse_path(path)


def _require_path(path: str | RegPath) -> RegPath:
    reg = _as_path(path)
    if reg is None or not reg.parts:
        raise ValueError(f"not a registry key path: {path!r}")
    return reg


def _encode(value: RegValue) -> dict[str, Any]:
    data = value.data
    if value.kind is ValueKind.Binary:
        data = base64.b64encode(data).decode("ascii")
    return {"kind": value.kind.value, "data": data}


def _decode(kind: ValueKind, data: Any) -> Any:
    if kind is ValueKind.Binary:
        return base64.b64decode(data)
    return data
