"""Faults with the real parts: a worker SIGKILLed mid-batch, Redis restarted mid-run.

Site ``k``'s lab hosts answer slowly (250 ms per HTTP response), so a batch is still running
when the fault strikes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.engine.conftest import PASSWORD, controller_env, write_inventory
from tests.support.redis import RedisServer

SLOW = [f"k-{i:02d}" for i in range(1, 5)]


def start_audit(inventory: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toolkit.cli",
            "audit",
            "-i",
            str(inventory),
            "-f",
            "json",
            "--engine",
            "celery",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_batch(redis_server: RedisServer, timeout: float = 20.0) -> None:
    """Until a batch is in a worker's hands (in kombu's unacked table in Redis)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    give_up = time.monotonic() + timeout
    try:
        while time.monotonic() < give_up:
            if client.hlen("unacked"):
                return
            time.sleep(0.05)
        raise AssertionError("no batch was taken by a worker")
    finally:
        client.close()


def test_worker_killed_mid_batch_hands_its_hosts_to_another(
    redis_server: RedisServer, start_worker: Callable[..., Any], fleet: Any, tmp_path: Path
) -> None:
    fast = {"PSFLEET_ENGINE_VISIBILITY": "4"}  # Redis hands an unacknowledged batch back after 4 s
    first = start_worker("k1site", env_extra=fast)
    inv = write_inventory(fleet, tmp_path / "k.yml", hosts={name: "k1site" for name in SLOW})
    env = dict(controller_env(redis_server), PSFLEET_ENGINE_WAIT="3")
    audit = start_audit(inv, env)
    wait_for_batch(redis_server)
    first.stop(signal.SIGKILL)
    start_worker("k1site", env_extra=fast)
    out, err = audit.communicate(timeout=120)
    hosts = json.loads(out)["hosts"]
    assert [h["status"] for h in hosts] == ["drift"] * 4, err
    assert audit.returncode == 4


def test_redis_restarted_mid_run(
    redis_server: RedisServer, start_worker: Callable[..., Any], fleet: Any, tmp_path: Path
) -> None:
    start_worker("k2site")
    inv = write_inventory(fleet, tmp_path / "k.yml", hosts={name: "k2site" for name in SLOW})
    env = dict(controller_env(redis_server), LAB_PASSWORD=PASSWORD)
    audit = start_audit(inv, env)
    wait_for_batch(redis_server)
    redis_server.restart(pause=1.0)
    out, err = audit.communicate(timeout=120)
    hosts = json.loads(out)["hosts"]
    assert [h["status"] for h in hosts] == ["drift"] * 4, err
    assert "unreachable; retrying" in err and redis_server.password not in err
    assert audit.returncode == 4


def test_sigterm_mid_batch_finishes_the_hosts_in_flight(
    redis_server: RedisServer, start_worker: Callable[..., Any], fleet: Any, tmp_path: Path
) -> None:
    worker = start_worker("k3site")
    inv = write_inventory(fleet, tmp_path / "k.yml", hosts={name: "k3site" for name in SLOW})
    audit = start_audit(inv, controller_env(redis_server))
    wait_for_batch(redis_server)
    assert worker.stop(signal.SIGTERM, timeout=60) == 0  # a warm shutdown: the batch first
    out, err = audit.communicate(timeout=120)
    assert [h["status"] for h in json.loads(out)["hosts"]] == ["drift"] * 4, err
    assert audit.returncode == 4
