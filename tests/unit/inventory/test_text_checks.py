"""Names, addresses and texts with whitespace or control characters are refused with the
character named; the reader leaves the garbage collector as it found it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.loader import check_inventory, load_inventory

from .helpers import only_error, write

CASES = [
    ('hosts: {"fs\\u200301": {}}', "{f}:1: hosts: host name 'fs\\u200301' contains whitespace or a comma"),
    ('hosts: {"fs\\x1c01": {}}', "{f}:1: hosts: host name 'fs\\x1c01' contains whitespace or a comma"),
    ('hosts: {"fs\\x8501": {}}', "{f}:1: hosts: host name 'fs\\x8501' contains whitespace or a comma"),
    ('hosts: {"fs\\x7f01": {}}', "{f}:1: hosts: contains the control character U+007F; remove it"),
    ('hosts: {"fs\\x9f01": {}}', "{f}:1: hosts: contains the control character U+009F; remove it"),
    ('hosts: {"a,b": {}}', "{f}:1: hosts: host name 'a,b' contains whitespace or a comma"),
    (
        'hosts: {h: {address: "10.0\\u00a0.0.1"}}',
        "{f}:1: hosts.h.address: address '10.0\\xa0.0.1' contains whitespace",
    ),
    (
        'hosts: {h: {username: "LAB\\\\adm\\x1bin"}}',
        "{f}:1: hosts.h.username: contains the control character U+001B; remove it",
    ),
    (
        'hosts: {h: {path: "wsman\\x85x"}}',
        "{f}:1: hosts.h.path: contains the control character U+0085; remove it",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_refused_with_the_character_named(tmp_path: Path, text: str, expected: str) -> None:
    assert only_error(tmp_path, text) == expected.format(f="{dir}/inv.yml")


def test_accepted_names_and_addresses(tmp_path: Path) -> None:
    inventory = load_inventory(
        write(tmp_path, 'hosts: {"fs-01.lab": {address: "[fe80::1%eth0]"}, "é1": {}}\n')
    )
    assert [(h.name, h.address) for h in inventory.hosts] == [("fs-01.lab", "fe80::1%eth0"), ("é1", "é1")]


def test_the_garbage_collector_is_restored_after_reading(tmp_path: Path) -> None:
    good = write(tmp_path, "hosts: {h: {}}\n")
    bad = write(tmp_path, "hosts: {h: {port: 0}}\n", "bad.yml")
    assert gc.isenabled()
    load_inventory(good)
    with pytest.raises(InventoryError):
        load_inventory(bad)
    assert check_inventory(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        load_inventory(good)
        assert not gc.isenabled()
    finally:
        gc.enable()
