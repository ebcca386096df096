"""The worked examples of docs/runbooks.md, extracted and run as they are against the lab."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from toolkit.config import load_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "runbooks.md"


def block(name: str) -> str:
    """The fenced block of docs/runbooks.md whose first line is ``# tested: NAME``."""
    for match in re.finditer(r"```\w*\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        body = match.group(1)
        if body.startswith(f"# tested: {name}\n"):
            return body
    raise AssertionError(f"no '# tested: {name}' block in {DOC}")


def env_for(inventory: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PSFLEET_INVENTORY": str(inventory), "PSFLEET_CONFIG": "", "PSFLEET_NO_PROGRESS": "1",
            **extra}  # fmt: skip


def test_ci_block_fails_on_drift_and_writes_junit(inventory: Path, tmp_path: Path) -> None:
    proc = subprocess.run(["bash", "-c", block("ci")], cwd=tmp_path, env=env_for(inventory, PSFLEET_TIMEOUT="10"),
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    # The lab has drift (win81 defaults differ from the secure baseline) and an unreachable host.
    assert proc.returncode == 12, proc.stderr
    assert "drift found" in proc.stderr and "could not be assessed" in proc.stderr
    suite = ET.parse(tmp_path / "reports" / "psfleet-audit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) > 0 and int(suite.get("errors", "0")) > 0


def test_dated_report_block(inventory: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = subprocess.run(["bash", "-c", block("dated")], env=env_for(inventory, REPORT_DIR=str(reports),
                          PSFLEET_TIMEOUT="10"), capture_output=True, text=True, timeout=180)  # fmt: skip
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert proc.returncode == 12, proc.stderr
    doc = json.loads((reports / f"audit-{day}.json").read_text())
    assert doc["schema"] == "psfleet.audit/1" and doc["run"]["exit_code"] == 12
    assert (reports / f"audit-{day}.md").read_text().startswith("# psfleet audit")
    assert "gone" in (reports / f"retry-{day}.yml").read_text()


def test_orchestrator_block_uses_the_api(inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    namespace: dict[str, Any] = {}
    exec(compile(block("orchestrator"), str(DOC), "exec"), namespace)
    monkeypatch.chdir(tmp_path)
    assert namespace["audit_fleet"](str(inventory), ["trap-81,srv2019"]) == ["trap-81", "srv2019"]
    assert json.loads((tmp_path / "audit.json").read_text())["schema"] == "psfleet.audit/1"
    assert "trap-81 drift" in capsys.readouterr().out  # streamed through the hook
    with pytest.raises(RuntimeError, match="not assessed: \\['gone'\\]"):
        namespace["audit_fleet"](str(inventory), ["gone"])
    values = namespace["read_secure_negotiate"](str(inventory))
    assert values["trap-81"] == ("String", "0")


def test_config_block_is_a_valid_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(block("config"), encoding="utf-8")
    config = load_config(path)
    assert config.get("timeout", "run") == 30 and config.get("timeout", "audit") == 90
    assert config.get("inventory") == str(tmp_path / "fleet.yml")
