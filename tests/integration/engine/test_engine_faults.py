"""Faults with the real parts: a worker SIGKILLed mid-batch, Redis restarted mid-run, a
worker stopped with SIGTERM mid-batch.

Site ``k``'s lab hosts answer slowly (250 ms per HTTP response), so a batch is still running
when the fault strikes (``--forks 1``: the four hosts one after the other). The tests wait
on what they can observe (the site's worker reporting the batch among its active tasks, the
controller's own line on stderr, Redis answering PING), each wait bounded and generous,
never a fixed sleep: on a loaded 2-core machine a step may take seconds. Each test stops its
worker at the end, so no copy of its batch is still at work when the next one starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.engine.conftest import PASSWORD, controller_env, write_inventory
from tests.support.redis import RedisServer

SLOW = [f"k-{i:02d}" for i in range(1, 5)]
#: Generous bounds for a loaded machine (each is a wait for an event, not a sleep).
PATIENCE = 120.0
#: The controller's wait for a site that stopped answering: long enough that a worker
#: reconnecting after a Redis restart on a loaded machine is not taken for a dead site.
ENGINE_WAIT = "30"


def start_audit(inventory: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
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
            *extra,
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
    second = start_worker("k1site", env_extra=fast)
    out, err = audit.communicate(timeout=PATIENCE)
    hosts = json.loads(out)["hosts"]
    assert [h["status"] for h in hosts] == ["drift"] * 4, err
    assert audit.returncode == 4
    assert second.stop(signal.SIGTERM, timeout=PATIENCE) == 0


def running_on(redis_server: RedisServer, site: str, timeout: float = PATIENCE) -> None:
    """Until the site's worker reports a batch among its active tasks (Celery's
    ``inspect().active()``): the batch runs there, not merely taken from the queue."""
    from toolkit.engine.app import make_app

    app = make_app(redis_server.url)
    try:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            replies = app.control.inspect(timeout=1.0).active() or {}
            if any(name.startswith(f"psfleet-{site}@") and tasks for name, tasks in replies.items()):
                return
            time.sleep(0.05)
        raise AssertionError(f"no batch running on site {site}'s worker within {timeout:g}s")
    finally:
        app.close()


class Stderr:
    """The lines a process writes to stderr, read as they come; :meth:`saw` waits for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def saw(self, text: str, timeout: float = PATIENCE) -> None:
        with self._cond:
            found = self._cond.wait_for(lambda: any(text in line for line in self.lines), timeout)
        assert found, f"{text!r} not on stderr within {timeout:g}s: {''.join(self.lines)[-2000:]}"

    def text(self) -> str:
        self._thread.join(PATIENCE)
        return "".join(self.lines)


def finish(proc: subprocess.Popen[str], stderr: Stderr) -> tuple[str, str]:
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(PATIENCE)
    return out, stderr.text()


def test_redis_restarted_mid_run(
    redis_server: RedisServer, start_worker: Callable[..., Any], fleet: Any, tmp_path: Path
) -> None:
    worker = start_worker("k2site")
    inv = write_inventory(fleet, tmp_path / "k.yml", hosts={name: "k2site" for name in SLOW})
    env = dict(controller_env(redis_server), LAB_PASSWORD=PASSWORD, PSFLEET_ENGINE_WAIT=ENGINE_WAIT)
    audit = start_audit(inv, env, "--forks", "1")
    stderr = Stderr(audit)
    running_on(redis_server, "k2site")
    # Held still, the worker cannot hand its results over before Redis is gone.
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        redis_server.stop()
        stderr.saw("unreachable; retrying")  # the controller noticed, and waits
        redis_server.start()  # back on the same port and folder once it answers PING
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    out, err = finish(audit, stderr)
    hosts = json.loads(out)["hosts"]
    assert [h["status"] for h in hosts] == ["drift"] * 4, err
    assert redis_server.password not in err
    assert audit.returncode == 4
    assert worker.stop(signal.SIGTERM, timeout=PATIENCE) == 0


def test_sigterm_mid_batch_finishes_the_hosts_in_flight(
    redis_server: RedisServer, start_worker: Callable[..., Any], fleet: Any, tmp_path: Path
) -> None:
    worker = start_worker("k3site")
    inv = write_inventory(fleet, tmp_path / "k.yml", hosts={name: "k3site" for name in SLOW})
    env = dict(controller_env(redis_server), PSFLEET_ENGINE_WAIT=ENGINE_WAIT)
    audit = start_audit(inv, env, "--forks", "1")
    stderr = Stderr(audit)
    # The batch is running (not only taken from the queue): a warm shutdown finishes it,
    # the hosts it has not started yet included.
    running_on(redis_server, "k3site")
    assert worker.stop(signal.SIGTERM, timeout=PATIENCE) == 0
    out, err = finish(audit, stderr)
    assert [h["status"] for h in json.loads(out)["hosts"]] == ["drift"] * 4, err
    assert audit.returncode == 4
