"""``psfleet run`` through the engine gives the local run's report (typed values included)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.engine.conftest import PASSWORD, Worker, controller_env
from tests.integration.engine.test_engine_audit import comparable, psfleet
from tests.support.redis import RedisServer

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"


def test_run_through_engine_equals_local_run(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    env = dict(controller_env(redis_server), LAB_PASSWORD=PASSWORD)
    for command in (
        ["--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}"],
        [f"Get-ItemProperty -Path '{WS}'; Get-Item -Path 'HKLM:\\NoSuchKey'"],
    ):
        local = psfleet(["run", "-i", str(inventories["local"]), "-f", "json", *command], env)
        engine = psfleet(
            ["run", "-i", str(inventories["live"]), "-f", "json", "--engine", "celery", *command], env
        )
        assert engine.returncode == local.returncode, engine.stderr
        a, b = json.loads(local.stdout), json.loads(engine.stdout)
        a["run"]["inventory"] = b["run"]["inventory"]
        assert comparable(a) == comparable(b)
        assert all(h["status"] in ("ok", "command_errors") for h in b["hosts"])
        assert any(h["output"] for h in b["hosts"])


def test_run_on_a_site_without_worker(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    env = dict(controller_env(redis_server), LAB_PASSWORD=PASSWORD)
    out = psfleet(
        [
            "run",
            "-i",
            str(inventories["all"]),
            "-f",
            "json",
            "--engine",
            "celery",
            *("--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}"),
        ],
        env,
    )
    hosts = {h["name"]: h for h in json.loads(out.stdout)["hosts"]}
    assert (
        hosts["c1"]["status"] == "unreachable" and "no worker for site c" in hosts["c1"]["error"]["message"]
    )
    assert hosts["a1"]["status"] == "ok" and hosts["here1"]["status"] == "ok"
    assert out.returncode == 8
