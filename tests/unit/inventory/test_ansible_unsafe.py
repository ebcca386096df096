"""Ansible's ``!unsafe`` values, read by both backends as Ansible means them: text that is never
templated. A password may hold ``{{`` or ``{%``; Ansible documents ``!unsafe`` for exactly that.
``ansible-inventory --list`` prints such a value as ``{"__ansible_unsafe": "..."}`` (ansible-core
2.19), the built-in reader sees the YAML tag: the host must load the same from both, while a
value that is not marked keeps being refused as a Jinja template.

``ansible-inventory --list`` prints a vaulted value the same way, ``{"__ansible_vault": ...}``,
at any depth: inside a list or mapping both backends hold it as a Vaulted value too.

The ansible backend runs the real ``ansible-inventory`` (``PSFLEET_ANSIBLE_BIN``, PATH or
/opt/ansible-venv/bin) and is skipped with the reason where it is not installed.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from toolkit.inventory.loader import InventoryOptions, check_inventory, load_inventory, read_inventory
from toolkit.inventory.model import Host
from toolkit.inventory.vault_yaml import Unsafe, Vaulted
from toolkit.inventory.write import write_inventory

from .helpers import ansible_on_path, needs_ansible, run_cli, write

BACKENDS = ["builtin", pytest.param("ansible", marks=needs_ansible)]


@pytest.fixture(autouse=True)
def _ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ansible backend finds ansible-inventory on PATH, as a user's shell would."""
    ansible_on_path(monkeypatch)


def _inventory(tmp_path: Path, host_vars: str) -> Path:
    """hosts.yml with one host, fs01, holding ``host_vars`` (YAML lines)."""
    body = textwrap.indent(textwrap.dedent(host_vars).strip("\n"), " " * 6)
    return write(tmp_path, f"all:\n  hosts:\n    fs01:\n{body}\n", "hosts.yml")


def _host(path: Path, backend: str) -> Host:
    loaded = read_inventory(path, options=InventoryOptions(backend=backend), report=False)
    assert loaded.backend == backend
    (host,) = loaded.inventory.hosts
    return host


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unsafe_password_with_braces_is_the_password(tmp_path: Path, backend: str) -> None:
    path = _inventory(
        tmp_path,
        """
        ansible_connection: winrm
        ansible_user: !unsafe 'LAB\\ad{%min'
        ansible_password: !unsafe 'pa{{ss}}%w0rd'
        ansible_winrm_transport: ntlm
        """,
    )
    host = _host(path, backend)
    assert host.username == "LAB\\ad{%min"
    assert host.password is not None and host.password.kind == "inventory"
    assert host.password.secret == "pa{{ss}}%w0rd"
    assert "pa{{ss" not in repr(host)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("written", "secret"),
    [
        # ansible-inventory prints it as {"__ansible_unsafe": "plain"}: once refused as "a mapping"
        pytest.param("!unsafe 'plain'", "plain", id="plain"),
        # an env lookup marked unsafe is text, not a lookup
        pytest.param(
            "!unsafe \"{{ lookup('env', 'WIN_PW') }}\"", "{{ lookup('env', 'WIN_PW') }}", id="lookup"
        ),
    ],
)
def test_an_unsafe_password_is_the_text_as_written(
    tmp_path: Path, backend: str, written: str, secret: str
) -> None:
    path = _inventory(
        tmp_path,
        f"""
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: {written}
        """,
    )
    host = _host(path, backend)
    assert host.password is not None and host.password.kind == "inventory"
    assert host.password.secret == secret


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsafe_settings_and_variables_load_as_their_text(tmp_path: Path, backend: str) -> None:
    path = _inventory(
        tmp_path,
        """
        ansible_connection: !unsafe psrp
        ansible_host: !unsafe 10.0.0.5
        ansible_user: admin
        ansible_password: secret
        ansible_psrp_auth: !unsafe ntlm
        psfleet_policy_client_signing: !unsafe required
        note: !unsafe '{{ not a template }}'
        tags: [!unsafe 'a{{b', c]
        """,
    )
    host = _host(path, backend)
    assert (host.address, host.transport.auth, host.transport.scheme) == ("10.0.0.5", "ntlm", "https")
    assert host.policy.client_signing == "required"
    assert host.vars == {"note": "{{ not a template }}", "tags": ["a{{b", "c"]}


