"""What the full mutation run of toolkit/inventory (1333eb2) found unpinned in the model, the
credentials, the retry-file writer and the vault-aware YAML reader, as a user or a library
caller sees it: a host's defaults (ports, timeouts, response cap, no delegation), looking a
host up by name, an Ansible ``ansible_password`` used as the password, a password file's owner
and mode bits, what a credential shows, a retry file's text, mode and round trip, ``!unsafe``
and ``!vault`` values. docs/mutation/inventory-core.md maps each mutant to its test."""

from __future__ import annotations

import inspect
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from toolkit.errors import CredentialError
from toolkit.inventory import credentials
from toolkit.inventory.credentials import Credential, resolve_credentials
from toolkit.inventory.loader import load_inventory
from toolkit.inventory.model import Host, PasswordSource, Policy, SourceRef, Transport
from toolkit.inventory.vault_yaml import Vaulted, load_yaml
from toolkit.inventory.write import host_entry, render_inventory, write_inventory

from .helpers import load, write

SECRET = "S3cr3t!pw"


# --- the model: a host's defaults and lookup -------------------------------------------------


def test_a_host_that_sets_no_port_gets_winrms_port_for_its_scheme(tmp_path: Path) -> None:
    inv = load(tmp_path, "hosts:\n  plain: {}\n  tls: {scheme: https}\n  own: {scheme: https, port: 443}\n")
    assert {h.name: h.transport.effective_port for h in inv.hosts} == {"plain": 5985, "tls": 5986, "own": 443}


def test_a_host_that_sets_no_timeouts_gets_pypsrps_own_defaults(tmp_path: Path) -> None:
    # docs/windows-facts.md: pypsrp's WSMan defaults; a host without timeouts behaves as pypsrp would
    from pypsrp.wsman import WSMan

    defaults = inspect.signature(WSMan.__init__).parameters
    transport = load(tmp_path, "hosts: {fs01: {}}\n").hosts[0].transport
    assert transport.connection_timeout == defaults["connection_timeout"].default == 30
    assert transport.operation_timeout == defaults["operation_timeout"].default == 20
    assert transport.read_timeout == defaults["read_timeout"].default == 30


def test_a_host_reads_at_most_4_mib_per_response_unless_told(tmp_path: Path) -> None:
    # README (Transports): "read at most max_response bytes per response (default 4194304)"
    inv = load(tmp_path, "hosts:\n  fs01: {}\n  big: {max_response: 8388608}\n")
    assert [h.transport.max_response for h in inv.hosts] == [4194304, 8388608]
    assert isinstance(inv.hosts[0].transport.max_response, int)


def test_kerberos_credentials_are_never_delegated_unless_the_inventory_says_so(tmp_path: Path) -> None:
    # delegation hands the user's ticket to the host: never a default
    inv = load(tmp_path, "hosts:\n  fs01: {}\n  hop: {negotiate_delegate: true}\n")
    assert [h.transport.negotiate_delegate for h in inv.hosts] == [False, True]


def test_a_host_is_found_by_its_name_and_an_unknown_name_is_a_key_error(tmp_path: Path) -> None:
    inv = load(tmp_path, "hosts:\n  fs01: {}\n  fs02: {address: 10.0.0.2}\n  fs03: {}\n")
    assert inv.host("fs02").address == "10.0.0.2"
    assert inv.host("fs01").name == "fs01"
    with pytest.raises(KeyError):
        inv.host("fs04")


def test_two_password_sources_that_differ_only_in_the_secret_are_equal() -> None:
    # model.PasswordSource: the secret is "never shown by repr() nor compared" (a host compared
    # before and after a password change is the same host, and no comparison reads a password)
    a = Host("fs01", "fs01", password=PasswordSource("inventory", "hosts.ini:3", "old-" + SECRET))
    b = replace(a, password=PasswordSource("inventory", "hosts.ini:3", "new-" + SECRET))
    assert a == b and hash(a.password) == hash(b.password)
    assert SECRET not in repr(a)


# --- credentials -----------------------------------------------------------------------------


def test_an_ansible_password_in_the_inventory_is_the_hosts_password(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"[windows]\nfs01 ansible_connection=winrm ansible_user=admin@lab.example ansible_password={SECRET}\n",
        "hosts.ini",
    )
    path.chmod(0o600)
    hosts = load_inventory(path).hosts
    assert resolve_credentials(hosts, interactive=False, env={}) == {
        "fs01": Credential("admin@lab.example", SECRET)
    }


def test_an_inventory_source_without_its_secret_is_no_password() -> None:
    # a library caller's PasswordSource("inventory", ref) without the secret: never an empty password
    h = Host(
        "fs01",
        "fs01",
        transport=Transport(auth="ntlm"),
        username="LAB\\admin",
        password=PasswordSource("inventory", "hosts.ini:3"),
        source=SourceRef("hosts.ini", 3),
    )
    with pytest.raises(CredentialError, match=r"^hosts\.ini:3: password: host fs01: no password source"):
        resolve_credentials([h], interactive=False, env={})
    assert resolve_credentials([h], interactive=False, env={"PSFLEET_PASSWORD": SECRET}) == {
        "fs01": Credential("LAB\\admin", SECRET)
    }


