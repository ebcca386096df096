from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.inventory.ansible import expand_host_pattern
from toolkit.inventory.loader import read_inventory
from toolkit.inventory.model import PasswordSource, Policy
from toolkit.inventory.settings import BadValue

from .helpers import load, only_error, write

INI = """\
# comment
loose ansible_host=10.1.1.1 ansible_port=5985 ansible_connection=winrm ansible_winrm_transport=ntlm

[web]
web[01:03].lab
[fe80::9]:5999 ansible_user='LAB\\operator'
ext.lab:5986 ansible_host=192.0.2.1 ansible_psrp_auth=negotiate ansible_winrm_transport=basic

[web:vars]
ansible_connection=psrp
ansible_psrp_auth = ntlm
ansible_user=LAB\\admin
ansible_password={{ lookup('env', 'WIN_PW') }}
ansible_psrp_cert_validation=ignore
ansible_psrp_ca_cert=ca.pem
ansible_psrp_operation_timeout=25
ansible_psrp_read_timeout=35
ansible_shell_type=powershell
psfleet_client_signing=any
psfleet_policy_secure_negotiate=disabled
psfleet_smb_port=4455

[linux]
jump ansible_connection=ssh ansible_password=secret

[windows:children]
web
"""


def test_ini_maps_variables(tmp_path: Path) -> None:
    loaded = read_inventory(write(tmp_path, INI, "hosts.ini"))
    inv = loaded.inventory
    assert [h.name for h in inv.hosts] == [
        "loose",
        "web01.lab",
        "web02.lab",
        "web03.lab",
        "fe80::9",
        "ext.lab",
    ]
    loose, web01, *_rest, ipv6, ext = inv.hosts
    assert (loose.address, loose.transport.scheme, loose.transport.port) == ("10.1.1.1", "http", 5985)
    assert loose.groups == ()
    assert web01.transport.scheme == "https"  # Ansible: https unless port 5985
    assert web01.transport.auth == "ntlm"
    assert web01.transport.cert_validation is False
    assert web01.transport.ca_file == str(tmp_path / "ca.pem")
    assert (web01.transport.operation_timeout, web01.transport.read_timeout) == (25.0, 35.0)
    assert web01.username == "LAB\\admin"  # [group:vars] values are not shell-split
    assert web01.password == PasswordSource("env", "WIN_PW")
    assert web01.policy == Policy(
        client_signing="any", server_signing="required", secure_negotiate="disabled"
    )
    assert web01.smb_port == 4455
    assert web01.groups == ("web", "windows")
    assert dict(web01.vars) == {"ansible_shell_type": "powershell"}
    assert (ipv6.address, ipv6.transport.port, ipv6.username) == ("fe80::9", 5999, "LAB\\operator")
    # a psrp host reads ansible_psrp_auth, never ansible_winrm_transport
    assert (ext.address, ext.transport.port, ext.transport.auth) == ("192.0.2.1", 5986, "negotiate")
    assert dict(ext.vars)["ansible_winrm_transport"] == "basic"
    assert [(s.name, s.source.line) for s in loaded.skipped] == [("jump", 24)]
    assert "ssh" in loaded.skipped[0].reason
    assert inv.groups["windows"] == ("web01.lab", "web02.lab", "web03.lab", "fe80::9", "ext.lab")


YAML = """\
all:
  vars:
    ansible_connection: winrm
    ansible_port: 5985
    ansible_winrm_transport: ntlm
  children:
    windows:
      vars:
        ansible_winrm_scheme: https
        ansible_port: 5986
        ansible_winrm_server_cert_validation: ignore
        ansible_winrm_read_timeout_sec: 60
        ansible_winrm_operation_timeout_sec: 50
      children:
        dc:
          vars: {ansible_winrm_transport: kerberos, psfleet_password_prompt: false}
          hosts:
            dc01: {ansible_host: "fe80::1"}
        fs:
          hosts:
            fs01:
            fs02: {ansible_port: 5999, ansible_psrp_port: 6000}
    other:
      hosts:
        fs01: {psfleet_server_signing: any}
"""


