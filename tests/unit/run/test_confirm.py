"""Asking before a write: prompt on a terminal, refuse without one or with machine formats."""

from __future__ import annotations

import pytest

from toolkit.cli import run_cmd
from toolkit.errors import Aborted, UsageError
from toolkit.inventory.model import Inventory
from toolkit.run_command.command import RunCommand

WRITE = RunCommand.script("Set-ItemProperty -Path HKLM:\\X -Name Y -Value 0")
READ = RunCommand.script("Get-ItemProperty -Path HKLM:\\X")


def inventory() -> Inventory:
    return Inventory(hosts=(), groups={}, source="inv.yml")


def test_reads_and_yes_never_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_cmd.typer, "confirm", lambda *a, **k: pytest.fail("asked"))
    run_cmd._confirm_write(READ, inventory(), yes=False, fmt="json", interactive=False)
    run_cmd._confirm_write(WRITE, inventory(), yes=True, fmt="json", interactive=False)


@pytest.mark.parametrize(("fmt", "interactive", "text"), [("json", True, "--format json cannot prompt"),
                                                          ("ndjson", False, "--format ndjson cannot prompt"),
                                                          ("table", False, "no terminal to confirm on")])  # fmt: skip
def test_refuses_without_a_way_to_ask(
    fmt: str, interactive: bool, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_cmd.typer, "confirm", lambda *a, **k: pytest.fail("asked"))
    with pytest.raises(UsageError, match=text):
        run_cmd._confirm_write(WRITE, inventory(), yes=False, fmt=fmt, interactive=interactive)


def test_prompts_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def confirm(text: str, **kwargs: object) -> bool:
        asked.append(text)
        assert kwargs.get("err") is True and kwargs.get("default") is False
        return answer

    monkeypatch.setattr(run_cmd.typer, "confirm", confirm)
    answer = True
    run_cmd._confirm_write(WRITE, inventory(), yes=False, fmt="table", interactive=True)
    assert asked == ["Run it on 0 hosts?"]
    answer = False
    with pytest.raises(Aborted):
        run_cmd._confirm_write(WRITE, inventory(), yes=False, fmt="table", interactive=True)
