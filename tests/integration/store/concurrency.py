"""Two writer processes at once on one store (the creation race included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def two_writers(
    db: str,
    *,
    runs: int = 8,
    hosts: int = 40,
    env: dict[str, str] | None = None,
    lite: tuple[bool, bool] = (False, False),
) -> list[str]:
    """Start two writer processes at the same moment on ``db``; their stderr texts (each
    process exits 0 or the assertion fails). ``lite``: which of them write as the CLI does
    (sqlite3 where it applies)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.store.writers", db, tag, str(runs), str(hosts)]
            + (["lite"] if use_lite else []),
            cwd=ROOT,
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag, use_lite in zip(("alice", "bob"), lite, strict=True)
    ]
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        errors.append(err)
    return errors