def test_yaml_maps_variables_and_merges_host_mentions(tmp_path: Path) -> None:
    inv = load(tmp_path, YAML)
    assert [h.name for h in inv.hosts] == ["dc01", "fs01", "fs02"]
    dc01, fs01, fs02 = inv.hosts
    assert dc01.transport.auth == "kerberos" and dc01.address == "fe80::1"
    assert dc01.password == PasswordSource("none")
    assert dc01.transport.port == 5986 and dc01.transport.scheme == "https"
    assert dc01.transport.cert_validation is False
    assert dc01.transport.read_timeout == 60.0
    assert fs01.policy.server_signing == "any"
    assert fs01.groups == ("windows", "fs", "other")
    assert fs02.transport.port == 5999  # a winrm host never reads ansible_psrp_port
    assert dict(fs02.vars) == {"ansible_psrp_port": 6000}
    assert inv.groups["dc"] == ("dc01",)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ({"a": "", "b": ""}, 2),  # equal depth and priority: by name, so b wins
        ({"a": "ansible_group_priority: 5", "b": ""}, 1),  # priority 5 beats 1
    ],
)
def test_ansible_group_precedence(tmp_path: Path, groups: dict[str, str], expected: int) -> None:
    port = {"a": 1, "b": 2}
    blocks = "".join(
        f"    {name}:\n      vars: {{ansible_port: {port[name]}, {extra}}}\n      hosts: {{h: }}\n"
        for name, extra in reversed(groups.items())
    )
    inv = load(tmp_path, "all:\n  vars: {ansible_connection: psrp}\n  children:\n" + blocks)
    assert inv.hosts[0].transport.port == expected


def test_skipped_hosts_do_not_report_their_passwords(tmp_path: Path) -> None:
    loaded = read_inventory(
        write(
            tmp_path,
            "[linux]\nl1 ansible_password=x\n[linux:vars]\nansible_connection=ssh\n[win]\nw1 ansible_connection=psrp\n",
            "i.ini",
        )
    )
    assert [h.name for h in loaded.inventory.hosts] == ["w1"]
    assert [s.name for s in loaded.skipped] == ["l1"]


INI_ERRORS = [
    ("[web\nh1\n", "{f}:1: malformed section header; expected [group], [group:vars] or [group:children]"),
    ("[web:hosts]\nh1\n", "{f}:1: unknown section type 'web:hosts'; expected :vars or :children"),
    ("[web:vars]\nansible_port\n[web]\nh1\n", "{f}:2: web:vars: expected key=value in a :vars section"),
    ("[web]\nh1 ansible_port\n", "{f}:2: h1: expected key=value, got 'ansible_port'"),
    (
        "[web]\nh1 ansible_port=99999\n[web:vars]\nansible_connection=psrp\n",
        "{f}:2: h1.ansible_port: port must be between 1 and 65535, got 99999",
    ),
    (
        "[web]\nh1 ansible_connection=winrm ansible_winrm_transport=telnet\n",
        "{f}:2: h1.ansible_winrm_transport: must be one of negotiate, ntlm, kerberos, credssp, basic, certificate, ssl, plaintext; got the string 'telnet'",
    ),
    (
        "[web]\nh1 ansible_connection=winrm ansible_winrm_transport=kerberos,credssp\n",
        "{f}:2: h1.ansible_winrm_transport: psfleet uses one authentication protocol per host; give one transport",
    ),
    (
        '[web]\nh1 ansible_connection=psrp ansible_user="{{ user }}"\n',
        "{f}:2: h1.ansible_user: Jinja template the string '{{ user }}': neither psfleet's readers nor "
        "ansible-inventory evaluate templates (Ansible renders them when it connects); write the value itself",
    ),
    (
        "[web]\nh1 psfleet_smb_prot=1 ansible_connection=psrp\n",
        "{f}:2: h1.psfleet_smb_prot: unknown psfleet variable 'psfleet_smb_prot' (did you mean 'psfleet_smb_port'?)",
    ),
    (
        "[web]\nh1 psfleet_client_signing=maybe ansible_connection=psrp\n",
        "{f}:2: h1.psfleet_client_signing: must be one of required, any; got the string 'maybe'",
    ),
    ("[web]\nweb[3:1]\n", "{f}:2: web.web[3:1]: bad range [3:1]: start after end, or too many hosts"),
    (
        "[a:children]\nb\n[b:children]\na\n[a]\nh ansible_connection=psrp\n",
        "{f}:4: b:children: children form a cycle: b -> a -> ... -> b",
    ),
    (
        "[web]\nh1 ansible_psrp_auth=basic ansible_psrp_protocol=http ansible_connection=psrp\n",
        "{f}:2: h1.ansible_psrp_auth: basic authentication over http is not encrypted; use https or set allow_unencrypted: true if you accept that",
    ),
    (
        "[web]\nh1 ansible_psrp_read_timeout=5 ansible_connection=psrp\n",
        "{f}:2: h1.ansible_psrp_read_timeout: read_timeout (5) must be greater than operation_timeout (20); pypsrp requires it",
    ),
    (
        "[web]\nh1 ansible_connection=ssh\n",
        "{f}:1: no host psfleet can manage (1 skipped; h1: ansible_connection is ssh; psfleet reaches hosts over winrm or psrp)",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), INI_ERRORS, ids=[e[1].split(": ", 2)[-1][:40] for e in INI_ERRORS]
)
def test_ini_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert only_error(tmp_path, text, "hosts.ini") == expected.replace("{f}", "{dir}/hosts.ini")


