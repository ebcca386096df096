"""Effective connection settings from the variables ansible-core itself gave (recorded in
tests/data/ansible/psrp_winrm), read the way each connection plugin reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.inventory.ansible_cli import view_from_list
from toolkit.inventory.ansible_hosts import connection_of, map_host
from toolkit.inventory.model import Host, SourceRef
from toolkit.inventory.settings import Problems

DATA = Path(__file__).resolve().parents[2] / "data" / "ansible"
RECORDED = json.loads((DATA / "psrp_winrm" / "recorded.json").read_text(encoding="utf-8"))
VIEW = view_from_list(RECORDED["list"], "hosts.yml")


def _host(name: str) -> tuple[Host | None, Problems]:
    problems = Problems("hosts.yml")
    host = map_host(
        name,
        VIEW.hostvars[name],
        source=SourceRef("hosts.yml", 1),
        groups=(),
        problems=problems,
        backend="ansible",
    )
    return host, problems


@pytest.mark.parametrize(
    ("name", "address", "scheme", "port", "auth", "cert_validation", "ca_file"),
    [
        # winrm: ansible_psrp_* set on the group are never read (auth basic, port 9999, ignore)
        ("w-default", "w-default", "https", 5986, "basic", True, None),
        ("w-kerb", "w-kerb", "https", 5986, "kerberos", True, None),  # user@REALM: Kerberos
        ("w-validate", "w-validate", "https", 5986, "basic", True, None),
        ("w-winrm-host", "10.9.9.2", "https", 5986, "basic", True, None),  # winrm_host wins
        # psrp: ansible_winrm_* set on the group are never read (basic, 9999, ignore)
        ("p-default", "p-default", "https", 5986, "negotiate", True, None),
        ("p-http", "p-http", "http", 5985, "negotiate", True, None),
        ("p-port", "p-port", "http", 5985, "negotiate", True, None),
        ("p-ca", "p-ca", "https", 5986, "negotiate", True, "/etc/ca.pem"),
        ("p-ignore", "p-ignore", "https", 5986, "negotiate", False, "/etc/ca.pem"),
    ],
)
def test_each_plugin_reads_only_its_own_variables(
    name: str, address: str, scheme: str, port: int, auth: str, cert_validation: bool, ca_file: str | None
) -> None:
    host, problems = _host(name)
    assert not problems, [str(e) for e in problems.errors]
    assert host is not None
    t = host.transport
    assert (host.address, t.scheme, t.effective_port, t.auth) == (address, scheme, port, auth)
    assert (t.cert_validation, t.ca_file) == (cert_validation, ca_file)


@pytest.mark.parametrize("name", ["w-http", "w-scheme"])
def test_winrm_default_basic_over_http_is_refused(name: str) -> None:
    host, problems = _host(name)
    assert host is None
    (error,) = problems.errors
    assert "basic authentication over http is not encrypted" in error.message
    assert error.field == f"{name}.ansible_winrm_transport (not set; winrm's default is basic)"


@pytest.mark.parametrize(
    ("name", "connection"), [("no-connection", "ssh"), ("local-host", "local"), ("p-default", "psrp")]
)
def test_connection_defaults_to_ssh_as_in_ansible(name: str, connection: str) -> None:
    assert connection_of(VIEW.hostvars[name]) == connection


ANSIBLE_BIN = Path(os.environ.get("PSFLEET_ANSIBLE_BIN", "/opt/ansible-venv/bin"))


@pytest.mark.skipif(
    not (ANSIBLE_BIN / "ansible-inventory").exists(),
    reason="ansible-core not installed (scripts/install_deps.sh)",
)
@pytest.mark.parametrize("how", ["option", "environment"])
def test_cli_ansible_backend_reads_the_vaulted_password_and_never_shows_it(how: str) -> None:
    case = DATA / "vault"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSFLEET_")}
    env["PATH"] = f"{ANSIBLE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PSFLEET_CONFIG"] = ""
    args = [sys.executable, "-m", "toolkit.cli", "--inventory-backend", "ansible"]
    if how == "option":
        args += ["--vault-password-file", str(case / "vault-pass.txt")]
    else:
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(case / "vault-pass.txt")
    answer = subprocess.run(
        [*args, "inventory", "list", "-i", str(case / "hosts.ini"), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    rows = json.loads(answer.stdout)
    assert [r["name"] for r in rows] == ["app01", "app02"]
    assert rows[0]["password_from"].startswith("inventory:")
    assert rows[0]["cert_validation"] is True and rows[0]["auth"] == "ntlm"
    assert "Corpus-Only" not in answer.stdout + answer.stderr


def test_builtin_backend_refuses_the_vault_naming_file_and_line() -> None:
    case = DATA / "vault"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSFLEET_")}
    env["PSFLEET_CONFIG"] = ""
    answer = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "--inventory-backend",
            "builtin",
            "inventory",
            "check",
            "-i",
            str(case / "hosts.ini"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert answer.returncode == 2
    assert answer.stderr.strip() == (
        f"{case / 'group_vars' / 'windows.yml'}:3: ansible_password: Ansible Vault value: the builtin reader "
        "cannot use it; read it with --inventory-backend ansible (needs ansible-core)"
    )
