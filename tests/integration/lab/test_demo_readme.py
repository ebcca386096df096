"""The README's "real output" of ``psfleet demo`` is what ``psfleet demo`` prints now (its
columns and rows; the lab's ports differ from run to run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli import run_cli

README = Path(__file__).resolve().parents[3] / "README.md"
MARK = "`psfleet demo` prints (real output):\n\n```\n"


def _rows(text: str) -> list[list[str]]:
    return [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line).split() for line in text.splitlines()]


def test_readme_shows_the_demo_as_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    readme = README.read_text(encoding="utf-8")
    start = readme.index(MARK) + len(MARK)
    shown = readme[start : readme.index("```", start)]

    code, out, err = run_cli(["demo"], capsys)

    assert code == 0, err
    assert _rows(shown)[0] == _rows(out)[0]  # the header: every column
    assert [r for r in _rows(shown) if r and not r[0].startswith("-")] == [
        r for r in _rows(out) if r and not r[0].startswith("-")
    ]
