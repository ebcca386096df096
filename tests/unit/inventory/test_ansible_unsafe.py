"""Ansible's ``!unsafe`` values, read by both backends as Ansible means them: text that is never
templated. A password may hold ``{{`` or ``{%``; Ansible documents ``!unsafe`` for exactly that.
``ansible-inventory --list`` prints such a value as ``{"__ansible_unsafe": "..."}`` (ansible-core
2.19), the built-in reader sees the YAML tag: the host must load the same from both, while a
value that is not marked keeps being refused as a Jinja template.

The ansible backend runs the real ``ansible-inventory`` (``PSFLEET_ANSIBLE_BIN``, PATH or
/opt/ansible-venv/bin) and is skipped with the reason where it is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from toolkit.inventory.loader import InventoryOptions, check_inventory, load_inventory, read_inventory
from toolkit.inventory.model import Host
from toolkit.inventory.write import write_inventory


def _ansible_bin() -> Path | None:
    given = os.environ.get("PSFLEET_ANSIBLE_BIN")
    if given:
        return Path(given)
    found = shutil.which("ansible-inventory")
    if found:
        return Path(found).parent
    fallback = Path("/opt/ansible-venv/bin")
    return fallback if (fallback / "ansible-inventory").exists() else None


ANSIBLE_BIN = _ansible_bin()
BACKENDS = [
    "builtin",
    pytest.param(
        "ansible",
        marks=pytest.mark.skipif(
            ANSIBLE_BIN is None,
            reason="ansible-inventory not installed (scripts/install_deps.sh puts it in /opt/ansible-venv)",
        ),
    ),
]


@pytest.fixture(autouse=True)
def _ansible_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ansible backend finds ansible-inventory on PATH, as a user's shell would."""
    if ANSIBLE_BIN is not None:
        monkeypatch.setenv("PATH", f"{ANSIBLE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def _write(tmp_path: Path, host_vars: str) -> Path:
    path = tmp_path / "hosts.yml"
    body = textwrap.indent(textwrap.dedent(host_vars).strip("\n"), " " * 6)
    path.write_text(f"all:\n  hosts:\n    fs01:\n{body}\n", encoding="utf-8")
    return path


def _host(path: Path, backend: str) -> Host:
    loaded = read_inventory(path, options=InventoryOptions(backend=backend), report=False)
    assert loaded.backend == backend
    (host,) = loaded.inventory.hosts
    return host


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unsafe_password_with_braces_is_the_password(tmp_path: Path, backend: str) -> None:
    path = _write(
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
def test_an_unsafe_plain_password_is_read_by_both_backends(tmp_path: Path, backend: str) -> None:
    # ansible-inventory prints it as {"__ansible_unsafe": "plain"}: once refused as "a mapping".
    path = _write(
        tmp_path,
        """
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: !unsafe 'plain'
        """,
    )
    host = _host(path, backend)
    assert host.password is not None and host.password.secret == "plain"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unsafe_env_lookup_is_text_not_a_lookup(tmp_path: Path, backend: str) -> None:
    path = _write(
        tmp_path,
        """
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: !unsafe "{{ lookup('env', 'WIN_PW') }}"
        """,
    )
    host = _host(path, backend)
    assert host.password is not None and host.password.kind == "inventory"
    assert host.password.secret == "{{ lookup('env', 'WIN_PW') }}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsafe_settings_and_variables_load_as_their_text(tmp_path: Path, backend: str) -> None:
    path = _write(
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_retry_file_keeps_unsafe_variables_as_text(tmp_path: Path, backend: str) -> None:
    path = _write(
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
        pytest.param("ansible", "{dir}/hosts.yml: fs01.ansible_password", marks=BACKENDS[1].marks),
    ],
)
def test_a_template_without_unsafe_is_still_refused(tmp_path: Path, backend: str, where: str) -> None:
    path = _write(
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


@pytest.mark.skipif(ANSIBLE_BIN is None, reason="ansible-inventory not installed (scripts/install_deps.sh)")
def test_cli_lists_a_host_with_an_unsafe_password_through_ansible(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: !unsafe 'pa{{ss'
        ansible_winrm_transport: ntlm
        """,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSFLEET_")}
    env["PSFLEET_CONFIG"] = ""
    answer = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "inventory", "list", "-i", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    (row,) = json.loads(answer.stdout)
    assert (row["name"], row["username"], row["auth"]) == ("fs01", "admin", "ntlm")
    assert row["password_from"] == f"inventory:{path}"
    assert "pa{{ss" not in answer.stdout + answer.stderr
