"""The README's "What is checked" table is the shipped baselines, row for row."""

from __future__ import annotations

from pathlib import Path

from toolkit.baselines.describe import readme_rows
from toolkit.baselines.loader import resolve

README = Path(__file__).resolve().parents[3] / "README.md"
START, END = "<!-- baselines-table:start -->", "<!-- baselines-table:end -->"


def test_readme_table_matches_the_shipped_baselines() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split(START, 1)[1].split(END, 1)[0].strip().splitlines()
    expected = readme_rows([resolve("smb-validate-negotiate"), resolve("smb-hardening")])
    assert table == expected, "README table out of date; paste:\n" + "\n".join(expected)
