"""``psfleet demo --transport``: every command that connects takes --transport (issue 12)."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli


def test_demo_refuses_an_unknown_transport_before_starting_the_lab(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(["demo", "--transport", "telnet"], capsys)
    assert code == 2 and out == ""
    assert "--transport: unknown transport 'telnet'; choose one of: auto, lean, pypsrp" in err
    assert "emulated Windows hosts" not in err  # no lab was started


def test_demo_help_names_the_transports(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_cli(["demo", "--help"], capsys)
    assert code == 0
    assert "--transport" in out and "pypsrp" in out
