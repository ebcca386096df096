"""Setting checks the full mutation run of toolkit/inventory (1333eb2) found unpinned in
toolkit/inventory/settings.py, as an inventory's author sees them: how a wrong value is
described, each value check's edges (sizes, timeouts, names, addresses, sites, paths,
``ssl``), Ansible's lenient strings, ``baselines:`` and the policies of baseline checks
(until now only tested under tests/unit/baselines, which the inventory mutants do not run),
errors in line order, and a group lattice walked once per group."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.baselines import TINY_BASELINE
from toolkit.inventory.settings import Problems, creates_cycle

from .helpers import load, only_error

FORTY = "a" * 40


ERRORS = [
    # a key's control character shown escaped in the field, as in the message
    (
        'hosts: {h: {"po\\x01rt": 1}}',
        "{f}:1: hosts.h.po\\x01rt: unknown key 'po\\x01rt' (did you mean 'port'?)",
    ),
    # how the wrong value is described
    ("hosts: {h: {port: }}", "{f}:1: hosts.h.port: expected a port number, got nothing"),
    ("hosts: {h: {port: 1.5}}", "{f}:1: hosts.h.port: expected a port number, got the number 1.5"),
    ("hosts: {h: {port: {a: 1}}}", "{f}:1: hosts.h.port: expected a port number, got a mapping"),
    ("hosts: {h: {port: 2024-01-01}}", "{f}:1: hosts.h.port: expected a port number, got date"),
    (
        f"hosts: {{h: {{auth: {FORTY}}}}}",
        f"{{f}}:1: hosts.h.auth: must be one of negotiate, ntlm, kerberos, credssp, basic, certificate; got the string '{FORTY}'",
    ),
    (
        f"hosts: {{h: {{auth: {FORTY}b}}}}",
        f"{{f}}:1: hosts.h.auth: must be one of negotiate, ntlm, kerberos, credssp, basic, certificate; got the string '{'a' * 37}...'",
    ),
    # value checks
    ("hosts: {h: {username: 5}}", "{f}:1: hosts.h.username: expected a string, got the number 5"),
    (
        "hosts: {h: {max_response: 65535}}",
        "{f}:1: hosts.h.max_response: must be at least 65536 bytes, got 65535",
    ),
    (
        'hosts: {h: {max_response: "100000"}}',
        "{f}:1: hosts.h.max_response: expected a size in bytes, got the string '100000'",
    ),
    (
        "hosts: {h: {max_response: true}}",
        "{f}:1: hosts.h.max_response: expected a size in bytes, got the boolean true",
    ),
    (
        "hosts: {h: {operation_timeout: true}}",
        "{f}:1: hosts.h.operation_timeout: expected a number of seconds, got the boolean true",
    ),
    (
        "hosts: {h: {operation_timeout: 30, read_timeout: 30}}",
        "{f}:1: hosts.h.read_timeout: read_timeout (30) must be greater than operation_timeout (30); pypsrp requires it",
    ),
    ("hosts: {true: {}}", "{f}:1: hosts: a host name must be a string, got the boolean true"),
    (
        "hosts:\n  h: {address: [fe80::1]}",
        '{f}:2: hosts.h.address: quote IPv6 addresses, for example address: "[::1]"',
    ),
    ("hosts:\n  h: {address: [fs01, fs02]}", "{f}:2: hosts.h.address: expected a string, got a list"),
    ('hosts: {h: {address: "[fs01]"}}', "{f}:1: hosts.h.address: '[fs01]' is not a bracketed IPv6 address"),
    (
        'hosts: {h: {site: "a/b"}}',
        "{f}:1: hosts.h.site: site 'a/b': letters, digits, '.', '_' and '-' only, at most 63",
    ),
    ("hosts: {h: {source_address: fs01}}", "{f}:1: hosts.h.source_address: 'fs01' is not an IP address"),
    (
        "hosts: {h: {scheme: http, ssl: true}}",
        "{f}:1: hosts.h.ssl: contradicts scheme: http (line 1); set only one",
    ),
    # baselines: and the policies of baseline checks
    (
        "hosts: {h: {policy: {smb1_server: sometimes}}}",
        "{f}:1: hosts.h.policy.smb1_server: must be one of disabled, enabled, any; got the string 'sometimes'",
    ),
    (
        "hosts: {h: {baselines: []}}",
        "{f}:1: hosts.h.baselines: expected a list of baseline names or files, got a list",
    ),
    (
        "hosts: {h: {baselines: 5}}",
        "{f}:1: hosts.h.baselines: expected a list of baseline names or files, got the number 5",
    ),
    (
        "hosts: {h: {baselines: [5]}}",
        "{f}:1: hosts.h.baselines: expected a baseline name or file, got the number 5",
    ),
    (
        'hosts: {h: {baselines: [smb-hardening, " "]}}',
        "{f}:1: hosts.h.baselines: expected a baseline name or file, got the string ' '",
    ),
    (
        "hosts: {h: {baselines: [missing.yaml]}}",
        "{f}:1: hosts.h.baselines: baseline 'missing.yaml': {dir}/missing.yaml: file not found",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS, ids=[e[1].split(": ", 2)[-1][:50] for e in ERRORS])
def test_a_wrong_value_gets_a_one_line_error_saying_what_it_got(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert only_error(tmp_path, text + "\n") == expected.replace("{f}", "{dir}/inv.yml")


def test_values_at_the_edges_are_taken_as_written(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        hosts:
          fs01:
            max_response: 65536
            connection_timeout: 0.5
            site: lab-1
            source_address: "fe80:0::1"
            path: /psrp/
            scheme: https
            ssl: true
            meta: {tags: [a, b], nested: [[1]]}
          fs02: {address: a, path: /, max_response: 4194305, operation_timeout: 30, read_timeout: 30.5}
          "[fe80::2]": {}
          fs03: {address: "[fe80::1"}
          5: {}
        """,
    )
    fs01, fs02, bracketed, fs03, five = inv.hosts
    t = fs01.transport
    assert (t.max_response, t.connection_timeout, t.source_address, t.path, t.scheme) == (
        65536,
        0.5,
        "fe80::1",
        "psrp",
        "https",
    )
    assert fs01.site == "lab-1"
    assert dict(fs01.vars) == {"tags": ["a", "b"], "nested": [[1]]}
    assert (fs02.address, fs02.transport.path, fs02.transport.max_response) == ("a", "wsman", 4194305)
    assert fs02.transport.read_timeout == 30.5
    assert bracketed.address == "fe80::2"
    # only a text both opening and closing with a bracket is unwrapped: no other address made up
    assert fs03.address == "[fe80::1"
    assert (five.name, five.address) == ("5", "5")


