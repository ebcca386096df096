from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.inventory.model import PasswordSource, Policy

from .helpers import load, only_error

BASIC = """\
psfleet: 1
defaults:
  auth: ntlm
  username: LAB\\admin
  password_env: PSFLEET_PASSWORD
  policy: {secure_negotiate: any}
groups:
  fileservers:
    vars: {scheme: https, port: 5986, operation_timeout: 40, read_timeout: 50}
    hosts: [fs01, fs02]
    children: [branch]
  branch:
    vars: {port: 5999, policy: {client_signing: any}}
    hosts:
      br01: {address: "[fe80::1]"}
hosts:
  fs01: {address: 10.0.0.5, policy: {server_signing: any}}
  fs02: {}
  sérveur: {address: "::1", auth: kerberos, password_prompt: false}
"""


def test_native_full_example(tmp_path: Path) -> None:
    inv = load(tmp_path, BASIC)
    assert [h.name for h in inv.hosts] == ["br01", "fs01", "fs02", "sérveur"]
    br01, fs01, fs02, other = inv.hosts
    assert br01.address == "fe80::1"
    assert br01.transport.port == 5999  # child group beats parent group
    assert br01.transport.scheme == "https"  # inherited from the parent group
    assert br01.transport.operation_timeout == 40.0
    assert br01.policy == Policy(client_signing="any", server_signing="required", secure_negotiate="any")
    assert br01.groups == ("fileservers", "branch")
    assert fs01.address == "10.0.0.5"
    assert fs01.policy == Policy(client_signing="required", server_signing="any", secure_negotiate="any")
    assert fs01.transport.port == 5986
    assert fs01.username == "LAB\\admin"
    assert fs01.password == PasswordSource("env", "PSFLEET_PASSWORD")
    assert fs01.source is not None and fs01.source.line == 17
    assert fs02.address == "fs02"
    assert other.address == "::1" and other.transport.auth == "kerberos"
    assert other.password == PasswordSource("none")
    assert other.transport.scheme == "http" and other.transport.effective_port == 5985
    assert inv.groups == {"fileservers": ("br01", "fs01", "fs02"), "branch": ("br01",)}


def test_hosts_as_a_list_and_group_defined_hosts(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        groups:
          web:
            hosts: [{name: w1, port: 5999}]
        hosts:
          - name: h1
            address: 10.0.0.1
          - h2
        """,
    )
    assert [(h.name, h.address, h.transport.port) for h in inv.hosts] == [
        ("w1", "w1", 5999),
        ("h1", "10.0.0.1", None),
        ("h2", "h2", None),
    ]


@pytest.mark.parametrize(
    ("first", "second", "port"),
    [("a", "b", 2), ("b", "a", 1)],
    ids=["later-group-b-wins", "later-group-a-wins"],
)
def test_same_depth_groups_later_in_file_wins(tmp_path: Path, first: str, second: str, port: int) -> None:
    ports = {"a": 1, "b": 2}
    inv = load(
        tmp_path,
        f"""\
        groups:
          {first}: {{vars: {{port: {ports[first]}}}}}
          {second}: {{vars: {{port: {ports[second]}}}}}
        hosts:
          h: {{groups: [a, b]}}
        """,
    )
    assert inv.hosts[0].transport.port == port


def test_host_beats_group_beats_defaults(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        defaults: {port: 1001, smb_port: 4455, connection_timeout: 5}
        groups:
          g: {vars: {port: 1002, connection_timeout: 6}}
        hosts:
          h: {groups: [g], port: 1003}
        """,
    )
    host = inv.hosts[0]
    assert (host.transport.port, host.transport.connection_timeout, host.smb_port) == (1003, 6.0, 4455)


def test_ssl_key_and_host_password_source_overrides_group(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        defaults: {ssl: true, password_keyring: psfleet}
        hosts:
          h: {password_env: HOST_PW, meta: {owner: team}}
        """,
    )
    host = inv.hosts[0]
    assert host.transport.scheme == "https"
    assert host.password == PasswordSource("env", "HOST_PW")
    assert dict(host.vars) == {"owner": "team"}


def test_relative_paths_resolve_against_the_inventory(tmp_path: Path) -> None:
    inv = load(tmp_path, "defaults: {ca_file: certs/ca.pem}\nhosts: {h: {}}\n")
    assert inv.hosts[0].transport.ca_file == str(tmp_path / "certs" / "ca.pem")


def test_same_host_in_several_groups_is_one_host(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        groups:
          a: {hosts: [h]}
          b: {hosts: [h]}
        hosts: {h: {}}
        """,
    )
    assert [h.name for h in inv.hosts] == ["h"]
    assert inv.hosts[0].groups == ("a", "b")


