"""What each entry point imports, seen in fresh interpreters (issue 16: configuration without
Typer below the CLI; the lab imported only by the lab and demo commands).

The commands run as users type them against a host whose port is closed (refused at once),
with ``PYTHONPROFILEIMPORTTIME`` so that worker processes report their imports too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLI_ONLY = ("typer", "click", "rich", "pydantic", "toolkit.cli")


def _imported(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def _below(modules: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(f"{p}.") for p in prefixes)}


def test_the_library_and_its_config_import_no_cli_framework() -> None:
    code = (
        "import json, sys, toolkit, toolkit.config;"
        "toolkit.Config, toolkit.load_config, toolkit.ConfigError;"
        "toolkit.config.load_config(env={'PSFLEET_CONFIG': ''});"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert _below(set(json.loads(done.stdout)), CLI_ONLY) == set()


@pytest.fixture
def dead_inventory(tmp_path: Path) -> Path:
    path = tmp_path / "dead.yml"
    path.write_text(
        "psfleet: 1\ndefaults:\n  auth: ntlm\n  username: LAB\\admin\n  password_env: PSFLEET_PASSWORD\n"
        "hosts:\n  dead01:\n    address: 127.0.0.1\n    port: 9\n"
    )
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "-f", "json", "--no-record"],
        ["remediate", "--check", "-f", "json", "--no-record"],
        ["run", "-f", "json", "Get-Item"],
    ],
    ids=lambda a: a[0],
)
def test_commands_that_connect_never_import_the_lab(
    args: list[str], dead_inventory: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSFLEET_", "_PSFLEET"))}
    env.update(
        PSFLEET_CONFIG="",
        PSFLEET_PASSWORD="not-used",
        PSFLEET_STATE_DIR=str(tmp_path / "state"),
        PSFLEET_NO_PROGRESS="1",
        PYTHONPROFILEIMPORTTIME="1",
    )
    command, *rest = args
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            command,
            "-i",
            str(dead_inventory),
            "--timeout",
            "5",
            "--retries",
            "0",
            *rest,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 8, done.stderr[-2000:]  # the host was tried and is unreachable
    assert json.loads(done.stdout)["hosts"][0]["status"] == "unreachable"
    assert _below(_imported(done.stderr), ("toolkit.lab",)) == set()


def test_remediate_exports_stay_callable_after_their_namesake_submodules_load() -> None:
    # toolkit.remediate is lazy; remediate/plan.py and remediate/rollback.py share the names
    # of the exported functions: those modules are callable and run their function
    # (tests/unit/remediate/test_package_names.py pins the import forms).
    code = (
        "import toolkit.remediate.apply, toolkit.remediate.plan, toolkit.remediate.rollback\n"
        "from toolkit.remediate import plan, remediate, rollback\n"
        "print(all(callable(f) for f in (plan, remediate, rollback)), type(remediate).__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "True function"
