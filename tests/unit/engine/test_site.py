"""The inventory's ``site`` setting: host > group > defaults, and psfleet_site in Ansible."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.loader import load_inventory
from toolkit.inventory.write import write_inventory


def test_site_host_beats_group_beats_defaults(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(
        "defaults:\n  site: hq\n"
        "groups:\n  branch:\n    vars: {site: paris}\n    hosts:\n"
        "      a: {address: 127.0.0.1}\n      b: {address: 127.0.0.1, site: lyon}\n"
        "hosts:\n  c: {address: 127.0.0.1}\n"
    )
    sites = {h.name: h.site for h in load_inventory(path).hosts}
    assert sites == {"a": "paris", "b": "lyon", "c": "hq"}


def test_no_site_means_the_controller(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  c: {address: 127.0.0.1}\n")
    assert load_inventory(path).hosts[0].site is None


def test_ansible_variable_psfleet_site(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[branch]\na ansible_host=127.0.0.1 ansible_connection=winrm psfleet_site=paris\n")
    assert load_inventory(path).hosts[0].site == "paris"


def test_bad_site_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  c:\n    address: 127.0.0.1\n    site: 'two words'\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert "inv.yml:4" in str(caught.value) and "site" in str(caught.value)


def test_retry_file_keeps_the_site(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  c: {address: 127.0.0.1, site: lyon}\n")
    out = tmp_path / "retry.yml"
    write_inventory(list(load_inventory(path).hosts), out)
    assert load_inventory(out).hosts[0].site == "lyon"


def test_source_address_must_be_an_ip(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  c:\n    address: 127.0.0.1\n    source_address: jump-host\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert "inv.yml:4" in str(caught.value) and "not an IP address" in str(caught.value)
    path.write_text("hosts:\n  c: {address: 127.0.0.1, source_address: 127.0.21.1}\n")
    assert load_inventory(path).hosts[0].transport.source_address == "127.0.21.1"


def test_lab_allow_from_takes_addresses_and_names_a_bad_one() -> None:
    from toolkit.errors import LabSpecError
    from toolkit.lab.spec import loads_spec

    spec = loads_spec("hosts:\n  - {name: h1, allow_from: [127.0.21.1, '::1']}\n  - {name: h2}\n", "lab.yml")
    assert spec.hosts[0].allow_from == ("127.0.21.1", "::1") and spec.hosts[1].allow_from == ()
    with pytest.raises(LabSpecError) as caught:
        loads_spec("hosts:\n  - {name: h1, allow_from: site-a}\n", "lab.yml")
    assert "lab.yml:2" in str(caught.value) and "not an IP address" in str(caught.value)