def test_negotiate_with_a_username_but_no_password_is_an_error_not_a_ticket() -> None:
    # only negotiate *without* a username means "use my Kerberos ticket"
    h = Host("fs01", "fs01", username="LAB\\admin", source=SourceRef("inv.yml", 4))
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([h], interactive=False, env={})
    assert str(caught.value) == (
        "inv.yml:4: password: host fs01: no password source for LAB\\admin (negotiate authentication); "
        "set password_env, password_keyring or password_prompt, or PSFLEET_PASSWORD"
    )


def test_a_credential_says_whether_it_has_a_password() -> None:
    assert repr(Credential("u", SECRET)) == "Credential(username='u', password=<set>)"
    assert str(Credential("u")) == "Credential(username='u', password=<none>)"


def _file_host(path: Path) -> Host:
    return Host(
        "fs01",
        "fs01",
        username="u",
        password=PasswordSource("file", str(path)),
        source=SourceRef("inv.yml", 5),
    )


USER = 4242  # the uid psfleet runs as, in the test below: neither root nor the owner of "other"


class _OsSeenByCredentials:
    """``os`` as toolkit.inventory.credentials sees it, run by ``USER``, with ``owner`` owning
    every file it opens (a test cannot chown without root); the rest of the process keeps the
    real ``os``."""

    def __init__(self, owner: int) -> None:
        self.owner = owner

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def geteuid(self) -> int:
        return USER

    def fstat(self, fd: int) -> os.stat_result:
        real = list(os.fstat(fd))
        real[stat.ST_UID] = self.owner
        return os.stat_result(real)


def _private_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "pw"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("owner", [0, USER], ids=["root", "you"])
def test_a_password_file_may_belong_to_you_or_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: int
) -> None:
    path = _private_password_file(tmp_path)
    monkeypatch.setattr(credentials, "os", _OsSeenByCredentials(owner))
    assert resolve_credentials([_file_host(path)], interactive=False, env={})["fs01"].password == SECRET


def test_a_password_file_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _private_password_file(tmp_path)
    monkeypatch.setattr(credentials, "os", _OsSeenByCredentials(USER + 1))
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([_file_host(path)], interactive=False, env={})
    assert str(caught.value) == (
        f"inv.yml:5: password_file: host fs01: {path} is owned by another user (uid {USER + 1}); "
        "it must belong to you or root"
    )


@pytest.mark.parametrize("mode", [0o601, 0o610, 0o602, 0o620, 0o604, 0o640])
def test_a_password_file_with_any_group_or_other_bit_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "pw"
    path.write_text(SECRET)
    path.chmod(mode)
    with pytest.raises(CredentialError) as caught:
        resolve_credentials([_file_host(path)], interactive=False, env={})
    assert f"is readable by others (mode {mode:o}); chmod 600 it" in str(caught.value)


# --- the retry file (write.py) ---------------------------------------------------------------


def test_a_retry_file_reads_like_a_hand_written_inventory(tmp_path: Path) -> None:
    h = Host(
        "fs01",
        "10.0.0.1",
        username="LAB\\jürgen",
        password=PasswordSource("prompt"),
        groups=("files", "münchen"),
        smb_port=4450,
    )
    assert render_inventory([h]) == (
        "# psfleet inventory written by psfleet; passwords are never stored here.\n"
        "psfleet: 1\n"
        "groups:\n"
        "  files: null\n"
        "  münchen: null\n"
        "hosts:\n"
        "  fs01:\n"
        "    address: 10.0.0.1\n"
        "    username: LAB\\jürgen\n"
        "    password_prompt: true\n"
        "    smb_port: 4450\n"
        "    groups:\n"
        "    - files\n"
        "    - münchen\n"
    )


def test_a_retry_file_keeps_the_prompt_the_smb_port_and_the_checks_states(tmp_path: Path) -> None:
    hosts = [
        Host("a", "a", username="u", password=PasswordSource("prompt")),
        Host(
            "b", "b", smb_port=444, baselines=("smb-hardening",), policy=Policy(checks={"smb1_server": "any"})
        ),
        Host("c", "c", smb_port=446),
        Host("d", "d", smb_port=445),
    ]
    target = tmp_path / "retry.yml"
    write_inventory(hosts, target)
    again = {h.name: h for h in load_inventory(target).hosts}
    assert again["a"].password == PasswordSource("prompt")
    assert {name: h.smb_port for name, h in again.items()} == {"a": 445, "b": 444, "c": 446, "d": 445}
    assert again["b"].policy.checks == {"smb1_server": "any"}
    assert "smb_port" not in host_entry(hosts[3])  # the default is not written


def test_a_retry_file_is_private_to_its_owner(tmp_path: Path) -> None:
    target = tmp_path / "retry.yml"
    write_inventory([Host("fs01", "fs01", username="LAB\\admin")], target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# --- YAML as Ansible writes it ---------------------------------------------------------------


def test_a_vaulted_value_never_shows_its_ciphertext() -> None:
    data = load_yaml("pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6134\n", "hosts.yml")
    value = data["pw"]  # type: ignore[index]
    assert isinstance(value, Vaulted) and "6134" in value.ciphertext
    assert "6134" not in repr(value) and "ANSIBLE_VAULT" not in repr(value)
