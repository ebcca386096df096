"""``psfleet baseline list|show|check``: the shipped baselines, one baseline's checks, and
validating baseline files (errors name file:line: field, exit 2)."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.cli.common import say
from toolkit.report.words import counted

app = typer.Typer(
    help="Baselines: the checks psfleet judges and fixes, as data (docs/baselines.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FormatOpt = typer.Option("table", "-f", "--format", help="table or json.")


def _check_format(fmt: str) -> None:
    from toolkit.errors import UsageError

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r}; choose from: table, json", field="--format")


@app.command("list")
def list_command(fmt: str = FormatOpt) -> None:
    """The baselines shipped with psfleet."""
    from toolkit.baselines.describe import baseline_summary
    from toolkit.baselines.loader import resolve, shipped_names
    from toolkit.report.listing import render_baseline_list

    _check_format(fmt)
    typer.echo(
        render_baseline_list([baseline_summary(resolve(name)) for name in shipped_names()], fmt), nl=False
    )


@app.command("show")
def show_command(
    baseline: str = typer.Argument(..., metavar="NAME|FILE", help="A shipped name or a baseline file."),
    fmt: str = FormatOpt,
) -> None:
    """Every check of one baseline: where the value lives, the desired states, how it is
    fixed, and its sources."""
    from toolkit.baselines.describe import baseline_dict
    from toolkit.baselines.loader import resolve
    from toolkit.report.listing import render_baseline

    _check_format(fmt)
    typer.echo(render_baseline(baseline_dict(resolve(baseline)), fmt), nl=False)


@app.command("check")
def check_command(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Baseline files to validate."),
) -> None:
    """Validate baseline files: one line per file; the first error names file:line: field
    and exits 2."""
    from toolkit.baselines.loader import load_file

    for path in files:
        baseline = load_file(path)
        say(
            f"ok: {path}: baseline {baseline.name}, {counted(len(baseline.checks), 'check')}, sha256 {baseline.digest[:12]}"
        )
