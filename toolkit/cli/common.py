"""Shared CLI plumbing: error handling, output writing, progress, verbosity.

Machine output goes to stdout (or ``--output`` atomically); everything for humans goes to
stderr. With ``--format json``/``ndjson`` nothing but JSON reaches stdout: no progress bar,
no prompt.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import UsageError

if TYPE_CHECKING:  # imported where used: ``psfleet --help`` must stay fast
    from rich.console import Console

    from toolkit.fanout.hooks import Hooks
    from toolkit.inventory.model import Host

MACHINE_FORMATS = ("json", "ndjson")

_console: Console | None = None


def __getattr__(name: str) -> object:
    """``err_console`` is made on first use: importing rich costs completion its budget."""
    if name == "err_console":
        return stderr_console()
    raise AttributeError(name)


def stderr_console() -> Console:
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _console


#: What rich drops from printed text (bell, backspace, VT, FF, CR), dropped here the same way.
_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))


def say(message: str) -> None:
    """A line for humans, on stderr. Through rich only while it draws on stderr (a progress
    bar keeps the line above it); otherwise written directly: importing rich to print one
    line cost more than the rest of a one-host run."""
    if _console is not None:
        _console.print(message, markup=False, emoji=False)
        return
    sys.stderr.write(f"{message.translate(_CONTROL)}\n")
    sys.stderr.flush()


class _OneLine(logging.Filter):
    """Folds a record's traceback into its message line. Libraries log expected failures
    with tracebacks (pypsrp: ``log.exception`` on every read timeout during authentication);
    the report already says what failed, and a traceback's lines can carry request data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if verbose < 3:
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _OneLine) for f in handler.filters):
                handler.addFilter(_OneLine())
    if verbose < 3:
        # -vvv shows the wire: pypsrp logs decrypted messages at DEBUG. The password never
        # appears there (NTLM sends hashes), but keep it opt-in.
        for noisy in ("pypsrp", "spnego", "urllib3", "requests_credssp", "smbprotocol"):
            logging.getLogger(noisy).setLevel(max(level, logging.INFO))
    # Authentication tokens never reach a log, whichever library logs them (-vvv included).
    from toolkit.transport import redact

    tokens = redact.install()
    for handler in logging.getLogger().handlers:
        if tokens not in handler.filters:
            handler.addFilter(tokens)


def emit(text: str, output: Path | None) -> None:
    """Write a rendered report to ``output`` atomically, or to stdout."""
    if output is not None:
        from toolkit.atomic import write_atomic

        write_atomic(output, text)
        return
    sys.stdout.write(text)
    sys.stdout.flush()


def emit_report(text: str, summary: str, output: Path | None) -> None:
    """A rendered report to stdout, or to ``output`` without its summary line, which goes to
    the terminal (stderr) with ``wrote FILE`` so that the person who ran it sees the outcome."""
    if output is None:
        emit(text, None)
        return
    if text.endswith(f"\n{summary}\n"):
        text = text[: -len(summary) - 1].rstrip("\n") + "\n"
    emit(text, output)
    say(summary)
    say(f"wrote {output}")


def can_prompt(fmt: str, no_input: bool) -> bool:
    """Whether a command may ask on the terminal (passwords, usernames): never with machine
    output or ``--no-input``, nor without a terminal on stdin (closed stdin included)."""
    return fmt not in MACHINE_FORMATS and not no_input and sys.stdin is not None and sys.stdin.isatty()


def require_confirmation(*, yes: bool, fmt: str, interactive: bool, to: str, what: str = "") -> bool:
    """The one confirmation policy of every command that changes hosts (remediate, rollback,
    ``run`` of a command that writes): ``--yes`` skips the question; otherwise the question
    needs a terminal to be asked on, which machine output (``--format json|ndjson``),
    ``--no-input`` and a closed or redirected stdin all rule out (``interactive`` is
    :func:`can_prompt`'s answer). Says so as a usage error on ``--yes`` (exit 2), before any
    host is contacted. True when :func:`confirm` must then be asked. ``to``: what ``--yes``
    would do ("change hosts"); ``what``: the reason, first ("this command writes (...)")."""
    if yes:
        return False
    lead = f"{what}; " if what else ""
    if fmt in MACHINE_FORMATS:
        raise UsageError(f"{lead}--format {fmt} cannot prompt: pass --yes to {to}", field="--yes")
    if not interactive:
        raise UsageError(f"{lead}no terminal to confirm on: pass --yes to {to}", field="--yes")
    return True


