"""Run ``psfleet`` in the test process."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from toolkit.cli import main


def run_cli(args: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``psfleet ARGS`` in this process: (exit code, stdout, stderr). ``main`` always exits;
    ``sys.exit(None)`` reads as 0."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err
