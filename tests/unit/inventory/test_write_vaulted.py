"""A retry file (``--retry-file``) written for hosts of an Ansible inventory keeps vaulted
values that sit inside a host variable's list or mapping as the ``!vault`` ciphertext they
were (never decrypted), and reads back to the same host variables."""

from __future__ import annotations

from pathlib import Path

from tests.unit.inventory.helpers import load, write
from toolkit.inventory.loader import load_inventory
from toolkit.inventory.vault_yaml import Vaulted
from toolkit.inventory.write import write_inventory

CIPHERTEXT = (
    "$ANSIBLE_VAULT;1.1;AES256\n"
    "38323431376131666635383461333534626335303966373131656537353461623031643862643863\n"
    "6233613433346636616161383262663431303930363430370a386264373862656237323432613030\n"
)
INDENTED = "".join(f"          {line}\n" for line in CIPHERTEXT.splitlines())

ANSIBLE = f"""\
all:
  hosts:
    fs01:
      ansible_connection: psrp
      ansible_user: admin
      ansible_password: secret
      tags:
        - plain
        - !vault |
{INDENTED}      site:
        key: !vault |
{INDENTED.replace("          ", "            ")}        note: !unsafe '{{{{x}}}}'
"""


def test_vaulted_items_in_lists_and_mappings_survive_a_retry_file(tmp_path: Path) -> None:
    host = load(tmp_path, ANSIBLE).hosts[0]
    assert host.vars["tags"] == ["plain", Vaulted(CIPHERTEXT)]
    assert host.vars["site"] == {"key": Vaulted(CIPHERTEXT), "note": "{{x}}"}

    retry = tmp_path / "retry.yml"
    write_inventory([host], retry)
    text = retry.read_text(encoding="utf-8")
    assert "!vault |" in text and "secret" not in text  # ciphertext kept, no password written
    assert load_inventory(retry).hosts[0].vars == host.vars


def test_a_plain_inventory_is_written_as_before(tmp_path: Path) -> None:
    path = write(tmp_path, "psfleet: 1\nhosts:\n  fs01:\n    address: 192.0.2.10\n")
    retry = tmp_path / "retry.yml"
    write_inventory(load_inventory(path).hosts, retry)
    assert "!vault" not in retry.read_text(encoding="utf-8")
    assert load_inventory(retry).hosts[0].address == "192.0.2.10"
