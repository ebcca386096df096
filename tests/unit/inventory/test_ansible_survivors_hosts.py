"""Survivors of inventory's full mutation run in ansible_hosts.py and ansible_cli.py, pinned as
a user sees them: winrm's connection timeout (read timeout 10 s above it, text accepted), Jinja
templates refused outside an env lookup password (psfleet_* ones too), what a password may be
and where it was written, a list of transports that Negotiate covers, the warning for a plain
password in a shared file; the ansible backend's bounds (120 s, 64 MiB of output, the last
8 KiB of stderr and which of its lines the error quotes) and its answer read as Ansible wrote
it (hosts only in ``_meta.hostvars``, a cycle of children)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory import ansible_cli
from toolkit.inventory.ansible_cli import read_with_ansible, view_from_list
from toolkit.inventory.loader import read_inventory

from .helpers import load, only_error, write

WINRM = "all:\n  hosts:\n    fs1:\n      ansible_connection: winrm\n"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (WINRM + '      ansible_winrm_connection_timeout: "25"\n', "inv.yml"),  # YAML text
        ("fs1 ansible_connection=winrm ansible_winrm_connection_timeout=25\n", "hosts.ini"),
    ],
)
def test_winrm_connection_timeout_sets_the_operation_timeout_and_read_timeout_10_s_above(
    tmp_path: Path, text: str, name: str
) -> None:
    (host,) = load(tmp_path, text, name).hosts
    assert (host.transport.operation_timeout, host.transport.read_timeout) == (25.0, 35.0)
    assert host.transport.auth == "basic" and host.username is None


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("ansible_user: \"{{ lookup('env', 'WIN_USER') }}\"", "all.hosts.fs1.ansible_user"),
        ('ansible_password: "{{ vault_pw }}"', "all.hosts.fs1.ansible_password"),
        ('psfleet_client_signing: "{{ signing }}"', "all.hosts.fs1.psfleet_client_signing"),
    ],
)
def test_a_template_is_refused_except_an_env_lookup_password(
    tmp_path: Path, variable: str, field: str
) -> None:
    error = only_error(tmp_path, WINRM + f"      {variable}\n")
    assert error.startswith(f"{{dir}}/inv.yml:5: {field}: Jinja template")
    assert "write the value itself" in error


def test_an_env_lookup_password_is_read_from_the_environment(tmp_path: Path) -> None:
    (host,) = load(tmp_path, WINRM + "      ansible_password: \"{{ lookup('env', 'WIN_PW') }}\"\n").hosts
    assert (host.password.kind, host.password.ref) == ("env", "WIN_PW")


@pytest.mark.parametrize(("written", "secret"), [("s3cret", "s3cret"), ("12345", "12345"), ("1.5", "1.5")])
def test_a_plain_password_names_the_file_and_line_it_was_written_on(
    tmp_path: Path, written: str, secret: str
) -> None:
    (host,) = load(tmp_path, WINRM + f"      ansible_password: {written}\n").hosts
    assert (host.password.kind, host.password.ref) == ("inventory", f"{tmp_path / 'inv.yml'}:5")
    assert host.password.secret == secret


@pytest.mark.parametrize(("written", "shown"), [("true", "true"), ("[a, b]", "a list")])
def test_a_password_that_is_not_text_or_a_number_is_refused(tmp_path: Path, written: str, shown: str) -> None:
    error = only_error(tmp_path, WINRM + f"      ansible_password: {written}\n")
    assert error.startswith("{dir}/inv.yml:5: all.hosts.fs1.ansible_password: expected a password string")
    assert shown in error


@pytest.mark.parametrize("transports", ["kerberos,ntlm", "kerberos, ntlm, negotiate", "ntlm,negotiate"])
def test_transports_negotiate_covers_become_negotiate(tmp_path: Path, transports: str) -> None:
    (host,) = load(tmp_path, WINRM + f"      ansible_winrm_transport: {transports}\n").hosts
    assert host.transport.auth == "negotiate"


PLAIN_WARNING = "holds a plain ansible_password and is readable by group or others"


def test_a_plain_password_in_a_file_others_can_read_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, WINRM + "      ansible_password: s3cret\n")
    os.chmod(path, 0o644)
    warnings = read_inventory(path).warnings
    assert warnings == (f"{path} {PLAIN_WARNING}; chmod 600 it or encrypt the value with ansible-vault",)
    os.chmod(path, 0o600)
    assert read_inventory(path).warnings == ()


def test_an_env_lookup_password_in_a_shared_file_is_not_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, WINRM + "      ansible_password: \"{{ lookup('env', 'WIN_PW') }}\"\n")
    os.chmod(path, 0o644)
    assert read_inventory(path).warnings == ()


# --- the ansible backend (ansible_cli.py) ----------------------------------------------------


def _fake_inventory(tmp_path: Path, body: str) -> str:
    """An executable standing in for ansible-inventory: a sh wrapper running a Python script
    (a shebang naming the interpreter could exceed the kernel's length limit)."""
    script = tmp_path / "ansible_inventory.py"
    script.write_text(f"import sys\n{body}\n", encoding="utf-8")
    exe = tmp_path / "ansible-inventory"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    exe.chmod(0o755)
    return str(exe)


def test_ansible_inventory_gets_120_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[object] = []

    def hangs(cmd: list[str], **kwargs: object) -> None:
        given.append(kwargs["timeout"])
        raise subprocess.TimeoutExpired(cmd, 120.0)

    monkeypatch.setattr(ansible_cli.subprocess, "run", hangs)
    with pytest.raises(InventoryError, match=r"ansible-inventory did not answer within 120 s"):
        read_with_ansible(tmp_path / "hosts.yml", executable="ansible-inventory")
    assert given == [120.0]


def test_an_answer_of_exactly_64_mib_is_read_and_one_byte_more_refused(tmp_path: Path) -> None:
    answer = '{"all": {"hosts": ["fs1"]}}'
    mib_64 = 64 * 1024 * 1024  # the documented limit, not the module's constant (a mutant changes that)
    exe = _fake_inventory(tmp_path, f"sys.stdout.write({answer!r}.ljust({mib_64}))")
    assert read_with_ansible(tmp_path / "hosts.yml", executable=exe).groups["all"] == ("fs1",)
    exe = _fake_inventory(tmp_path, f"sys.stdout.write({answer!r}.ljust({mib_64 + 1}))")
    with pytest.raises(InventoryError, match=r"ansible-inventory wrote more than 64 MiB"):
        read_with_ansible(tmp_path / "hosts.yml", executable=exe)


def test_the_error_quotes_a_failed_to_parse_line_from_the_last_8_kib_of_stderr(tmp_path: Path) -> None:
    cause = "Failed to parse hosts.yml with ini plugin\n"
    filler = "w" * (8192 - len(cause) - 1) + "\n"
    # "X" is the 8193rd byte from the end: just outside what is read
    exe = _fake_inventory(tmp_path, f"sys.stderr.write('X' + {cause!r} + {filler!r}); sys.exit(1)")
    with pytest.raises(InventoryError) as caught:
        read_with_ansible(tmp_path / "hosts.yml", executable=exe)
    assert (
        caught.value.message == "ansible-inventory failed (exit 1): Failed to parse hosts.yml with ini plugin"
    )


@pytest.mark.parametrize(
    ("stderr", "quoted"),
    [
        ("first\\nERROR! the error\\nlast words\\n", "the error"),  # the last line saying ERROR
        ("one\\ntwo\\nthree\\n", "three"),  # else the last line
    ],
)
def test_the_error_quotes_the_last_error_line_or_else_the_last_line(
    tmp_path: Path, stderr: str, quoted: str
) -> None:
    exe = _fake_inventory(tmp_path, f"sys.stderr.write('{stderr}'); sys.exit(2)")
    with pytest.raises(InventoryError) as caught:
        read_with_ansible(tmp_path / "hosts.yml", executable=exe)
    assert caught.value.message == f"ansible-inventory failed (exit 2): {quoted}"


def test_hosts_only_in_hostvars_come_after_the_grouped_ones_once_each() -> None:
    listed = {
        "_meta": {"hostvars": {"lone": {"ansible_connection": "psrp"}, "fs1": {"ansible_port": 5985}}},
        "all": {"children": ["ungrouped", "files"]},
        "files": {"hosts": ["fs1"]},
    }
    view = view_from_list(listed, "hosts.yml")
    assert view.groups["all"] == ("fs1", "lone")
    assert list(view.hosts) == ["fs1", "lone"]
    assert view.hostvars["lone"]["ansible_connection"].value == "psrp"


@pytest.mark.timeout(5)  # fail the test, rather than hang the run
def test_a_cycle_of_children_in_the_answer_is_walked_once() -> None:
    listed = {
        "all": {"children": ["a"]},
        "a": {"hosts": ["fs1"], "children": ["b"]},
        "b": {"hosts": ["fs2"], "children": ["a"]},
    }
    view = view_from_list(listed, "hosts.yml")
    assert view.groups == {"all": ("fs1", "fs2"), "a": ("fs1", "fs2"), "b": ("fs2", "fs1")}
    assert view.member_of == {"fs1": ("a", "b"), "fs2": ("a", "b")}
