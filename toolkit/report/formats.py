"""Report format names, importable without any renderer (help and completion use them)."""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("table", "json", "ndjson", "csv", "markdown", "junit")

#: tabulate's table formats (``--table-format``), for checks and completion without importing
#: tabulate (tests/unit/cli/test_cli_front.py keeps them equal to tabulate_formats).
TABLE_FORMAT_NAMES: tuple[str, ...] = (
    "asciidoc", "colon_grid", "double_grid", "double_outline", "fancy_grid", "fancy_outline",
    "github", "grid", "heavy_grid", "heavy_outline", "html", "jira", "latex", "latex_booktabs",
    "latex_longtable", "latex_raw", "mediawiki", "mixed_grid", "mixed_outline", "moinmoin",
    "orgtbl", "outline", "pipe", "plain", "presto", "pretty", "psql", "rounded_grid",
    "rounded_outline", "rst", "simple", "simple_grid", "simple_outline", "textile", "tsv",
    "unsafehtml", "youtrack",
)  # fmt: skip
