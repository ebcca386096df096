"""The public API against a lab, using only names exported by ``toolkit`` (what a runbook or an
orchestrator task imports). The lab itself is test scaffolding, not API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import toolkit
from toolkit import (
    AuditRun,
    CommandRun,
    FanoutOptions,
    HostRunResult,
    RunCommand,
    RunHooks,
    RunStatus,
    UsageError,
    WriteNotConfirmed,
    apply_limit,
    audit,
    load_inventory,
    parse_param,
    render,
    resolve_credentials,
    run,
)

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"


def strip_times(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    for key in ("started", "finished"):
        doc["run"].pop(key)
    for host in doc["hosts"]:
        host.pop("duration_s")
        if host["error"]:
            host["error"]["message"] = host["error"]["message"].split(" on ")[0]
    return doc


def test_every_public_name_resolves() -> None:
    assert "run" in toolkit.__all__ and "audit" in toolkit.__all__ and "plan" in toolkit.__all__
    for name in toolkit.__all__:
        assert getattr(toolkit, name) is not None, name


def test_run_streams_per_host_results_through_hooks(inventory: Path) -> None:
    inv = load_inventory(inventory)
    creds = resolve_credentials(inv.hosts, interactive=False)
    started: list[str] = []
    finished: list[tuple[float, str, str]] = []
    hooks = RunHooks(
        on_start=lambda host: started.append(host.name),
        on_result=lambda r: finished.append((time.monotonic(), r.name, r.status.value)),
    )
    command = RunCommand.cmdlet("Get-ItemProperty", {"Path": WS})
    result = run(inv, command, credentials=creds, options=FanoutOptions(forks=8, timeout=10), hooks=hooks)
    assert isinstance(result, CommandRun)
    assert started == ["slow-81", "fast-2012r2", "fast-2019", "down"]
    names = [n for _, n, _ in finished]
    assert sorted(names) == sorted(started)
    assert names.index("slow-81") > names.index("fast-2012r2")  # results arrive as hosts finish
    assert [h.name for h in result.hosts] == started  # the aggregate keeps inventory order
    assert result.exit_code == 8
    by_name = {h.name: h for h in result.hosts}
    assert isinstance(by_name["fast-2012r2"], HostRunResult)
    assert by_name["down"].status is RunStatus.UNREACHABLE
    (obj,) = by_name["fast-2012r2"].output
    value = obj.get("RequireSecureNegotiate")
    assert value is not None and (value.type, value.value) == ("Int32", 0)


def test_run_result_serializes_like_the_cli(inventory: Path) -> None:
    inv = apply_limit(load_inventory(inventory), ["fast-2012r2,down"])
    creds = resolve_credentials(inv.hosts, interactive=False)
    params = [parse_param(f"Path={WS}"), parse_param("Name=RequireSecureNegotiate")]
    result = run(inv, RunCommand.cmdlet("Get-ItemProperty", params), credentials=creds,
                 options=FanoutOptions(timeout=10))  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "run", "-i", str(inventory), "--limit", "fast-2012r2,down",
         "--format", "json", "--timeout", "10", "--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}",
         "--param", "Name=RequireSecureNegotiate"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PSFLEET_CONFIG": ""},
    )  # fmt: skip
    cli = json.loads(proc.stdout)
    assert strip_times(result.to_dict()) == strip_times(cli)
    assert render(result, "json") == json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


def test_writes_need_allow_write(inventory: Path, workstation_value: Callable[[str, str], Any]) -> None:
    inv = apply_limit(load_inventory(inventory), ["fast-2019"])
    creds = resolve_credentials(inv.hosts, interactive=False)
    line = f'Set-ItemProperty -Path "{WS}" RequireSecureNegotiate -Value 0 -Force'
    with pytest.raises(WriteNotConfirmed) as exc:
        run(inv, line, credentials=creds)
    assert isinstance(exc.value, UsageError)
    assert workstation_value("fast-2019", "RequireSecureNegotiate") is None
    result = run(inv, line, credentials=creds, allow_write=True)
    assert result.exit_code == 0
    assert workstation_value("fast-2019", "RequireSecureNegotiate") == ("DWord", 0)


def test_audit_through_the_api_and_stop(inventory: Path) -> None:
    inv = load_inventory(inventory)
    creds = resolve_credentials(inv.hosts, interactive=False)
    result = audit(inv, credentials=creds, options=FanoutOptions(timeout=10))
    assert isinstance(result, AuditRun)
    assert {h.name: h.status.value for h in result.hosts}["down"] == "unreachable"
    assert "secure_negotiate" in render(result, "table")
    stop = threading.Event()
    stop.set()
    stopped = run(inv, "Get-ItemProperty -Path HKLM:\\SOFTWARE", credentials=creds, stop=stop)
    assert stopped.interrupted and len(stopped.hosts) == len(inv.hosts)