#: ``ansible-vault encrypt_string`` of a made-up secret (password "pw"): neither backend decrypts
#: a variable psfleet does not use, ``--list`` prints it still encrypted.
CIPHERTEXT = (
    "$ANSIBLE_VAULT;1.1;AES256\n"
    "38323431376131666635383461333534626335303966373131656537353461623031643862643863\n"
    "6233613433346636616161383262663431303930363430370a386264373862656237323432613030\n"
    "36663536363738353561333234643566346131353764633338633265663164336331366566616166\n"
    "3633386464326634370a386465303438633333646231383132303764653361323438626364613431\n"
    "6336\n"
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vaulted_and_unsafe_items_inside_lists_and_mappings_keep_their_kind(
    tmp_path: Path, backend: str
) -> None:
    vaulted = "!vault |\n" + textwrap.indent(CIPHERTEXT, " " * 6)
    path = _inventory(
        tmp_path,
        "ansible_connection: psrp\nansible_user: admin\nansible_password: secret\n"
        f"lst:\n  - plain\n  - {vaulted}"
        f"dct:\n  k: {vaulted}"
        "  u: !unsafe '{{x}}'\n"
        "deep:\n  - a: [{v: !unsafe 'q{%'}]\n",
    )
    host = _host(path, backend)
    assert host.vars == {
        "lst": ["plain", Vaulted(CIPHERTEXT)],
        "dct": {"k": Vaulted(CIPHERTEXT), "u": "{{x}}"},
        "deep": [{"a": [{"v": "q{%"}]}],
    }
    assert isinstance(host.vars["lst"][1], Vaulted) and isinstance(host.vars["dct"]["k"], Vaulted)
    assert isinstance(host.vars["dct"]["u"], Unsafe) and isinstance(host.vars["deep"][0]["a"][0]["v"], Unsafe)
    assert "ANSIBLE_VAULT" not in repr(host)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_retry_file_keeps_unsafe_variables_as_text(tmp_path: Path, backend: str) -> None:
    path = _inventory(
        tmp_path,
        """
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: !unsafe 'pa{{ss'
        note: !unsafe '{{ x }}'
        """,
    )
    retry = tmp_path / "retry.yml"
    write_inventory([_host(path, backend)], retry)
    assert "pa{{ss" not in retry.read_text(encoding="utf-8")
    (again,) = load_inventory(retry).hosts
    assert again.vars == {"note": "{{ x }}"}


@pytest.mark.parametrize(
    ("backend", "where"),
    [
        ("builtin", "{dir}/hosts.yml:6: all.hosts.fs01.ansible_password"),
        pytest.param("ansible", "{dir}/hosts.yml: fs01.ansible_password", marks=needs_ansible),
    ],
)
def test_a_template_without_unsafe_is_still_refused(tmp_path: Path, backend: str, where: str) -> None:
    path = _inventory(
        tmp_path,
        """
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: '{{ vault_win_password }}'
        """,
    )
    errors = check_inventory(path, options=InventoryOptions(backend=backend))
    assert [str(e).replace(str(tmp_path), "{dir}") for e in errors] == [
        f"{where}: Jinja template the string '{{{{ vault_win_password }}}}': neither psfleet's "
        "readers nor ansible-inventory evaluate templates (Ansible renders them when it connects); "
        "write the value itself"
    ]


@needs_ansible
def test_cli_lists_a_host_with_an_unsafe_password_through_ansible(tmp_path: Path) -> None:
    path = _inventory(
        tmp_path,
        """
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: !unsafe 'pa{{ss'
        ansible_winrm_transport: ntlm
        """,
    )
    answer = run_cli("inventory", "list", "-i", str(path), "--format", "json")
    assert answer.returncode == 0, answer.stderr
    (row,) = json.loads(answer.stdout)
    assert (row["name"], row["username"], row["auth"]) == ("fs01", "admin", "ntlm")
    assert row["password_from"] == f"inventory:{path}"
    assert "pa{{ss" not in answer.stdout + answer.stderr
