"""psfleet's command line: a thin layer over :mod:`toolkit.api`.

Exit codes (documented in the README): 0 all assessed and compliant, 4 drift (or changes
pending), 8 a host not assessed, 12 both, 2 usage/input error, 1 internal error, 130
interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# Nothing heavy at import: ``psfleet`` starts here, and a shell asking for completions is
# answered before Typer (or click, rich, pydantic) is imported (toolkit.cli.completion).

#: The environment variable through which shells ask for completions (Typer's name for it).
COMPLETE_VAR = "_PSFLEET_COMPLETE"

__all__ = ["COMPLETE_VAR", "app", "command", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":  # the Typer application, imported on first use
        from toolkit.cli.app import app

        return app
    raise AttributeError(f"module 'toolkit.cli' has no attribute {name!r}")


def say(message: str) -> None:
    from toolkit.cli.common import say as to_stderr

    to_stderr(message)


def command() -> Any:
    """The root click command (what ``app`` runs), with help types humanized; while a shell
    asks for completions, option values stay raw text (:func:`toolkit.compat.typer_values.raw_values`)."""
    import typer

    from toolkit.cli.app import app, humanize_types
    from toolkit.compat.typer_values import install, raw_values

    root = typer.main.get_command(app)
    humanize_types(root)
    install()  # plain option values without pydantic (0.1-0.2 s of every command's start-up)
    if os.environ.get(COMPLETE_VAR):
        raw_values()
    return root


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every error is one line on stderr and a documented code."""
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:
        complete(instruction, argv)
    run(argv)


def complete(instruction: str, argv: list[str] | None = None) -> None:
    """Answer a shell's completion request: from the cached table when it covers the request
    (no Typer import), else through Typer, after which a missing or stale table is rebuilt
    (once per install or change of psfleet). Always exits."""
    from toolkit.cli import completion

    text = completion.answer(instruction)
    if text is not None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        sys.exit(0)
    try:
        run(argv)
    finally:
        completion.refresh_if_stale(_tree)


def _tree() -> dict[str, Any]:
    """The completion table of the whole command tree (every command imported)."""
    import typer

    from toolkit.cli.app import app
    from toolkit.cli.completion import build_table
    from toolkit.cli.options import FIXED_COMPLETIONS, fast_completers

    root: Any = typer.main.get_command(app)
    root.commands  # noqa: B018 - imports every command, registering the completers they make
    return build_table(root, fast_completers(), FIXED_COMPLETIONS)


def _kinds(name: str) -> tuple[type[BaseException], ...]:
    """Typer's exception class ``name`` and, when click is loaded, click's: Typer 0.29 vendors
    click and raises its own copies (typer.Exit...); older Typer raises click's. click is only
    looked up, never imported: if it is not loaded, nothing raised one of its exceptions."""
    import typer

    ours = {"Exit": "Exit", "Abort": "Abort", "ClickException": "TyperException"}[name]
    found: list[type[BaseException]] = [getattr(typer, ours)]
    click = sys.modules.get("click")
    if click is not None:
        found.append(getattr(click.exceptions, name))
    return tuple(found)


def run(argv: list[str] | None = None) -> None:
    """Run the command line ``argv`` (default: ``sys.argv``) and exit with its code."""
    from toolkit.errors import PsfleetError

    try:
        code = command().main(args=argv, standalone_mode=False, prog_name="psfleet")
    except _kinds("Exit") as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except _kinds("Abort"):
        say("psfleet: aborted")
        sys.exit(130)
    except _kinds("ClickException") as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        say(f"psfleet: error: {' '.join(message.split())}")
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
