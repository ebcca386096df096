"""Reports (and every other file psfleet writes) go through toolkit.atomic.write_atomic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolkit.atomic import write_atomic


def test_writes_new_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, "{}\nü\n")
    assert target.read_bytes() == "{}\nü\n".encode()
    assert os.listdir(tmp_path) == ["report.json"]


def test_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old")
    target.chmod(0o600)
    write_atomic(str(target), "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600


def test_failure_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.xml"
    target.write_text("old")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.xml"]


def test_unencodable_text_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "lone surrogate \ud800")
    assert os.listdir(tmp_path) == []


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nope" / "r.txt", "x")
    assert os.listdir(tmp_path) == []
