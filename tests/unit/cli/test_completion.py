"""Tab completion's fast path answers exactly as Typer does, without importing Typer.

The fast path (toolkit/cli/completion.py) answers from a table of the command tree cached in
the user's cache folder; these tests build that table from the real CLI and compare its
answers with Typer's own for a set of command lines, bash and zsh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from toolkit.cli import completion

ROOT = Path(__file__).resolve().parents[3]
INVENTORY = str(ROOT / "inventory" / "ansible-example.ini")

#: (shell, command line as typed, extra environment). Bash lines end where the cursor is.
CASES: list[tuple[str, str, dict[str, str]]] = [
    ("bash", "psfleet ", {}),
    ("bash", "psfleet au", {}),
    ("bash", "psfleet inven", {}),
    ("bash", "psfleet -", {}),
    ("bash", "psfleet --", {}),
    ("bash", "psfleet --inventory-backend ", {}),
    ("bash", "psfleet --inventory-backend auto au", {}),
    ("bash", "psfleet --show-skipped --", {}),
    ("bash", "psfleet audit ", {}),
    ("bash", "psfleet audit -", {}),
    ("bash", "psfleet audit --f", {}),
    ("bash", "psfleet audit --format ", {}),
    ("bash", "psfleet audit --format pro", {}),
    ("bash", "psfleet audit -f ", {}),
    ("bash", "psfleet audit --format json --f", {}),
    ("bash", "psfleet audit --limit a --limit b --l", {}),
    ("bash", "psfleet audit -v --forks 3 --timeout 5 --", {}),
    ("bash", "psfleet audit --table-format gi", {}),
    ("bash", "psfleet audit --table-format ", {}),
    ("bash", f"psfleet audit -i {INVENTORY} --limit ", {}),
    ("bash", f"psfleet audit -i {INVENTORY} --limit fs", {}),
    ("bash", f"psfleet audit -i {INVENTORY} --limit branch,fs", {}),
    ("bash", f"psfleet audit -i {INVENTORY} -l !f", {}),
    ("bash", f"psfleet audit --inventory {INVENTORY} --format json -l ~b", {}),
    ("bash", "psfleet audit --limit br", {"PSFLEET_INVENTORY": INVENTORY}),
    ("bash", "psfleet audit -i /nonexistent.yml --limit ", {}),
    ("bash", "psfleet audit --limit ", {}),
    ("bash", "psfleet audit --forks ", {}),
    ("bash", "psfleet audit --limit -", {}),
    ("bash", "psfleet audit x --f", {}),
    ("bash", "psfleet audit -vv --format ", {}),
    ("bash", "psfleet audit --format = js", {}),
    ("bash", "psfleet audit -- --f", {}),
    ("bash", "psfleet audit --nosuch ", {}),
    ("bash", "psfleet nosuch ", {}),
    ("bash", "psfleet run ", {}),
    ("bash", "psfleet run --format ", {}),
    ("bash", "psfleet run --table-format s", {}),
    ("bash", "psfleet run Get-Item --", {}),
    ("bash", f"psfleet run -i {INVENTORY} --limit fs0", {}),
    ("bash", "psfleet remediate --table-format ", {}),
    ("bash", f"psfleet remediate -i {INVENTORY} --limit fs", {}),
    ("bash", "psfleet remediate --", {}),
    ("bash", "psfleet rollback --", {}),
    ("bash", "psfleet inventory ", {}),
    ("bash", "psfleet inventory l", {}),
    ("bash", "psfleet inventory list --format ", {}),
    ("bash", f"psfleet inventory list -i {INVENTORY} -l fs", {}),
    ("bash", "psfleet inventory list -", {}),
    ("bash", "psfleet baseline ", {}),
    ("bash", "psfleet baseline show ", {}),
    ("bash", "psfleet baseline check a b ", {}),
    ("bash", "psfleet probe smb --table-format ", {}),
    ("bash", "psfleet probe ", {}),
    ("bash", "psfleet diagnose ", {}),
    ("bash", "psfleet lab ", {}),
    ("bash", "psfleet lab serve --", {}),
    ("bash", "psfleet demo --", {}),
    ("bash", "psfleet history --format ", {}),
    ("bash", "psfleet history --", {}),
    ("bash", "psfleet diff ", {}),
    ("bash", "psfleet diff a b ", {}),
    ("bash", "psfleet report --", {}),
    ("bash", "psfleet worker --", {}),
    ("zsh", "psfleet audit --format ", {}),
    ("zsh", "psfleet audit --format j", {}),
    ("zsh", "psfleet audit --table-format ", {}),
    ("zsh", "psfleet audit --forks ", {}),
    ("zsh", f"psfleet audit -i {INVENTORY} --limit fs", {}),
    ("zsh", 'psfleet audit --limit "br', {"PSFLEET_INVENTORY": INVENTORY}),
    ("zsh", "psfleet ", {}),
    ("zsh", "psfleet audit --f", {}),
    ("zsh", "psfleet run --format", {}),
]

#: The requests users make all the time: the fast path must answer these itself.
COMMON = {
    "psfleet ",
    "psfleet au",
    "psfleet -",
    "psfleet audit -",
    "psfleet audit --f",
    "psfleet audit --format ",
    "psfleet audit --format pro",
    "psfleet audit --table-format gi",
    f"psfleet audit -i {INVENTORY} --limit fs",
    "psfleet audit --limit br",
    "psfleet run --format ",
    f"psfleet remediate -i {INVENTORY} --limit fs",
    "psfleet inventory list --format ",
    f"psfleet inventory list -i {INVENTORY} -l fs",
    "psfleet probe smb --table-format ",
    "psfleet history --",
}


#: The fast path's cache folder for the in-process answers (set per module run).
CACHE_DIR: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    CACHE_DIR[:] = [tmp_path_factory.mktemp("completion-cache")]


def _environ(shell: str, line: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PSFLEET_", "_PSFLEET", "COMP_", "_TYPER"))
    }
    env.update(PSFLEET_CONFIG="", PSFLEET_COMPLETION_CACHE=str(CACHE_DIR[0] / "table.json"))
    env.update(extra)
    if shell == "bash":
        words = line.split(" ")
        env.update(COMP_WORDS=line, COMP_CWORD=str(len(words) - 1))
    else:
        env["_TYPER_COMPLETE_ARGS"] = line
    env["_PSFLEET_COMPLETE"] = f"complete_{shell}"
    return env


#: Runs Typer's own completion for each request (fast path off) in one process.
TYPER_ANSWERS = r"""
import contextlib, io, json, os, sys
from toolkit.cli import run
answers = []
for env in json.load(sys.stdin):
    os.environ.clear()
    os.environ.update(env)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            run(None)
        except SystemExit:
            pass
    answers.append(out.getvalue())
