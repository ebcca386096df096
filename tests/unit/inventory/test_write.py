from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from toolkit.inventory.loader import load_inventory
from toolkit.inventory.model import Host, PasswordSource
from toolkit.inventory.write import write_inventory

from .helpers import load, write

EXAMPLES = Path(__file__).resolve().parents[3] / "inventory"


def _without_source(hosts: tuple[Host, ...]) -> list[Host]:
    return [replace(h, source=None) for h in hosts]


@pytest.mark.parametrize("name", ["example.yml", "ansible-example.ini", "ansible-example.yml"])
def test_round_trip_keeps_every_setting(tmp_path: Path, name: str) -> None:
    inv = load_inventory(EXAMPLES / name)
    target = tmp_path / "retry.yml"
    write_inventory(inv.hosts, target)
    again = load_inventory(target)
    assert _without_source(again.hosts) == _without_source(inv.hosts)
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_subset_and_groups(tmp_path: Path) -> None:
    inv = load(tmp_path, "groups: {g: {hosts: [a, b]}}\nhosts: {a: {}, b: {}, c: {}}\n")
    target = tmp_path / "retry.yml"
    write_inventory([inv.hosts[1]], target)
    again = load_inventory(target)
    assert [h.name for h in again.hosts] == ["b"]
    assert again.groups == {"g": ("b",)}


def test_never_writes_a_password_only_its_source(tmp_path: Path) -> None:
    h = Host("h", "10.0.0.1", username="u", password=PasswordSource("env", "WIN_PW"))
    target = tmp_path / "retry.yml"
    write_inventory([h], target)
    text = target.read_text(encoding="utf-8")
    assert "password_env: WIN_PW" in text
    assert "password:" not in text


def test_replaces_atomically_and_cleans_up_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path, "old\n", "retry.yml")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_inventory([Host("h", "h")], target)
    assert target.read_text(encoding="utf-8") == "old\n"
    assert list(tmp_path.iterdir()) == [target]
