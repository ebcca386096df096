"""The native format's rules the full mutation run of toolkit/inventory (1333eb2) found
unpinned in toolkit/inventory/native.py: each malformed section has its own one-line error
naming file, line and field (not a bare "invalid inventory"), group vars refuse host-only
keys, and a host named in a group without settings may get its settings elsewhere, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import load, only_error

SHAPE_ERRORS = [
    ("- a\n- b", "{f}:1: expected a mapping with hosts:, groups: and defaults:, got a list"),
    ("42", "{f}:1: expected a mapping with hosts:, groups: and defaults:, got the number 42"),
    ("defaults: [a]\nhosts: {h: }", "{f}:1: defaults: expected a mapping of settings, got a list"),
    (
        "hosts: {h: }\ngroups:\n  g: {vars: 5985}",
        "{f}:3: groups.g.vars: expected a mapping of settings, got the number 5985",
    ),
    ("defaults: {groups: [a]}\nhosts: {h: }", "{f}:1: defaults.groups: 'groups' can only be set on a host"),
    (
        "hosts: {h: }\ngroups:\n  g: {vars: {meta: {a: 1}}}",
        "{f}:3: groups.g.vars.meta: 'meta' can only be set on a host",
    ),
    (
        "hosts: {h: }\ngroups:\n  g: {vars: {address: 10.0.0.1}}",
        "{f}:3: groups.g.vars.address: 'address' can only be set on a host",
    ),
    ("groups: [a]\nhosts: {h: }", "{f}:1: groups: expected a mapping of group names, got a list"),
    (
        "hosts: {h: }\ngroups:\n  g: [a]",
        "{f}:3: groups.g: expected a mapping with vars:, hosts:, children:, got a list",
    ),
    ("hosts:\n  - {address: 10.0.0.1}", "{f}:2: hosts[0]: a host in a list needs a name: key"),
    ("hosts: 5", "{f}:1: hosts: expected a mapping or list of hosts, got the number 5"),
    ("hosts: fs01", "{f}:1: hosts: expected a mapping or list of hosts, got the string 'fs01'"),
    ("hosts:\n  h: [a]", "{f}:2: hosts.h: expected a mapping of host settings, got a list"),
    ("hosts:\n  h: {meta: 5}", "{f}:2: hosts.h.meta: expected a mapping, got the number 5"),
    ("hosts:\n  h: {groups: 5}", "{f}:2: hosts.h.groups: expected a list of group names, got the number 5"),
    (
        "hosts: {h: }\ngroups:\n  g: {children: [nope]}",
        "{f}:3: groups.g.children[0]: unknown group 'nope'",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), SHAPE_ERRORS, ids=[e[1].split(": ", 1)[-1][:50] for e in SHAPE_ERRORS]
)
def test_a_malformed_section_gets_its_own_error(tmp_path: Path, text: str, expected: str) -> None:
    assert only_error(tmp_path, text + "\n") == expected.replace("{f}", "{dir}/inv.yml")


@pytest.mark.parametrize(
    "mention",
    ["{hosts: {fs01: }}", "{hosts: {fs01: {}}}", "{hosts: [{name: fs01}]}", "{hosts: [fs01]}"],
    ids=["null", "empty-mapping", "list-entry-with-only-a-name", "plain-name"],
)
def test_a_host_named_in_a_group_gets_its_settings_under_hosts(tmp_path: Path, mention: str) -> None:
    inv = load(tmp_path, f"groups:\n  files: {mention}\nhosts:\n  fs01: {{port: 5999}}\n")
    (host,) = inv.hosts
    assert (host.name, host.transport.port, host.groups) == ("fs01", 5999, ("files",))
    assert host.source is not None and host.source.line == 4  # where its settings are
    assert inv.groups == {"files": ("fs01",)}


def test_a_host_with_settings_in_one_group_may_be_named_in_another(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "groups:\n  files: {hosts: {fs01: {port: 5999}}}\n  print: {hosts: {fs01: }}\n"
        "  backup: {hosts: [fs01, {name: fs01}]}\n",
    )
    (host,) = inv.hosts
    assert (host.transport.port, host.groups) == (5999, ("files", "print", "backup"))
    assert host.source is not None and host.source.line == 2


def test_a_host_list_of_plain_names_defines_hosts_without_settings(tmp_path: Path) -> None:
    inv = load(tmp_path, "defaults: {port: 5999}\nhosts: [fs01, fs02]\n")
    assert [(h.name, h.address, h.transport.port) for h in inv.hosts] == [
        ("fs01", "fs01", 5999),
        ("fs02", "fs02", 5999),
    ]