json.dump(answers, sys.__stdout__)
"""


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    from toolkit.cli import _tree

    return _tree()


@pytest.fixture(scope="module")
def typer_answers() -> list[str]:
    envs = [_environ(shell, line, extra) for shell, line, extra in CASES]
    for env in envs:
        env["PSFLEET_COMPLETION_CACHE"] = ""
    done = subprocess.run(
        [sys.executable, "-c", TYPER_ANSWERS],
        input=json.dumps(envs),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    answers: list[str] = json.loads(done.stdout)
    return answers


def test_fast_answers_equal_typers(table: dict[str, Any], typer_answers: list[str]) -> None:
    answered, differ = set(), []
    for (shell, line, extra), typer_says in zip(CASES, typer_answers, strict=True):
        fast = completion.respond(table, shell, _environ(shell, line, extra))
        if fast is None:
            continue
        answered.add(line)
        if fast + "\n" != typer_says:
            differ.append(f"{shell} {line!r}: fast {fast!r}, Typer {typer_says!r}")
    assert differ == []
    assert COMMON - answered == set()
    # What the fast path leaves to Typer, on purpose.
    for line in ("psfleet audit -vv --format ", "psfleet audit -- --f", "psfleet nosuch "):
        shell_env = _environ("bash", line, {})
        assert completion.respond(table, "bash", shell_env) is None, line


def test_answers_users_expect(table: dict[str, Any]) -> None:
    def ask(line: str, **extra: str) -> list[str]:
        text = completion.respond(table, "bash", _environ("bash", line, extra))
        assert text is not None, line
        return text.split()

    assert ask("psfleet audit --format ") == [
        "table",
        "json",
        "ndjson",
        "csv",
        "markdown",
        "junit",
        "prometheus",
    ]
    assert "prometheus" not in ask("psfleet run --format ")
    assert ask(f"psfleet audit -i {INVENTORY} --limit fs") == [
        "fs01.lab.example",
        "fs02.lab.example",
        "fs03.lab.example",
        "fs10.lab.example",
    ]
    assert ask("psfleet audit --limit br", PSFLEET_INVENTORY=INVENTORY) == ["branch", "br01.lab.example"]
    assert "--format" not in ask("psfleet audit --format json --")  # given once already
    assert "--limit" in ask("psfleet audit --limit a --")  # repeatable
    assert ask("psfleet inventory list --format ") == ["table", "json"]


def _psfleet(env: dict[str, str], *python_flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "toolkit.cli"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_first_completion_builds_the_table_then_answers_without_typer(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "completion.json"
    env = _environ("bash", "psfleet audit --format n", {"PSFLEET_COMPLETION_CACHE": str(cache)})
    first = _psfleet(env)
    assert (first.returncode, first.stdout) == (0, "ndjson\n")
    assert cache.exists()

    again = _psfleet(env, "-X", "importtime")
    assert (again.returncode, again.stdout) == (0, "ndjson\n")
    modules = {line.split("|")[-1].strip() for line in again.stderr.splitlines() if "|" in line}
    heavy = ("typer", "click", "rich", "pydantic", "toolkit.lab", "toolkit.transport", "tabulate")
    assert {m for m in modules if m.split(".")[0] in heavy or m.startswith(heavy)} == set()

    # A table built from other sources than the installed ones is not used: Typer answers
    # (the same) and the table is rebuilt.
    stale = json.loads(cache.read_text())
    stale["sources"][0][2] += 1
    cache.write_text(json.dumps(stale))
    third = _psfleet(env, "-X", "importtime")
    assert (third.returncode, third.stdout) == (0, "ndjson\n")
    assert "typer" in {line.split("|")[-1].strip() for line in third.stderr.splitlines() if "|" in line}
    assert json.loads(cache.read_text())["sources"] != stale["sources"]


def test_an_empty_cache_setting_turns_the_fast_path_off(tmp_path: Path) -> None:
    env = _environ("bash", "psfleet audit --format n", {"PSFLEET_COMPLETION_CACHE": ""})
    env["XDG_CACHE_HOME"] = str(tmp_path)
    answer = _psfleet(env)
    assert (answer.returncode, answer.stdout) == (0, "ndjson\n")
    assert list(tmp_path.iterdir()) == []


def test_limit_names_are_remembered_until_the_inventory_changes(
    table: dict[str, Any], tmp_path: Path
) -> None:
    inventory = tmp_path / "fleet.yml"
    inventory.write_text("hosts:\n  fs01: {address: 10.0.0.1}\n")
    line = f"psfleet audit -i {inventory} --limit fs"
    (tmp_path / "c").mkdir()
    env = _environ("bash", line, {"PSFLEET_COMPLETION_CACHE": str(tmp_path / "c" / "table.json")})
    assert completion.respond(table, "bash", env) == "fs01"
    assert (tmp_path / "c" / "table.limit.json").exists()
    assert completion.respond(table, "bash", env) == "fs01"  # from the remembered names
    inventory.write_text("hosts:\n  fs01: {address: 10.0.0.1}\n  fs02: {address: 10.0.0.2}\n")
    assert completion.respond(table, "bash", env) == "fs01\nfs02"