YAML_ERRORS = [
    (
        "all:\n  hosts: [h1]\n",
        "{f}:2: all.hosts: expected a mapping of host names to their variables, got a list",
    ),
    ("all:\n  host: {h1: }\n", "{f}:2: all.host: unknown key 'host' (did you mean 'hosts'?)"),
    (
        "all:\n  vars: {ansible_connection: psrp}\n  hosts:\n    h1:\n"
        "      ansible_password: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n",
        "{f}:5: all.hosts.h1.ansible_password: Ansible Vault value: the builtin reader cannot use it; "
        "read it with --inventory-backend ansible (needs ansible-core)",
    ),
    (
        "all:\n  hosts:\n    h1: {ansible_connection: psrp, ansible_psrp_cert_validation: false}\n",
        "{f}:3: all.hosts.h1.ansible_psrp_cert_validation: must be one of validate, ignore; got the boolean false",
    ),
    (
        "all:\n  hosts:\n    h1: {ansible_connection: psrp, ansible_psrp_protocol: ftp}\n",
        "{f}:3: all.hosts.h1.ansible_psrp_protocol: must be one of http, https; got the string 'ftp'",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), YAML_ERRORS, ids=[e[1].split(": ", 2)[-1][:40] for e in YAML_ERRORS]
)
def test_ansible_yaml_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert only_error(tmp_path, text) == expected.replace("{f}", "{dir}/inv.yml")


@pytest.mark.parametrize(
    ("pattern", "names", "port"),
    [
        ("web[01:03]", ["web01", "web02", "web03"], None),
        ("web[1:3].lab:5986", ["web1.lab", "web2.lab", "web3.lab"], 5986),
        ("db-[a:c]", ["db-a", "db-b", "db-c"], None),
        ("n[0:4:2]", ["n0", "n2", "n4"], None),
        ("r[1:2]c[1:2]", ["r1c1", "r1c2", "r2c1", "r2c2"], None),
        ("[fe80::1]:5985", ["fe80::1"], 5985),
        ("fe80::1", ["fe80::1"], None),
        ("host.lab", ["host.lab"], None),
    ],
)
def test_host_patterns(pattern: str, names: list[str], port: int | None) -> None:
    assert expand_host_pattern(pattern) == (names, port)


@pytest.mark.parametrize("pattern", ["web[1:]", "web[a:9]", "web[1:3", "web[0:99999999]", "w[1:2:0]"])
def test_bad_host_patterns(pattern: str) -> None:
    with pytest.raises(BadValue):
        expand_host_pattern(pattern)