def confirm(question: str, *, declined: str) -> None:
    """Ask ``question`` on the terminal (default no); a "no" raises :class:`Aborted` with
    ``declined`` (what was not done). Only after :func:`require_confirmation` said to ask."""
    import typer

    from toolkit.errors import Aborted

    if not typer.confirm(question, default=False, err=True):
        raise Aborted(declined)


def show_progress(fmt: str) -> bool:
    if fmt in MACHINE_FORMATS:
        return False
    if os.environ.get("PSFLEET_NO_PROGRESS"):
        return False
    return stderr_is_terminal()


def stderr_is_terminal() -> bool:
    """rich's answer (``Console.is_terminal``), without importing rich when stderr is plainly
    not a terminal and nothing in the environment forces one."""
    forced = any(os.environ.get(v) for v in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"))
    isatty = getattr(sys.stderr, "isatty", None)
    if _console is None and not forced and not (isatty is not None and isatty()):
        return False
    return stderr_console().is_terminal


@contextmanager
def status_progress(total: int, *, enabled: bool, label: str) -> Iterator[Callable[[str], None]]:
    """A transient progress bar on stderr counting finished hosts by status; yields
    ``tick(status)`` (a no-op when not ``enabled``)."""
    if not enabled:
        yield lambda status: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    counts: Counter[str] = Counter()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    )
    task = progress.add_task(label, total=total, counts="")

    def tick(status: str) -> None:
        counts[status] += 1
        progress.update(task, advance=1, counts=" ".join(f"{k}={v}" for k, v in sorted(counts.items())))

    with progress:
        yield tick


@contextmanager
def progress_hooks(total: int, *, enabled: bool, label: str = "auditing") -> Iterator[Hooks[Any]]:
    """Fan-out hooks driving :func:`status_progress`, for any command's results (each has a
    ``status``)."""
    from toolkit.fanout.hooks import Hooks

    if not enabled:
        yield Hooks()
        return
    with status_progress(total, enabled=True, label=label) as tick:
        yield Hooks(on_result=lambda result: tick(result.status.value))


def check_format(fmt: str, allowed: tuple[str, ...], *, table_format: str | None = None) -> None:
    """Reject a bad ``--format`` (and ``--table-format``) before any host is contacted: a
    report that cannot be rendered after the run would leave its results (and, for
    remediate, its writes) unreported."""
    if fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(allowed)}", field="--format")
    from toolkit.report.formats import TABLE_FORMAT_NAMES  # tabulate's (a test keeps them equal)

    if table_format is not None and table_format not in TABLE_FORMAT_NAMES:
        raise UsageError(
            f"unknown table format {table_format!r}; choose one of: {', '.join(TABLE_FORMAT_NAMES)}",
            field="--table-format",
        )


def warn_insecure_transport(hosts: list[Host] | tuple[Host, ...]) -> None:
    """One line on stderr when TLS certificates will not be checked (``cert_validation:
    false``): a man in the middle could then read the credentials. Said before connecting."""
    unchecked = [h.name for h in hosts if h.transport.scheme == "https" and not h.transport.cert_validation]
    if unchecked:
        names = ", ".join(unchecked[:5]) + (f" and {len(unchecked) - 5} more" if len(unchecked) > 5 else "")
        say(
            f"psfleet: warning: TLS certificate validation is off (cert_validation: false) for "
            f"{len(unchecked)} host{'s' if len(unchecked) != 1 else ''} ({names}): anyone on the path "
            "can impersonate them and capture the credentials"
        )
