"""``all`` as a child group is refused, as ansible-core refuses it.

Every group sits under ``all``, so ``[x:children]`` listing ``all`` (or ``children: {all:}``
in YAML, or a chain of children ending in ``all``) is a loop: ``ansible-inventory`` stops with
"Adding group 'x' as child to 'all' creates a recursive dependency loop". The built-in reader
used to load it silently, and x's variables then reached every host; it now says why in one line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.loader import load_inventory

from .helpers import ANSIBLE_INVENTORY, load, needs_ansible, only_error, write

INI_ALL_CHILD = """\
    [x]
    h1 ansible_connection=psrp
    [x:vars]
    psfleet_smb_port=4455
    [x:children]
    all
    [y]
    h2 ansible_connection=psrp
    """

YAML_ALL_CHILD = """\
    x:
      hosts:
        h1:
          ansible_connection: psrp
      vars:
        psfleet_smb_port: 4455
      children:
        all:
    y:
      hosts:
        h2:
          ansible_connection: psrp
    """

REFUSED = "'all' cannot be a child group: every group is already under all (ansible-inventory refuses it too)"

CASES = [
    pytest.param(
        INI_ALL_CHILD,
        "hosts",
        f"{{dir}}/hosts:6: x:children: {REFUSED}",
        id="ini",
    ),
    pytest.param(
        YAML_ALL_CHILD,
        "inv.yml",
        f"{{dir}}/inv.yml:8: x.children.all: {REFUSED}",
        id="yaml",
    ),
    pytest.param(
        "[x]\nh1 ansible_connection=psrp\n[y:children]\nx\n[x:children]\nz\n[z:children]\nall\n",
        "hosts",
        f"{{dir}}/hosts:8: z:children: {REFUSED}",
        id="ini-chain-to-all",
    ),
    pytest.param(
        "all:\n  children:\n    x:\n      hosts:\n        h1:\n          ansible_connection: psrp\n"
        "      children:\n        all:\n",
        "inv.yml",
        f"{{dir}}/inv.yml:8: all.children.x.children.all: {REFUSED}",
        id="yaml-under-all",
    ),
]


@pytest.mark.parametrize(("text", "name", "expected"), CASES)
def test_all_as_a_child_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, name: str, expected: str
) -> None:
    assert only_error(tmp_path, text, name) == expected


def test_all_as_a_child_exits_with_the_inventory_error_code(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(write(tmp_path, INI_ALL_CHILD, "hosts"))
    assert caught.value.exit_code == 2


def test_an_ordinary_children_section_still_loads(tmp_path: Path) -> None:
    inventory = load(
        tmp_path,
        "[x]\nh1 ansible_connection=psrp\n[x:vars]\npsfleet_smb_port=4455\n"
        "[y:children]\nx\n[z]\nh2 ansible_connection=psrp\n",
        "hosts",
    )
    ports = {host.name: host.smb_port for host in inventory.hosts}
    assert ports["h1"] == 4455
    assert ports["h2"] == 445  # x's variables stay with x's hosts: h2 keeps the default


@needs_ansible
@pytest.mark.parametrize(("text", "name"), [(INI_ALL_CHILD, "hosts"), (YAML_ALL_CHILD, "inv.yml")])
def test_ansible_core_refuses_the_same_files(tmp_path: Path, text: str, name: str) -> None:
    assert ANSIBLE_INVENTORY is not None
    path = write(tmp_path, text, name)
    done = subprocess.run(
        [ANSIBLE_INVENTORY, "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"},
    )
    assert done.returncode != 0
    assert "Adding group 'x' as child to 'all' creates a recursive dependency loop" in done.stderr
