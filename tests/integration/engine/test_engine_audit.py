"""Audit through the engine, with a real Redis and real ``psfleet worker`` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.integration.engine.conftest import PASSWORD, Worker, controller_env
from tests.support.redis import RedisServer


def psfleet(args: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """The report without what differs between any two runs (timestamps, durations)."""
    run = {k: v for k, v in doc["run"].items() if k not in ("started", "finished")}
    hosts = [{k: v for k, v in h.items() if k != "duration_s"} for h in doc["hosts"]]
    return {"schema": doc["schema"], "run": run, "summary": doc["summary"], "hosts": hosts}


def test_audit_through_engine_equals_local_run(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    env = controller_env(redis_server)
    local_env = dict(env, LAB_PASSWORD=PASSWORD)
    local = psfleet(["audit", "-i", str(inventories["local"]), "-f", "json"], local_env)
    # The controller has no LAB_PASSWORD: sited hosts log on with their worker's; the
    # host without a site runs here and needs it.
    engine = psfleet(["audit", "-i", str(inventories["live"]), "-f", "json", "--engine", "celery"], local_env)
    assert engine.returncode == local.returncode == 4, engine.stderr
    a, b = json.loads(local.stdout), json.loads(engine.stdout)
    a["run"]["inventory"] = b["run"]["inventory"]
    assert comparable(a) == comparable(b)
    assert [h["status"] for h in b["hosts"]] == ["drift", "compliant", "drift", "drift", "drift"]


def test_sited_hosts_need_no_password_on_the_controller(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path], tmp_path: Path
) -> None:
    inv = tmp_path / "sited.yml"
    text = inventories["live"].read_text()
    inv.write_text(text.replace("  here1:", "  zz:").split("  zz:")[0])  # drop the local host
    out = psfleet(["audit", "-i", str(inv), "-f", "json", "--engine", "celery"], controller_env(redis_server))
    assert out.returncode == 4, out.stderr
    assert {h["status"] for h in json.loads(out.stdout)["hosts"]} <= {"drift", "compliant"}


def test_site_without_worker_is_unreachable_after_a_bounded_wait(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    env = dict(controller_env(redis_server), LAB_PASSWORD=PASSWORD)
    started = time.monotonic()
    out = psfleet(["audit", "-i", str(inventories["all"]), "-f", "json", "--engine", "celery"], env)
    took = time.monotonic() - started
    assert out.returncode == 12, out.stderr
    hosts = {h["name"]: h for h in json.loads(out.stdout)["hosts"]}
    assert hosts["c1"]["status"] == "unreachable"
    assert "no worker for site c" in hosts["c1"]["error"]["message"]
    assert hosts["a1"]["status"] == "drift" and hosts["here1"]["status"] == "drift"
    assert took < 60


def test_host_routed_to_the_wrong_site_fails_as_behind_a_firewall(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    out = psfleet(
        ["audit", "-i", str(inventories["misrouted"]), "-f", "json", "--engine", "celery"],
        controller_env(redis_server),
    )
    hosts = {h["name"]: h for h in json.loads(out.stdout)["hosts"]}
    assert hosts["a1"]["status"] == "drift"
    assert hosts["b1"]["status"] == "unreachable", hosts["b1"]
    assert out.returncode == 12


def test_ndjson_streams_one_line_per_host(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    env = dict(controller_env(redis_server), LAB_PASSWORD=PASSWORD)
    out = psfleet(["audit", "-i", str(inventories["live"]), "-f", "ndjson", "--engine", "celery"], env)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(line["name"] for line in lines) == ["a1", "a2", "b1", "b2", "here1"]
    assert out.returncode == 4


def test_worker_with_the_wrong_credential_source_says_so(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    out = psfleet(
        ["audit", "-i", str(inventories["wrong_source"]), "-f", "json", "--engine", "celery"],
        controller_env(redis_server),
    )
    host = json.loads(out.stdout)["hosts"][0]
    assert host["status"] == "auth_failed"
    assert host["error"]["message"].startswith("site a worker: ")
    assert "NOT_ON_WORKER is not set" in host["error"]["message"]
    assert out.returncode == 8


def test_no_password_goes_through_the_broker(
    redis_server: RedisServer, workers: dict[str, Worker], inventories: dict[str, Path]
) -> None:
    """Every command Redis receives during a run (MONITOR) is free of the hosts' password."""
    import redis

    seen: list[str] = []
    client = redis.Redis.from_url(redis_server.url)
    stop = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            for command in monitor.listen():
                seen.append(str(command.get("command", "")))
                if stop.is_set():
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(0.3)
    env = dict(controller_env(redis_server), LAB_PASSWORD=PASSWORD)
    out = psfleet(["audit", "-i", str(inventories["live"]), "-f", "json", "--engine", "celery"], env)
    stop.set()
    client.ping()  # one more command wakes the monitor
    watcher.join(5)
    assert out.returncode == 4
    assert any("psfleet.batch" in c or "LAB_PASSWORD" in c for c in seen), "the monitor saw the run"
    assert not any(PASSWORD in c for c in seen)


def test_broker_password_in_argv_is_refused_and_never_printed(
    redis_server: RedisServer, inventories: dict[str, Path]
) -> None:
    env = {k: v for k, v in controller_env(redis_server).items() if k != "PSFLEET_BROKER"}
    audit = ["audit", "-i", str(inventories["live"]), "--engine", "celery"]
    for args in (["worker", "--site", "a"], audit):
        out = psfleet([*args, "--broker", redis_server.url], env, timeout=30)
        assert out.returncode == 2
        assert "must not carry a password" in out.stderr
        assert redis_server.password not in out.stderr + out.stdout


def test_worker_stops_cleanly_on_sigterm(start_worker: Any) -> None:
    worker = start_worker("sigterm-site")
    assert worker.stop() == 0
    assert os.path.getsize(worker.log) < 100_000


def test_source_address_is_honoured_by_both_clients(fleet: Any, tmp_path: Path) -> None:
    """The lab's a1 accepts 127.0.21.1 only: from there both clients audit it; from the
    default address both see a firewall's reset."""
    from tests.integration.engine.conftest import write_inventory

    bound = write_inventory(
        fleet, tmp_path / "bound.yml", hosts={"a1": None}, overrides={"a1": "source_address: 127.0.21.1"}
    )
    unbound = write_inventory(fleet, tmp_path / "unbound.yml", hosts={"a1": None})
    env = dict(os.environ, LAB_PASSWORD=PASSWORD, PSFLEET_CONFIG="")
    for transport in ("lean", "pypsrp"):
        ok = psfleet(
            ["audit", "-i", str(bound), "-f", "json", "--transport", transport, "--retries", "0"], env
        )
        assert json.loads(ok.stdout)["hosts"][0]["status"] == "drift", (transport, ok.stdout)
        refused = psfleet(
            ["audit", "-i", str(unbound), "-f", "json", "--transport", transport, "--retries", "0"], env
        )
        assert json.loads(refused.stdout)["hosts"][0]["status"] == "unreachable", (transport, refused.stdout)