def test_ansible_values_are_lenient_strings_but_not_lists_or_booleans(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "h1 ansible_connection=psrp ansible_psrp_negotiate_delegate=yes\n"
        "h2 ansible_connection=psrp ansible_psrp_negotiate_delegate=No\n",
        "hosts.ini",
    )
    assert [h.transport.negotiate_delegate for h in inv.hosts] == [True, False]
    (host,) = load(
        tmp_path,
        'all:\n  hosts:\n    h1: {ansible_connection: psrp, ansible_user: 5, psfleet_max_response: "100000"}\n',
        "hosts.yml",
    ).hosts
    assert (host.username, host.transport.max_response) == ("5", 100000)
    for value, got in (("[admin]", "a list"), ("true", "the boolean true")):
        text = f"all:\n  hosts:\n    h1: {{ansible_connection: psrp, ansible_user: {value}}}\n"
        error = only_error(tmp_path, text, "hosts.yml")
        assert error == f"{{dir}}/hosts.yml:3: all.hosts.h1.ansible_user: expected a string, got {got}"


def test_baselines_by_name_or_file_and_the_policies_of_their_checks(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY_BASELINE, encoding="utf-8")
    inv = load(
        tmp_path,
        """\
        hosts:
          a: {baselines: smb-hardening, policy: {smb1_server: enabled}}
          b: {baselines: [smb-validate-negotiate, tiny.yaml], policy: {one: any}}
        """,
    )
    a, b = inv.hosts
    assert (a.baselines, a.policy.checks) == (("smb-hardening",), {"smb1_server": "enabled"})
    assert (b.baselines, b.policy.checks) == (
        ("smb-validate-negotiate", str(tmp_path / "tiny.yaml")),
        {"one": "any"},
    )


def test_errors_come_in_line_order_those_without_a_line_first() -> None:
    problems = Problems("inv.yml")
    problems.add("third", 9, "c")
    problems.add("first", 1, "a")
    problems.add("no line", None, None)
    problems.add("second", 5, "b")
    assert [(e.line, e.message) for e in problems.errors] == [
        (None, "no line"),
        (1, "first"),
        (5, "second"),
        (9, "third"),
    ]


class _CountingParents(Mapping[str, list[str]]):
    """A group graph that counts whose parents are looked up, by ``[key]`` or ``.get``
    (Mapping's ``get`` goes through ``__getitem__``)."""

    def __init__(self, parents: dict[str, list[str]]) -> None:
        self._parents = parents
        self.asked: list[str] = []

    def __getitem__(self, key: str) -> list[str]:
        self.asked.append(key)
        return self._parents[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parents)

    def __len__(self) -> int:
        return len(self._parents)


def test_a_cycle_check_walks_each_group_once_in_a_lattice(tmp_path: Path) -> None:
    # 20 layers of two groups, each the child of both groups above it: 2**20 paths to the top
    parents: dict[str, list[str]] = {"l0a": [], "l0b": []}
    for level in range(1, 21):
        for side in "ab":
            parents[f"l{level}{side}"] = [f"l{level - 1}a", f"l{level - 1}b"]
    counting = _CountingParents(parents)
    assert creates_cycle("l20a", "l0a", counting)  # l0a is above l20a
    assert not creates_cycle("l20a", "other", counting)
    assert 0 < len(counting.asked) <= 2 * len(parents)
    # the same lattice in a native inventory loads, each host in its groups and their ancestors
    lines = ["groups:"]
    for level in range(0, 21):
        for side in "ab":
            children = f"[l{level + 1}a, l{level + 1}b]" if level < 20 else "[]"
            lines.append(f"  l{level}{side}: {{children: {children}}}")
    lines += ["hosts:", "  fs01: {groups: [l20a]}"]
    (host,) = load(tmp_path, "\n".join(lines) + "\n").hosts
    assert len(host.groups) == 41 and "l20b" not in host.groups
