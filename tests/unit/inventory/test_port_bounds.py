"""A port is 1 to 65535, both ends included, in native and Ansible inventories (the full
mutation run of toolkit/inventory found the upper end unpinned: 65536 accepted went unnoticed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import load, only_error


@pytest.mark.parametrize("port", [1, 5985, 65535])
def test_every_port_from_1_to_65535_is_taken(tmp_path: Path, port: int) -> None:
    assert load(tmp_path, f"hosts: {{h: {{port: {port}}}}}").hosts[0].transport.port == port
    ini = load(
        tmp_path,
        f"[win]\nh ansible_connection=winrm ansible_winrm_transport=ntlm ansible_port={port}\n",
        name="hosts.ini",
    )
    assert ini.hosts[0].transport.port == port


@pytest.mark.parametrize("port", [0, 65536])
def test_a_port_just_outside_is_refused_with_file_line_and_field(tmp_path: Path, port: int) -> None:
    error = only_error(tmp_path, f"hosts: {{h: {{port: {port}}}}}")
    assert error.endswith(f"inv.yml:1: hosts.h.port: port must be between 1 and 65535, got {port}")
