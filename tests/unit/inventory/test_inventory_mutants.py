"""Inventory rules pinned where session 3's sampled mutation run of toolkit/inventory found
them unpinned: a host range of exactly 10,000 hosts is the most allowed (one range or several
in one name), range syntax and padding, a connection plugin named by its full collection
name, a key file readable by others, a group's depth, grandchildren groups under their
grandparent, an unknown key with a control character shown escaped, the re-exported
SkippedHost, a written inventory keeping only a host's non-default policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolkit.inventory.ansible import expand_host_pattern
from toolkit.inventory.ansible_hosts import readable_by_others
from toolkit.inventory.model import Host, Policy
from toolkit.inventory.settings import BadValue, group_depths
from toolkit.inventory.write import host_entry

from .helpers import load


def test_a_range_of_exactly_10000_hosts_is_the_most_allowed() -> None:
    names, _ = expand_host_pattern("fs[1:10000]")
    assert len(names) == 10_000 and names[0] == "fs1" and names[-1] == "fs10000"
    for pattern in ("fs[1:10001]", "fs[0:10000]", "a[1:100]b[1:101]"):
        with pytest.raises(BadValue, match=r"10000|too many hosts"):
            expand_host_pattern(pattern)
    assert len(expand_host_pattern("a[1:100]b[1:100]")[0]) == 10_000


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("fs[1:5:2]", ["fs1", "fs3", "fs5"]),
        ("fs[08:10]", ["fs08", "fs09", "fs10"]),
        ("fs[0:1]", ["fs0", "fs1"]),
        ("fs[a:c]", ["fsa", "fsb", "fsc"]),
        ("fs[1:2]:5986", ["fs1", "fs2"]),
    ],
)
def test_range_syntax_and_padding(pattern: str, names: list[str]) -> None:
    assert expand_host_pattern(pattern)[0] == names


@pytest.mark.parametrize("pattern", ["fs[1]", "fs[1:2:3:4]", "fs[:3]", "fs[1:]", "fs[3:1]"])
def test_malformed_ranges_are_refused(pattern: str) -> None:
    with pytest.raises(BadValue, match="bad range"):
        expand_host_pattern(pattern)


def test_a_connection_plugin_named_by_its_collection_is_that_plugin(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "[files]\nfs01 ansible_connection=ansible.builtin.psrp ansible_psrp_port=15986\n"
        "fs02 ansible_connection=ansible.windows.winrm ansible_winrm_port=15985\n",
        "hosts.ini",
    )
    ports = {h.name: h.transport.effective_port for h in inv.hosts}
    assert ports == {"fs01": 15986, "fs02": 15985}


def test_a_file_is_readable_by_others_only_with_group_or_other_read(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("x", encoding="utf-8")
    os.chmod(path, 0o600)
    assert readable_by_others(str(path)) is False
    os.chmod(path, 0o640)
    assert readable_by_others(str(path)) is True
    os.chmod(path, 0o604)
    assert readable_by_others(str(path)) is True
    assert readable_by_others(str(tmp_path / "missing")) is False


def test_a_groups_depth_is_one_more_than_its_deepest_parent() -> None:
    depths = group_depths({"all": [], "a": ["all"], "b": ["a"], "c": ["b", "all"]})
    assert depths == {"all": 0, "a": 1, "b": 2, "c": 3}


def test_grandchildren_groups_sit_under_their_grandparent(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "[site:children]\nrack\n\n[rack:children]\nshelf\n\n[shelf]\nfs01 ansible_connection=winrm\n\n[site:vars]\nansible_port=15985\n",
        "hosts.ini",
    )
    (host,) = inv.hosts
    assert {"site", "rack", "shelf"} <= set(host.groups)
    assert host.transport.effective_port == 15985


def test_the_loader_re_exports_skipped_host_and_nothing_else() -> None:
    import toolkit.inventory.loader as loader
    from toolkit.inventory.ansible_hosts import SkippedHost

    assert loader.SkippedHost is SkippedHost
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        _ = loader.Nothing


def test_a_written_host_keeps_only_its_non_default_policy() -> None:
    entry = host_entry(Host(name="fs01", address="192.0.2.5", policy=Policy(client_signing="any")))
    policy = entry.get("policy", {})
    assert policy.get("client_signing") == "any"
    assert "server_signing" not in policy and "secure_negotiate" not in policy
    plain = host_entry(Host(name="fs02", address="192.0.2.6"))
    assert not plain.get("policy")
