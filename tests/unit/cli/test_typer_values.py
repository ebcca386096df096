"""Option values converted without pydantic are exactly what Typer makes of them.

toolkit/compat/typer_values.py converts plain values itself (Typer 0.29 imports pydantic for
every command otherwise) and leaves everything else to Typer. Here every parameter of every
command gets a set of inputs: wherever the shim answers, Typer's own conversion must give the
same value of the same type; where the input is bad, the shim must leave it to Typer (whose
message the user then reads).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from toolkit.compat.typer_values import DEFER, plain_value, typer_process_value


def _walk(command: Any, name: str = "psfleet") -> list[tuple[str, Any]]:
    found = [(name, command)]
    for sub_name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _walk(sub, f"{name} {sub_name}")
    return found


@pytest.fixture(scope="module")
def params() -> list[tuple[str, Any, Any]]:
    import typer

    from toolkit.cli.app import app

    root: Any = typer.main.get_command(app)
    out = []
    for path, command in _walk(root):
        ctx = command.context_class(command, info_name=path.split()[-1], resilient_parsing=True)
        for param in command.get_params(ctx):
            if param.callback is None:  # callbacks act (--version prints); their bools are trivial
                out.append((path, param, ctx))
    return out


def _inputs(tmp: Path) -> list[Any]:
    existing = tmp / "inventory.yml"
    existing.write_text("hosts: {}\n")
    return [
        None, (), [], "", "0", "1", "5", "64", "1024", "1025", "-1", "1.5", "0.0005", "60", "abc",
        " 5", "5 ", "1e3", "1_000", "+3", "table", "json", str(existing), str(tmp), str(tmp / "missing.yml"),
        ("a", "b"), (str(existing),), ("1", "2"), ["x"], True, False, 0, 3, 60.0, 2.5, Path("p"),
    ]  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_plain_values_equal_typers_own(params: list[tuple[str, Any, Any]], tmp_path: Path) -> None:
    compared, differ = 0, []
    for path, param, ctx in params:
        for value in [*_inputs(tmp_path), param.default]:
            plain = plain_value(param, value)
            if plain is DEFER:
                continue
            try:
                expected = typer_process_value(param, ctx, value)
            except Exception as exc:  # Typer refuses what the shim accepted
                differ.append(
                    f"{path} {param.name} {value!r}: shim {plain!r}, Typer {type(exc).__name__}: {exc}"
                )
                continue
            compared += 1
            if not _same(plain, expected):
                differ.append(f"{path} {param.name} {value!r}: shim {plain!r}, Typer {expected!r}")
    assert differ == []
    assert compared > 300, compared  # every command's options were exercised


def test_bad_values_are_left_to_typer(params: list[tuple[str, Any, Any]]) -> None:
    by_name = {(path, p.name): p for path, p, _ in params}
    forks = by_name[("psfleet audit", "forks")]
    for bad in ("0", "1025", "abc", "-1", " 5", "1e3"):
        assert plain_value(forks, bad) is DEFER, bad
    timeout = by_name[("psfleet audit", "timeout")]
    assert plain_value(timeout, "0.5") is DEFER  # below its minimum: Typer's message
    assert plain_value(timeout, "90") == 90.0


def test_commands_import_no_pydantic_for_plain_values(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from toolkit.cli import main\n"
        "try:\n"
        "    main(['audit', '--explain', '--forks', '32', '--timeout', '30', '-f', 'json', '-i', 'x.yml'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print('pydantic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False"
