"""Ansible inventory rules the built-in reader must keep as ansible-core does: a one-host range
``[1:1]``, the plugin's own variables (``ansible_winrm_*``, ``ansible_psrp_*``) above the generic
``ansible_*`` ones, top-level groups as children of ``all`` (so ``all:vars`` is the weakest group
layer, even against a group named "accounting"), and an empty group as a group that exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.ansible import expand_host_pattern
from toolkit.inventory.limit import apply_limit
from toolkit.inventory.model import Inventory
from toolkit.inventory.settings import BadValue

from .helpers import load


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("fs[1:1].lab", ["fs1.lab"]),
        ("fs[01:01]", ["fs01"]),
        ("fs[a:a]", ["fsa"]),
        ("fs[1:2]", ["fs1", "fs2"]),
        ("fs[0:4:4]", ["fs0", "fs4"]),
    ],
)
def test_ranges_include_both_ends_and_a_one_host_range_is_valid(pattern: str, names: list[str]) -> None:
    assert expand_host_pattern(pattern) == (names, None)


def test_a_one_host_range_in_an_ini_inventory(tmp_path: Path) -> None:
    inv = load(tmp_path, "[files]\nfs[7:7].lab ansible_connection=winrm\n", "hosts.ini")
    assert [h.name for h in inv.hosts] == ["fs7.lab"]


@pytest.mark.parametrize("pattern", ["fs[2:1]", "fs[b:a]"])
def test_a_range_that_runs_backwards_is_refused(pattern: str) -> None:
    with pytest.raises(BadValue, match="bad range"):
        expand_host_pattern(pattern)


def _host(tmp_path: Path, line: str) -> tuple[str, str | None, int]:
    inv = load(tmp_path, f"[files]\nfs01 {line}\n", "hosts.ini")
    (host,) = inv.hosts
    return host.address, host.username, host.transport.effective_port


@pytest.mark.parametrize("order", ["generic first", "specific first"])
def test_winrm_variables_outrank_the_generic_ones(tmp_path: Path, order: str) -> None:
    generic = "ansible_host=10.0.0.1 ansible_user=generic ansible_port=5985"
    specific = "ansible_winrm_host=10.0.0.2 ansible_winrm_user=winrm ansible_winrm_port=15985"
    both = f"{generic} {specific}" if order == "generic first" else f"{specific} {generic}"
    assert _host(tmp_path, f"ansible_connection=winrm {both}") == ("10.0.0.2", "winrm", 15985)


@pytest.mark.parametrize("order", ["generic first", "specific first"])
def test_psrp_variables_outrank_the_generic_ones(tmp_path: Path, order: str) -> None:
    generic = "ansible_host=10.0.0.1 ansible_user=generic ansible_port=5985"
    specific = "ansible_psrp_host=10.0.0.3 ansible_psrp_user=psrp ansible_psrp_port=15985"
    both = f"{generic} {specific}" if order == "generic first" else f"{specific} {generic}"
    assert _host(tmp_path, f"ansible_connection=psrp ansible_psrp_protocol=http {both}") == (
        "10.0.0.3",
        "psrp",
        15985,
    )


def test_a_group_beats_all_vars_whatever_its_name(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        [all:vars]
        ansible_connection=winrm
        ansible_user=everyone
        [accounting]
        fs01
        [accounting:vars]
        ansible_user=acct
        [zeta]
        fs02
        [zeta:vars]
        ansible_user=zeta
        [nogroup]
        """,
        "hosts.ini",
    )
    users = {h.name: h.username for h in inv.hosts}
    assert users == {"fs01": "acct", "fs02": "zeta"}


def test_top_level_groups_sit_under_all_like_groups_declared_there(tmp_path: Path) -> None:
    # "aaa" is put under all explicitly, "zzz" is top-level: both are all's children (depth 1),
    # so the name decides and zzz (later) wins, as in ansible-core.
    inv = load(
        tmp_path,
        """\
        [all:children]
        aaa
        [aaa]
        fs01 ansible_connection=winrm
        [aaa:vars]
        ansible_user=from_aaa
        [zzz]
        fs01
        [zzz:vars]
        ansible_user=from_zzz
        """,
        "hosts.ini",
    )
    (host,) = inv.hosts
    assert host.username == "from_zzz"


EMPTY_GROUP = """\
[files]
fs01 ansible_connection=winrm
fs02 ansible_connection=winrm
[retired]
"""


def _inv(tmp_path: Path) -> Inventory:
    return load(tmp_path, EMPTY_GROUP, "hosts.ini")


def test_excluding_an_empty_group_keeps_every_host(tmp_path: Path) -> None:
    inv = _inv(tmp_path)
    assert [h.name for h in apply_limit(inv, ["all:!retired"]).hosts] == ["fs01", "fs02"]
    assert [h.name for h in apply_limit(inv, ["files,retired"]).hosts] == ["fs01", "fs02"]


def test_an_empty_group_alone_leaves_no_host_rather_than_matching_nothing(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        apply_limit(_inv(tmp_path), ["retired"])
    assert "leaves no host" in str(caught.value)
    with pytest.raises(InventoryError) as unknown:
        apply_limit(_inv(tmp_path), ["nosuchgroup"])
    assert "matches no host or group" in str(unknown.value)


def test_hosts_in_no_group_are_ungrouped(tmp_path: Path) -> None:
    inv = load(
        tmp_path, "loose ansible_connection=winrm\n[files]\nfs01 ansible_connection=winrm\n", "hosts.ini"
    )
    assert [h.name for h in apply_limit(inv, ["ungrouped"]).hosts] == ["loose"]


def test_host_vars_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "fs01.yml").write_text("ansible_user: from_host_vars\n", encoding="utf-8")
    inv = load(tmp_path, "[files]\nfs01 ansible_connection=winrm\n", "hosts.ini")
    assert inv.hosts[0].username == "from_host_vars"


def test_ini_values_that_python_would_read_as_bytes_or_complex_stay_text(tmp_path: Path) -> None:
    inv = load(tmp_path, "[files]\nfs01 ansible_connection=winrm ansible_user=1j\n", "hosts.ini")
    assert inv.hosts[0].username == "1j"


def test_yaml_hosts_directly_under_all_are_ungrouped(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        all:
          vars: {ansible_connection: winrm}
          hosts:
            loose:
          children:
            files:
              hosts:
                fs01:
        """,
        "hosts.yml",
    )
    assert [h.name for h in apply_limit(inv, ["ungrouped"]).hosts] == ["loose"]
