from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory.limit import apply_limit, split_patterns
from toolkit.inventory.model import Inventory

from .helpers import load

TEXT = """\
groups:
  fileservers: {hosts: [fs01, fs02], children: [branch]}
  branch: {hosts: [br01]}
  dcs: {hosts: [dc01]}
hosts:
  dc01: {}
  fs01: {}
  fs02: {}
  br01: {}
  "::1": {}
  loner: {}
"""


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    return load(tmp_path, TEXT)


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["fs01"], ["fs01"]),
        (["fs02", "dc01"], ["dc01", "fs02"]),  # inventory order, not pattern order
        (["fs02,dc01"], ["dc01", "fs02"]),
        (["fs02:dc01"], ["dc01", "fs02"]),
        (["fileservers"], ["fs01", "fs02", "br01"]),  # child group hosts included
        (["f*"], ["fs01", "fs02", "br01"]),  # the glob matches the group fileservers too
        (["fs0?"], ["fs01", "fs02"]),
        (["fileservers:!branch"], ["fs01", "fs02"]),
        (["fileservers", "!fs01"], ["fs02", "br01"]),
        (["!fileservers"], ["dc01", "::1", "loner"]),  # only exclusions: start from all
        (["fileservers:&branch"], ["br01"]),
        (["all:!dcs"], ["fs01", "fs02", "br01", "::1", "loner"]),
        (["*"], ["dc01", "fs01", "fs02", "br01", "::1", "loner"]),
        (["ungrouped"], ["::1", "loner"]),
        (["~^(dc|br)"], ["dc01", "br01"]),
        (["~fs"], ["fs01", "fs02"]),  # matched at the start (re.match), as Ansible
        (["~s0"], None),  # so "s0" in the middle of fs01 matches nothing
        (["fileservers[0]"], ["fs01"]),
        (["fileservers[-1]"], ["br01"]),  # children's hosts come after the group's own
        (["fileservers[1:]"], ["fs02", "br01"]),
        (["fileservers[0:1]"], ["fs01", "fs02"]),
        (["fileservers[0-1]"], ["fs01", "fs02"]),  # Ansible's old inclusive form
        (["fileservers[1:]:&branch"], ["br01"]),
        (["::1"], ["::1"]),
        (["[::1],loner"], ["::1", "loner"]),
        ([], ["dc01", "fs01", "fs02", "br01", "::1", "loner"]),
    ],
)
def test_limit_selects(inv: Inventory, patterns: list[str], expected: list[str] | None) -> None:
    if expected is None:
        with pytest.raises(InventoryError, match="matches no host or group"):
            apply_limit(inv, patterns)
        return
    assert [h.name for h in apply_limit(inv, patterns).hosts] == expected


def test_limit_filters_group_membership(inv: Inventory) -> None:
    limited = apply_limit(inv, ["fs01"])
    assert limited.groups["fileservers"] == ("fs01",)
    assert limited.groups["dcs"] == ()
    assert limited.source == inv.source


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["fs99"], "--limit: 'fs99' matches no host or group in {src}"),
        (["fileservers:!fs9"], "--limit: 'fs9' matches no host or group in {src}"),
        (["nomatch*"], "--limit: 'nomatch*' matches no host or group in {src}"),
        (["dcs:&branch"], "--limit: the limit 'dcs,&branch' leaves no host"),
        (["fs01:!"], "--limit: '!' or '&' must be followed by a pattern"),
        (["~("], "--limit: bad regular expression '~(': missing ), unterminated subpattern at position 0"),
        (["dcs[3]"], "--limit: 'dcs[3]': no host at that position"),
    ],
)
def test_limit_errors(inv: Inventory, patterns: list[str], message: str) -> None:
    with pytest.raises(InventoryError) as caught:
        apply_limit(inv, patterns)
    assert str(caught.value) == message.format(src=inv.source)
    assert caught.value.field == "--limit"


def test_split_patterns_keeps_ipv6() -> None:
    assert split_patterns(["a:b,fe80::1", "!c", "[::1]"]) == ["a", "b", "fe80::1", "!c", "[::1]"]
