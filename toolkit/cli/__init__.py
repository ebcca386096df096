"""psfleet's command line: a thin layer over :mod:`toolkit.api`.

Exit codes (documented in the README): 0 all assessed and compliant, 4 drift (or changes
pending), 8 a host not assessed, 12 both, 2 usage/input error, 1 internal error, 130
interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import typer

from toolkit.cli.app import COMPLETE_VAR, app, humanize_types, raw_values
from toolkit.errors import PsfleetError


def say(message: str) -> None:
    from toolkit.cli.common import say as to_stderr

    to_stderr(message)


__all__ = ["app", "main"]


def command() -> Any:
    """The root click command (what ``app`` runs), with help types humanized; while a shell
    asks for completions, option values stay raw text (see :func:`toolkit.cli.app.raw_values`)."""
    root = typer.main.get_command(app)
    humanize_types(root)
    if os.environ.get(COMPLETE_VAR):
        raw_values()
    return root


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every error is one line on stderr and a documented code."""
    try:
        code = command().main(args=argv, standalone_mode=False, prog_name="psfleet")
    # Typer 0.29 vendors click and raises its own copies of click's exceptions (typer.Exit,
    # typer.Abort, typer.TyperException); older Typer (0.12 to at least 0.23) raises click's.
    # Catch both.
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, typer.Abort):
        say("psfleet: aborted")
        sys.exit(130)
    except (click.ClickException, typer.TyperException) as exc:
        say(f"psfleet: error: {' '.join(exc.format_message().split())}")
        sys.exit(2)
    except PsfleetError as exc:
        say(f"psfleet: error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        say("psfleet: interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # last resort: one line, no traceback (it could hold secrets)
        say(f"psfleet: internal error: {type(exc).__name__}: {exc}")
        if "-vvv" in (argv or sys.argv):
            import traceback

            traceback.print_exc()
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
