"""``psfleet probe smb -o FILE`` behaves like audit/run/remediate: the file holds the report
without the summary line; the terminal gets the summary and ``wrote FILE``. ``--limit`` help
is the one every command shows."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.smb.cli_helpers import write_probe_inventory
from tests.support.cli import run_cli


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write_probe_inventory(tmp_path / "inv.yml", {"gone": _closed_port()})


@pytest.mark.parametrize("fmt", ["table", "markdown", "relay-list", "csv"])
def test_output_file_without_summary_and_summary_on_the_terminal(
    inventory: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / f"probe.{fmt}"
    args = ["probe", "smb", "-i", str(inventory), "-f", fmt, "-o", str(report), "--no-per-dialect"]
    code, out, err = run_cli(args, capsys)

    assert code == 8, err
    assert out == ""
    assert "1 host: 1 unreachable" in err
    assert f"wrote {report}" in err
    assert "1 host:" not in report.read_text(encoding="utf-8")


def test_limit_help_is_the_shared_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["probe", "smb", "--help"], capsys)

    assert code == 0
    flat = " ".join(out.split())
    assert "&pattern" in flat and "~regex" in flat
