from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.loader import check_inventory, detect_format, load_inventory

from .helpers import write

EXAMPLES = Path(__file__).resolve().parents[3] / "inventory"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("i.yml", "psfleet: 1\nhosts: {h: }\n", "native"),
        ("i.yml", "hosts: {h: }\n", "native"),
        ("i.yml", "host: {h: }\n", "native"),  # a typo still gets native suggestions
        ("i.yml", "all:\n  hosts: {h: }\n", "ansible-yaml"),
        ("i.yml", "windows:\n  hosts: {h: }\n", "ansible-yaml"),
        ("hosts", "h1\nh2\n", "ansible-ini"),
        ("hosts", "[web]\nh1 ansible_port=5985\n", "ansible-ini"),
        ("hosts", "h1 ansible_host=10.0.0.1\n", "ansible-ini"),
        ("inv.ini", "anything: at all\n", "ansible-ini"),
    ],
)
def test_detect_format(name: str, text: str, expected: str) -> None:
    assert detect_format(name, text) == expected


@pytest.mark.parametrize("name", ["example.yml", "ansible-example.ini", "ansible-example.yml"])
def test_shipped_examples_load(name: str) -> None:
    assert check_inventory(EXAMPLES / name) == []
    assert load_inventory(EXAMPLES / name).hosts


def test_check_collects_every_error_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        hosts:
          a: {port: 0}
          b: {auth: nope}
          c: {password: x}
        """,
    )
    errors = check_inventory(path)
    assert [(e.line, e.field) for e in errors] == [
        (2, "hosts.a.port"),
        (3, "hosts.b.auth"),
        (4, "hosts.c.password"),
    ]
    assert all(isinstance(e, InventoryError) and e.exit_code == 2 for e in errors)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(InventoryError, match=r"nope\.yml: file not found$"):
        load_inventory(missing)
    assert [str(e) for e in check_inventory(missing)] == [f"{missing}: file not found"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yml"
    path.write_bytes(b"hosts: {\xff: }\n")
    with pytest.raises(InventoryError, match=r"not UTF-8 text \(byte 8\)"):
        load_inventory(path)


def test_a_file_past_the_size_bound_is_refused_before_parsing(tmp_path: Path) -> None:
    # A wrong path (a log, a core dump) must cost neither memory nor a parse: one line naming it.
    path = tmp_path / "huge.yml"
    with path.open("wb") as f:
        f.write(b"hosts:\n")
        f.truncate(16 * 1024 * 1024 + 1)
    with pytest.raises(InventoryError, match=r"huge\.yml: larger than 16 MiB$"):
        load_inventory(path)


def test_an_endless_stream_is_refused_at_the_bound() -> None:
    with pytest.raises(InventoryError, match=r"/dev/zero: larger than 16 MiB$"):
        load_inventory(Path("/dev/zero"))


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts:\n  h: {port: 1\n")
    (error,) = check_inventory(path)
    assert error.line is not None and str(error).startswith(f"{path}:")
    assert "invalid YAML" in str(error)


def test_control_characters_are_an_inventory_error(tmp_path: Path) -> None:
    path = tmp_path / "ctl.yml"
    path.write_text("hosts: {h\x1f: }\n", encoding="utf-8")
    (error,) = check_inventory(path)
    assert str(error).startswith(f"{path}: invalid YAML:")
    assert "\n" not in str(error)


def test_bracketed_ipv6_host_name_gives_a_bare_address(tmp_path: Path) -> None:
    path = write(tmp_path, 'hosts: {"[fe80::1]": {}, "[": {}}\n')
    assert [h.address for h in load_inventory(path).hosts] == ["fe80::1", "["]
