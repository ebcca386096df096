"""Real parts for the engine: a redis-server on loopback (tests/support/redis.py), a lab
fleet, and real ``psfleet worker`` processes for sites ``a`` and ``b`` (site ``c`` has none).

Each worker gets the hosts' password through its own environment (``LAB_PASSWORD``, named by
the inventory's ``password_env``); the controller's environment never has it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.labfleet import lab_fleet_fixtures
from tests.support.redis import RedisServer, redis_server  # noqa: F401 (fixture)
from toolkit.lab.fleet import Fleet

PASSWORD = "Adm1n-Lab!"
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
SPEC = f"""
users:
  - {{name: admin, password: '{PASSWORD}', admin: true}}
hosts:
  - {{name: a1, profile: server2019, allow_from: 127.0.21.1}}
  - name: a2
    profile: server2022
    allow_from: [127.0.21.1]
    registry:
      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
  - {{name: b1, profile: win81, allow_from: 127.0.21.2}}
  - {{name: b2, profile: server2016, allow_from: 127.0.21.2}}
  - {{name: c1, profile: server2019}}
  - {{name: here1, profile: server2022}}
  - {{name: k, count: 4, profile: server2019, latency_ms: 250}}
"""
#: host -> site (None: the controller)
SITES = {"a1": "a", "a2": "a", "b1": "b", "b2": "b", "c1": "c", "here1": None}
#: site -> the address its worker connects from (the lab's hosts of the site accept only it)
SOURCES = {"a": "127.0.21.1", "b": "127.0.21.2"}

fleet, _inventory = lab_fleet_fixtures(SPEC, "engine")


def write_inventory(
    fleet: Fleet, path: Path, *, hosts: dict[str, str | None], overrides: dict[str, str] | None = None
) -> Path:
    lines = ["psfleet: 1", "defaults:", "  username: admin", "  password_env: LAB_PASSWORD", "hosts:"]
    for h in fleet.hosts:
        if h.name not in hosts:
            continue
        lines += [f"  {h.name}:", f"    address: {h.address}", f"    port: {h.port}", "    auth: ntlm"]
        if hosts[h.name]:
            lines.append(f"    site: {hosts[h.name]}")
        if overrides and h.name in overrides:
            lines.append(f"    {overrides[h.name]}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="package")
def inventories(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("engine-inv")
    live = {k: v for k, v in SITES.items() if v != "c"}
    return {
        "live": write_inventory(fleet, d / "live.yml", hosts=live),
        "all": write_inventory(fleet, d / "all.yml", hosts=SITES),
        # The same fleet run from here, each host's connections leaving from its site's address.
        "local": write_inventory(
            fleet,
            d / "local.yml",
            hosts={k: None for k in live},
            overrides={k: f"source_address: {SOURCES[v]}" for k, v in live.items() if v in SOURCES},
        ),
        "misrouted": write_inventory(fleet, d / "misrouted.yml", hosts={"a1": "a", "b1": "a"}),
        "wrong_source": write_inventory(
            fleet, d / "wrong.yml", hosts={"a1": "a"}, overrides={"a1": "password_env: NOT_ON_WORKER"}
        ),
    }


class Worker:
    """A ``psfleet worker`` process; its own state dir (journals, locks) beside its log."""

    def __init__(self, site: str, env: dict[str, str], log: Path) -> None:
        self.site = site
        self.log = log
        self.state_dir = log.with_suffix(".state")
        env = dict(env, PSFLEET_STATE_DIR=str(self.state_dir))
        source = ["--source-address", SOURCES[site]] if site in SOURCES else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit.cli", "worker", "--site", site, "--concurrency", "2", *source],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def wait_for_sites(url: str, sites: list[str], timeout: float = 30.0) -> None:
    from toolkit.engine.app import make_app
    from toolkit.engine.controller import live_sites

    app = make_app(url)
    try:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if live_sites(app, sites, 1.0) >= set(sites):
                return
        raise AssertionError(f"workers for {sites} did not come up")
    finally:
        app.close()


def controller_env(server: RedisServer) -> dict[str, str]:
    """The controller's environment: the broker URL (with its password) in PSFLEET_BROKER,
    never the hosts' password."""
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_PASSWORD", "PSFLEET_PASSWORD")}
    env.update(PSFLEET_BROKER=server.url, PSFLEET_ENGINE_WAIT="1", PSFLEET_CONFIG="")
    return env


@pytest.fixture(scope="package")
def start_worker(
    redis_server: RedisServer,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []
    logs = tmp_path_factory.mktemp("engine-workers")

    def start(
        site: str,
        *,
        password: str | None = PASSWORD,
        wait: bool = True,
        env_extra: dict[str, str] | None = None,
    ) -> Worker:
        env = dict(controller_env(redis_server), **(env_extra or {}))
        if password is not None:
            env["LAB_PASSWORD"] = password
        worker = Worker(site, env, logs / f"{site}-{len(started)}.log")
        started.append(worker)
        if wait:
            wait_for_sites(redis_server.url, [site])
        return worker

    yield start
    for w in started:
        w.stop(signal.SIGTERM, 10)


@pytest.fixture(scope="package")
def workers(start_worker: Callable[..., Worker]) -> dict[str, Worker]:
    return {site: start_worker(site) for site in ("a", "b")}
