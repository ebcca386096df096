"""Registry model: path forms, kinds, case-insensitivity, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.atomic import write_atomic
from toolkit.lab.registry import Registry, ValueKind, check_data, parse_path

KEY = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"


@pytest.mark.parametrize(
    "text",
    [
        r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters",
        r"hklm:\system\currentcontrolset\services\lanmanworkstation\parameters",
        r"Registry::HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters",
        r"Microsoft.PowerShell.Core\Registry::HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters",
        "HKLM:/SYSTEM/CurrentControlSet/Services/LanmanWorkstation/Parameters/",
        r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters",
    ],
)
def test_every_path_form_names_the_same_key(text: str) -> None:
    reg = parse_path(text)
    assert reg is not None
    assert reg.lookup == KEY.lower()
    assert reg.drive == "HKLM"


@pytest.mark.parametrize("text", [r"C:\Windows", "", r"FOO:\bar", r"Registry::NOPE\x"])
def test_non_registry_paths_are_rejected(text: str) -> None:
    assert parse_path(text) is None


def test_provider_forms_of_a_path() -> None:
    reg = parse_path(r"HKLM:\SOFTWARE\Microsoft")
    assert reg is not None
    assert reg.provider_path == r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft"
    assert reg.ps_path == r"Microsoft.PowerShell.Core\Registry::HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft"
    assert reg.drive_path == r"HKLM:\SOFTWARE\Microsoft"
    assert reg.parent is not None and reg.parent.child_name == "SOFTWARE"


def test_values_are_case_insensitive_and_keep_their_first_spelling() -> None:
    registry = Registry()
    registry.set(KEY, "RequireSecureNegotiate", ValueKind.DWord, 0)
    registry.set(KEY.upper(), "requiresecurenegotiate", "DWord", 1)
    assert registry.get_value(KEY.lower(), "REQUIRESECURENEGOTIATE") == ("DWord", 1)
    assert [v.name for v in registry.values(KEY)] == ["RequireSecureNegotiate"]


def test_setting_a_value_creates_the_key_and_its_parents() -> None:
    registry = Registry()
    registry.set(KEY, "X", ValueKind.String, "1")
    assert registry.key_exists(r"HKLM:\SYSTEM\CurrentControlSet\Services")
    assert "LanmanWorkstation" in registry.subkeys(r"HKLM:\SYSTEM\CurrentControlSet\Services")


def test_delete_reports_whether_the_value_existed() -> None:
    registry = Registry()
    registry.set(KEY, "X", ValueKind.DWord, 1)
    assert registry.delete(KEY, "x") is True
    assert registry.delete(KEY, "x") is False
    assert registry.get_value(KEY, "X") is None


@pytest.mark.parametrize(
    ("kind", "data", "stored"),
    [
        (ValueKind.DWord, 0, 0),
        (ValueKind.DWord, -1, 0xFFFFFFFF),
        (ValueKind.DWord, 0xFFFFFFFF, 0xFFFFFFFF),
        (ValueKind.QWord, -1, 2**64 - 1),
        (ValueKind.String, "0", "0"),
        (ValueKind.ExpandString, "%SystemRoot%", "%SystemRoot%"),
        (ValueKind.MultiString, ("a", "b"), ["a", "b"]),
        (ValueKind.Binary, bytearray(b"\x01\x02"), b"\x01\x02"),
    ],
)
def test_check_data_normalises(kind: ValueKind, data: object, stored: object) -> None:
    assert check_data(kind, data) == stored


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (ValueKind.DWord, "0"),
        (ValueKind.DWord, 2**32),
        (ValueKind.DWord, True),
        (ValueKind.QWord, 2**64),
        (ValueKind.String, 0),
        (ValueKind.MultiString, "a"),
        (ValueKind.MultiString, ["a", 1]),
        (ValueKind.Binary, [1, 2]),
    ],
)
def test_check_data_refuses_what_the_kind_cannot_hold(kind: ValueKind, data: object) -> None:
    with pytest.raises(ValueError):
        check_data(kind, data)


def test_state_file_round_trip_keeps_kinds(tmp_path: Path) -> None:
    state = tmp_path / "host.json"
    registry = Registry(state_file=state)
    registry.set(KEY, "D", ValueKind.DWord, 0xFFFFFFFF)
    registry.set(KEY, "S", ValueKind.String, "0")
    registry.set(KEY, "M", ValueKind.MultiString, ["a"])
    registry.set(KEY, "B", ValueKind.Binary, b"\x00\xff")
    registry.set(KEY, "Q", ValueKind.QWord, 5)
    loaded = Registry.load(state)
    for name in ("D", "S", "M", "B", "Q"):
        assert loaded.get_value(KEY, name) == registry.get_value(KEY, name)
    assert json.loads(state.read_text())["keys"]
    assert [p.name for p in tmp_path.iterdir()] == ["host.json"]  # no temp files left behind


def test_loaded_registry_keeps_persisting(tmp_path: Path) -> None:
    state = tmp_path / "h.json"
    Registry(state_file=state).set(KEY, "A", ValueKind.DWord, 1)
    loaded = Registry.load(state)
    loaded.delete(KEY, "A")
    assert Registry.load(state).get_value(KEY, "A") is None


def test_batched_changes_are_written_once_at_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "h.json"
    registry = Registry(state_file=state)
    writes: list[str] = []

    def counted(path: Path, text: str) -> None:
        writes.append(text)
        write_atomic(path, text)

    monkeypatch.setattr("toolkit.lab.registry.write_atomic", counted)
    registry.set(KEY, "A", ValueKind.DWord, 1)  # a new key and its value: one write
    assert len(writes) == 1
    with registry.batched():
        registry.set(KEY, "B", ValueKind.DWord, 2)
        registry.delete(KEY, "A")
        assert len(writes) == 1
    assert len(writes) == 2
    loaded = Registry.load(state)
    assert loaded.get_value(KEY, "A") is None and loaded.get_value(KEY, "B") == ("DWord", 2)
    with registry.batched():
        registry.delete(KEY, "nope")
    assert len(writes) == 2  # nothing changed, nothing written


def test_kind_names_parse_case_insensitively() -> None:
    assert ValueKind.parse("dword") is ValueKind.DWord
    assert ValueKind.parse("Qword") is ValueKind.QWord
    with pytest.raises(ValueError):
        ValueKind.parse("REG_DWORD")
