"""Survivors of inventory's full mutation run in ansible.py (the built-in Ansible reader),
pinned as a user or a caller of ``read_ansible`` sees them: the 16 MiB bound on each file,
IPv6 host literals, range errors and their limits, INI values and lines (comments, headers,
bad lines), every YAML shape refused with file:line, the files a folder inventory reads and
skips, group_vars folders, group priority, grandchildren groups, ``ungrouped``, and what
``read_ansible`` does with the ``kind``/``data`` its caller found."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.ansible import expand_host_pattern, ini_value, read_ansible
from toolkit.inventory.loader import check_inventory, load_inventory
from toolkit.inventory.settings import BadValue, Problems
from toolkit.inventory.vault_yaml import load_yaml

from .helpers import load, only_error, write

MIB = 1024 * 1024
HOSTS = "[files]\nfs1 ansible_connection=winrm\n"


def _folder(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """An inventory folder holding ``files`` (paths relative to it)."""
    folder = tmp_path / "inv"
    for name, body in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
    return folder


def _errors(folder: Path) -> list[str]:
    return [str(e).replace(str(folder), "{inv}") for e in check_inventory(folder)]


def _one_error(folder: Path) -> str:
    errors = _errors(folder)
    assert len(errors) == 1, errors
    with pytest.raises(InventoryError):
        load_inventory(folder)
    return errors[0]


# --- the 16 MiB bound -------------------------------------------------------------------------


def _padded(size: int) -> str:
    """``HOSTS`` followed by a comment line, ``size`` bytes in all."""
    return HOSTS + "#" + "x" * (size - len(HOSTS) - 2) + "\n"


def test_a_file_of_exactly_16_mib_is_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"hosts": _padded(16 * MIB)})
    assert (folder / "hosts").stat().st_size == 16 * MIB
    assert [h.name for h in load_inventory(folder).hosts] == ["fs1"]


def test_a_file_one_byte_over_16_mib_is_refused(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path, {"hosts": _padded(16 * MIB + 1), "more.ini": "[web]\nweb1 ansible_connection=winrm\n"}
    )
    assert _one_error(folder) == "{inv}/hosts: larger than 16 MiB"


# --- host patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expanded"),
    [("[::1]", (["::1"], None)), ("[fe80::9]:5999", (["fe80::9"], 5999)), ("::1", (["::1"], None))],
)
def test_an_ipv6_literal_stays_whole_with_or_without_a_port(
    pattern: str, expanded: tuple[list[str], int | None]
) -> None:
    assert expand_host_pattern(pattern) == expanded


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("fs[1:]", "bad range [1:]; expected [start:end] or [start:end:step]"),
        ("fs[:3]", "bad range [:3]; expected [start:end] or [start:end:step]"),
        ("fs[1:3:]", "bad range step ''; expected a positive integer"),
        ("fs[1:10001]", "bad range [1:10001]: start after end, or too many hosts"),
    ],
)
def test_range_errors_say_what_is_wrong(pattern: str, message: str) -> None:
    with pytest.raises(BadValue) as caught:
        expand_host_pattern(pattern)
    assert str(caught.value) == message


def test_a_step_divides_the_host_count() -> None:
    names, _ = expand_host_pattern("fs[0:10000:2]")
    assert len(names) == 5001 and names[-1] == "fs10000"


# --- INI --------------------------------------------------------------------------------------


def test_ini_values_that_python_warns_about_are_text_without_a_warning() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert ini_value("0x1for") == "0x1for"
    assert [str(w.message) for w in seen] == []


def test_ini_tuples_and_sets_become_lists(tmp_path: Path) -> None:
    assert ini_value("(1, 2)") == [1, 2]
    assert ini_value("{3}") == [3]
    (host,) = load(tmp_path, 'fs1 ansible_connection=winrm ports="(1, 2)"\n', "hosts.ini").hosts
    assert dict(host.vars)["ports"] == [1, 2]


def test_ini_comments_after_a_header_and_after_a_host_are_ignored(tmp_path: Path) -> None:
    inv = load(tmp_path, "[files]  # the file servers\nfs1 ansible_connection=winrm # primary\n", "hosts.ini")
    assert [(h.name, h.groups) for h in inv.hosts] == [("fs1", ("files",))]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[win:children]\nbad,name\n", "{dir}/hosts.ini:2: win:children: group name 'bad,name' contains"),
        ("fs1 ansible_user='x\n", "{dir}/hosts.ini:1: ungrouped: cannot split the host line: No closing"),
        ("ansible_host=10.0.0.1\n", "{dir}/hosts.ini:1: ungrouped: expected a host name before key=value"),
    ],
)
def test_bad_ini_lines_are_reported_with_file_line_and_section(tmp_path: Path, text: str, error: str) -> None:
    assert only_error(tmp_path, text + HOSTS, "hosts.ini").startswith(error)


# --- YAML shapes ------------------------------------------------------------------------------

WIN = "all:\n  vars:\n    ansible_connection: winrm\n"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            WIN + "  children:\n    'bad name': {}\n",
            "{dir}/inv.yml:5: all.children.bad name: group name 'bad name'",
        ),
        (
            WIN + "  children:\n    web: [a]\n",
            "{dir}/inv.yml:5: all.children.web: expected a mapping with hosts:",
        ),
        (WIN + "  hosts:\n    'fs[2:1]': {}\n", "{dir}/inv.yml:5: all.hosts.fs[2:1]: bad range [2:1]"),
        (
            WIN + "  children: [a, b]\n",
            "{dir}/inv.yml:4: all.children: expected a mapping of group names, got",
        ),
        ("all:\n  vars: [a]\n", "{dir}/inv.yml:2: all.vars: expected a mapping of variables, got"),
        (WIN + "    1: x\n", "{dir}/inv.yml:4: all.vars: a variable name must be a string, got"),
    ],
)
def test_bad_yaml_shapes_are_reported_with_file_line_and_path(tmp_path: Path, text: str, error: str) -> None:
    assert only_error(tmp_path, text).startswith(error)


# --- folders ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"hosts.yml": "- a\n- b\n"}, "{inv}/hosts.yml:1: expected a mapping of groups (all:), got a list"),
        ({"hosts.yml": "all: [\n"}, "{inv}/hosts.yml:"),
        ({"hosts": b"[files]\nfs1 \xff\n"}, "{inv}/hosts: not UTF-8 text (byte 12)"),
        (
            {"inventory.sh": "#!/bin/sh\necho {}\n"},
            "{inv}/inventory.sh:1: inventory script: psfleet does not run it; "
            "read it with --inventory-backend ansible (needs ansible-core)",
        ),
    ],
)
def test_each_file_of_a_folder_is_checked(tmp_path: Path, files: dict[str, str | bytes], error: str) -> None:
    folder = _folder(tmp_path, {**files, "zz.ini": HOSTS})
    assert _one_error(folder).startswith(error)


def test_a_dangling_link_in_a_folder_cannot_be_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"zz.ini": HOSTS})
    os.symlink(tmp_path / "gone", folder / "hosts")
    assert _one_error(folder) == "{inv}/hosts: cannot read: No such file or directory"


def test_a_file_without_a_suffix_may_be_yaml(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"hosts": "all:\n  hosts:\n    fs1:\n      ansible_connection: winrm\n"})
    assert [h.name for h in load_inventory(folder).hosts] == ["fs1"]


def test_a_folder_skips_hidden_files_backups_and_subfolders(tmp_path: Path) -> None:
    bad = "[broken\nthis is not an inventory\n"
    folder = _folder(
        tmp_path,
        {
            "hosts.ini": HOSTS,
            ".draft": bad,
            "hosts.ini.bak": bad,
            "notes.txt": bad,
            "old/hosts": bad,
            "group_vars/files.yml": "ansible_user: LAB\\admin\n",
        },
    )
    inv = load_inventory(folder)
    assert [(h.name, h.username) for h in inv.hosts] == [("fs1", "LAB\\admin")]


def test_a_group_vars_folder_reads_its_yaml_and_plain_files_only(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "hosts.ini": HOSTS,
            "group_vars/files/connection.yml": "ansible_user: LAB\\admin\n",
            "group_vars/files/sub/port": "ansible_port: 5990\n",
            "group_vars/files/.hidden.yml": "ansible_user: [not read\n",
            "group_vars/files/.git/config": "ansible_user: [not read\n",
            "group_vars/files/README.txt": "ansible_user: [not read\n",
        },
    )
    (host,) = load_inventory(folder).hosts
    assert (host.username, host.transport.effective_port) == ("LAB\\admin", 5990)


def test_a_vars_file_that_is_not_a_mapping_is_reported_at_line_1(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"hosts.ini": HOSTS, "group_vars/all.yml": "- a\n"})
    assert _one_error(folder) == "{inv}/group_vars/all.yml:1: expected a mapping of variables, got a list"


def test_a_host_name_with_a_slash_has_no_host_vars(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {
            "hosts.ini": "[files]\nsub/fs1 ansible_connection=winrm ansible_host=10.0.0.1\n",
            "host_vars/sub/fs1.yml": "ansible_port: 5990\n",
        },
    )
    (host,) = load_inventory(folder).hosts
    assert (host.name, host.transport.effective_port) == ("sub/fs1", 5986)


# --- precedence and groups --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priorities", "user"),
    [
        ("[a:vars]\nansible_group_priority=2\n", "a"),  # 2 beats b's default
        ("[a:vars]\nansible_group_priority=1\n", "b"),  # the default is 1: the name decides
    ],
)
def test_a_group_without_a_priority_has_priority_1(tmp_path: Path, priorities: str, user: str) -> None:
    text = (
        "[a]\nfs1 ansible_connection=winrm\n[b]\nfs1\n"
        "[a:vars]\nansible_user=a\n[b:vars]\nansible_user=b\n" + priorities
    )
    (host,) = load(tmp_path, text, "hosts.ini").hosts
    assert host.username == user


def test_a_priority_that_is_not_an_integer_is_reported(tmp_path: Path) -> None:
    text = "[a]\nfs1 ansible_connection=winrm\n[b]\nfs1\n[a:vars]\nansible_group_priority=high\n"
    assert only_error(tmp_path, text, "hosts.ini") == (
        "{dir}/hosts.ini:6: a:vars.ansible_group_priority: expected an integer, got the string 'high'"
    )


def test_a_group_holds_its_grandchildren_hosts(tmp_path: Path) -> None:
    text = "[windows:children]\nservers\n[servers:children]\nfiles\n[files]\nfs1 ansible_connection=winrm\n"
    inv = load(tmp_path, text, "hosts.ini")
    assert inv.groups["windows"] == ("fs1",)
    assert inv.groups["servers"] == ("fs1",)


def test_a_host_listed_before_its_group_is_not_left_in_ungrouped(tmp_path: Path) -> None:
    inv = load(
        tmp_path, "fs1 ansible_connection=winrm\nfs2 ansible_connection=winrm\n[files]\nfs1\n", "hosts.ini"
    )
    assert inv.ansible_groups is not None
    assert inv.ansible_groups["ungrouped"] == ("fs2",)
    assert inv.ansible_groups["files"] == ("fs1",)


# --- read_ansible's kind and data -------------------------------------------------------------

YAML_HOSTS = "all:\n  hosts:\n    fs1:\n      ansible_connection: winrm\n"


def test_read_ansible_reads_the_file_when_not_told_its_kind(tmp_path: Path) -> None:
    problems = Problems("x")
    view = read_ansible(write(tmp_path, YAML_HOSTS), problems)
    assert (list(view.hosts), problems.errors) == (["fs1"], [])


def test_read_ansible_reads_the_file_when_told_only_its_kind(tmp_path: Path) -> None:
    problems = Problems("x")
    view = read_ansible(write(tmp_path, YAML_HOSTS), problems, kind="ansible-yaml")
    assert (list(view.hosts), problems.errors) == (["fs1"], [])


def test_read_ansible_uses_the_data_its_caller_parsed_without_reading_again(tmp_path: Path) -> None:
    path = write(tmp_path, YAML_HOSTS)
    data = load_yaml(path.read_text(encoding="utf-8"), str(path))
    path.unlink()
    problems = Problems(str(path))
    view = read_ansible(path, problems, kind="ansible-yaml", data=data)
    assert (list(view.hosts), problems.errors) == (["fs1"], [])


@pytest.mark.parametrize("priority", ["--5", "²", "1.5"])
def test_a_priority_int_refuses_is_reported_even_if_it_looks_like_digits(
    tmp_path: Path, priority: str
) -> None:
    # ansible-core reads ansible_group_priority with int(): "--5" and "²" fail there too
    text = (
        "all:\n  children:\n    a:\n      hosts:\n        fs1:\n          ansible_connection: winrm\n"
        f"      vars:\n        ansible_group_priority: '{priority}'\n"
    )
    assert only_error(tmp_path, text) == (
        f"{{dir}}/inv.yml:8: all.children.a.vars.ansible_group_priority: expected an integer, got the string '{priority}'"
    )


@pytest.mark.parametrize("priority", ["+3", " 3 ", "-3"])
def test_a_priority_int_reads_is_taken(tmp_path: Path, priority: str) -> None:
    text = (
        "all:\n  children:\n    a:\n      hosts:\n        fs1:\n          ansible_connection: winrm\n"
        f"      vars:\n        ansible_group_priority: '{priority}'\n        ansible_user: a\n"
        "    b:\n      hosts:\n        fs1:\n      vars:\n        ansible_user: b\n"
    )
    (host,) = load(tmp_path, text).hosts
    # b has the default priority 1: a wins with 3, loses with -3
    assert host.username == ("b" if priority.strip() == "-3" else "a")


def test_a_priority_of_0_sorts_before_the_default_1(tmp_path: Path) -> None:
    # z would win by its name at equal priority; with 0 it is merged first and b wins
    text = (
        "[z]\nfs1 ansible_connection=winrm\n[b]\nfs1\n"
        "[z:vars]\nansible_user=z\nansible_group_priority=0\n[b:vars]\nansible_user=b\n"
    )
    (host,) = load(tmp_path, text, "hosts.ini").hosts
    assert host.username == "b"