ERRORS = [
    ("hosts: {h: {prot: 5985}}", "{f}:1: hosts.h.prot: unknown key 'prot' (did you mean 'port'?)"),
    ("hosts: {h: {port: 70000}}", "{f}:1: hosts.h.port: port must be between 1 and 65535, got 70000"),
    ("hosts: {h: {port: '5985'}}", "{f}:1: hosts.h.port: expected a port number, got the string '5985'"),
    (
        "hosts: {h: {auth: ntlmv2}}",
        "{f}:1: hosts.h.auth: must be one of negotiate, ntlm, kerberos, credssp, basic, certificate; "
        "got the string 'ntlmv2'",
    ),
    ("hosts: {h: {scheme: ftp}}", "{f}:1: hosts.h.scheme: must be one of http, https; got the string 'ftp'"),
    (
        "hosts: {h: {cert_validation: 'no'}}",
        "{f}:1: hosts.h.cert_validation: expected true or false, got the string 'no'",
    ),
    (
        "hosts: {h: {operation_timeout: 40}}",
        "{f}:1: hosts.h.operation_timeout: read_timeout (30) must be greater than operation_timeout (40); "
        "pypsrp requires it",
    ),
    (
        "defaults: {read_timeout: 10}\nhosts: {h: {}}",
        "{f}:1: defaults.read_timeout: read_timeout (10) must be greater than operation_timeout (20); "
        "pypsrp requires it",
    ),
    (
        "hosts: {h: {connection_timeout: 0}}",
        "{f}:1: hosts.h.connection_timeout: must be a positive number of seconds, got 0",
    ),
    (
        "hosts: {h: {password: hunter2}}",
        "{f}:1: hosts.h.password: psfleet never reads passwords from an inventory; use password_env: VARIABLE, "
        "password_keyring: SERVICE or password_prompt: true",
    ),
    (
        "hosts: {h: {password_env: PW, password_prompt: true}}",
        "{f}:1: hosts.h.password_prompt: the password source is already set by hosts.h.password_env (line 1); "
        "set only one",
    ),
    (
        "hosts: {h: {password_env: 'my var'}}",
        "{f}:1: hosts.h.password_env: 'my var' is not an environment variable name (letters, digits, underscore)",
    ),
    ("hosts: {'  ': {}}", "{f}:1: hosts: a host name must not be empty"),
    ("hosts: {'fs 01': {}}", "{f}:1: hosts: host name 'fs 01' contains whitespace or a comma"),
    (
        "hosts:\n  h: {groups: [fileserver]}\ngroups: {fileservers: {}}",
        "{f}:2: hosts.h.groups[0]: unknown group 'fileserver' (did you mean 'fileservers'?)",
    ),
    (
        "groups:\n  g: {hosts: [fs1]}\nhosts: {fs01: {}}",
        "{f}:2: groups.g.hosts[0]: unknown host 'fs1' (did you mean 'fs01'?); define it under hosts:",
    ),
    (
        "groups:\n  a: {children: [b]}\n  b: {children: [a]}\nhosts: {h: {groups: [a]}}",
        "{f}:3: groups.b.children[0]: children form a cycle: b -> a -> ... -> b",
    ),
    (
        "groups:\n  g: {port: 5985}\nhosts: {h: {}}",
        "{f}:2: groups.g.port: unknown key 'port' (group settings go under vars:)",
    ),
    (
        "defaults: {address: 10.0.0.1}\nhosts: {h: {}}",
        "{f}:1: defaults.address: 'address' can only be set on a host",
    ),
    (
        "hosts: {h: {auth: basic}}",
        "{f}:1: hosts.h.auth: basic authentication over http is not encrypted; use https or set allow_unencrypted: true if you accept that",
    ),
    (
        "hosts: {h: {auth: certificate, scheme: https}}",
        "{f}:1: hosts.h.auth: certificate authentication needs certificate_pem and certificate_key_pem",
    ),
    (
        "hosts: {h: {policy: {client_signing: optional}}}",
        "{f}:1: hosts.h.policy.client_signing: must be one of required, any; got the string 'optional'",
    ),
    (
        "hosts: {h: {policy: {signing: any}}}",
        "{f}:1: hosts.h.policy.signing: unknown policy key 'signing' (did you mean 'server_signing'?)",
    ),
    (
        "psfleet: 2\nhosts: {h: {}}",
        "{f}:1: psfleet: unsupported format version 2; this psfleet reads version 1",
    ),
    ("host: {h: {}}", "{f}:1: host: unknown key 'host' (did you mean 'hosts'?)"),
    ("hosts: {}", "{f}:1: hosts: the inventory defines no hosts"),
    ("", "{f}:1: the inventory is empty"),
    ("hosts: {h: {address: 'a b'}}", "{f}:1: hosts.h.address: address 'a b' contains whitespace"),
    (
        "groups: {all: {}}\nhosts: {h: {}}",
        "{f}:1: groups.all: 'all' is reserved: it already means every host",
    ),
    (
        "hosts: {h: {port: 1}}\ngroups:\n  g: {hosts: {h: {port: 2}}}",
        "{f}:1: hosts.h: host 'h' is already defined at line 3; give its settings in one place",
    ),
    ("hosts:\n  h: {}\n  h: {}", "{f}:3: h: duplicate key 'h'"),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS, ids=[e[1].split(": ", 2)[-1][:40] for e in ERRORS])
def test_native_errors_are_one_line_with_file_line_field(tmp_path: Path, text: str, expected: str) -> None:
    assert only_error(tmp_path, text + "\n") == expected.replace("{f}", "{dir}/inv.yml")


def test_password_value_never_appears_in_the_error(tmp_path: Path) -> None:
    message = only_error(tmp_path, "hosts: {h: {password: S3cr3t-value}}\n")
    assert "S3cr3t" not in message


def test_allow_unencrypted_permits_basic_over_http(tmp_path: Path) -> None:
    inv = load(tmp_path, "hosts: {h: {auth: basic, allow_unencrypted: true}}\n")
    assert inv.hosts[0].transport.auth == "basic"
