"""Counts in CLI output read as English: ``1 host``, ``2 hosts``, ``0 groups``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from toolkit.report.words import counted


def test_counted_picks_singular_for_exactly_one() -> None:
    assert [counted(n, "host") for n in (0, 1, 2)] == ["0 hosts", "1 host", "2 hosts"]
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(3, "entry", "entries") == "3 entries"


def test_inventory_check_of_one_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "one.yml"
    source.write_text("psfleet: 1\nhosts:\n  a:\n    address: 127.0.0.1\n", encoding="utf-8")
    code, _out, err = run_cli(["inventory", "check", "-i", str(source)], capsys)

    assert code == 0, err
    assert f"{source}: OK, 1 host in 0 groups" in err


def test_lab_serve_of_one_host(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", "lab", "serve", "--hosts", "1", "--addressing", "port"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        while line and "on loopback" not in line:
            line = proc.stderr.readline().decode()
        assert line.startswith("lab: 1 host on loopback"), line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
