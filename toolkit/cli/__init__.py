"""psfleet's command line: a thin layer over :mod:`toolkit.api`.

Exit codes (documented in the README): 0 all assessed and compliant, 4 drift (or changes
pending), 8 a host not assessed, 12 both, 2 usage/input error, 1 internal error, 130
interrupted.
"""

from __future__ import annotations

import sys

import click
import typer

from toolkit.cli.app import app
from toolkit.cli.common import say
from toolkit.errors import PsfleetError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every error is one line on stderr and a documented code."""
    try:
        code = app(args=argv, standalone_mode=False, prog_name="psfleet")
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
