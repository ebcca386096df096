"""What a new admin sees from ``psfleet audit`` around the report: -o FILE, TSV, options with
no effect, --explain without an inventory, skipped Ansible hosts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from toolkit.lab.fleet import Fleet

LIMIT = ["--limit", "ok-server2019,ok-server2022,fault-refuse"]


@pytest.mark.parametrize("table_format", ["tsv", "html", "simple"])
def test_output_file_holds_the_report_and_the_terminal_the_summary(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], table_format: str
) -> None:
    report = tmp_path / f"audit.{table_format}"
    code, out, err = run_cli(
        ["audit", "-i", str(inventory), *LIMIT, "--table-format", table_format, "-o", str(report)], capsys
    )
    assert code == 8  # fault-refuse was not assessed
    assert out == ""
    text = report.read_text(encoding="utf-8")
    assert "3 hosts:" not in text  # the summary line is for the terminal only
    assert "3 hosts: 2 compliant, 1 unreachable" in err
    assert f"wrote {report}" in err
    if table_format == "tsv":
        lines = text.rstrip("\n").split("\n")
        header = lines[0].split("\t")
        assert header[:4] == ["HOST", "ADDRESS", "OS", "STATUS"] and header[-1] == "ERROR"
        assert len(lines) == 4
        assert all(len(line.split("\t")) == len(header) for line in lines)


def test_table_format_with_json_is_an_error(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["audit", "-i", str(inventory), "--format", "json", "--table-format", "grid"], capsys
    )
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "psfleet: error: --table-format: has no effect with --format json (it only shapes --format table)"
    )


def test_explain_needs_no_inventory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PSFLEET_INVENTORY", raising=False)
    monkeypatch.setenv("PSFLEET_CONFIG", "")
    code, out, _err = run_cli(["audit", "--explain"], capsys)
    assert code == 0
    assert out.startswith("Columns:")
    assert "secure_negotiate" in out and "Host statuses:" in out
    assert "DOMAIN" not in out


def test_ansible_inventory_skips_hosts_not_on_winrm(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = next(h for h in fleet.hosts if h.name == "ok-server2022")
    secret = host.password
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[windows]\n"
        f"ok-server2022 ansible_host={host.address} ansible_port={host.port}\n"
        "[windows:vars]\n"
        f"ansible_connection=psrp\nansible_psrp_protocol={host.scheme}\nansible_psrp_auth={host.auth}\n"
        f"ansible_user={host.username}\nansible_password={secret}\n"
        "[linux]\ndb01\ndb02 ansible_connection=ssh\n",
        encoding="utf-8",
    )
    os.chmod(inventory, 0o644)
    monkeypatch.setenv("PSFLEET_INVENTORY_BACKEND", "builtin")
    code, out, err = run_cli(["audit", "-i", str(inventory), "--format", "json"], capsys)
    assert code == 0, err
    assert '"ok-server2022"' in out
    assert "skipped 2 hosts not on WinRM" in err
    assert "--show-skipped lists them" in err
    assert f"{inventory} holds a plain ansible_password and is readable by group or others" in err
    assert secret not in out + err

    code, _out, err = run_cli(["--show-skipped", "audit", "-i", str(inventory), "--format", "json"], capsys)
    assert code == 0
    assert f"skipped db01 ({inventory}:10): no ansible_connection (Ansible uses ssh)" in err
    assert f"skipped db02 ({inventory}:11): ansible_connection is ssh" in err
