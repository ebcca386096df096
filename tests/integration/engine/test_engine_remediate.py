"""Remediation and rollback through the engine, with a real Redis and real site workers.

The engine's report is the local run's (field by field, timestamps, run ids and journal paths
aside); its one merged journal rolls back locally and through the engine alike; a worker
SIGKILLed mid-remediation hands its hosts to another and rollback still restores every prior
value; the per-host lease holds across two controllers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine.conftest import PASSWORD, SRV, WS, Worker, controller_env, write_inventory
from tests.integration.engine.test_engine_audit import psfleet
from tests.support.redis import RedisServer
from toolkit.lab.fleet import Fleet
from toolkit.remediate import read_journal

MANAGED = {
    "secure_negotiate": (WS, "RequireSecureNegotiate"),
    "client_signing": (WS, "RequireSecuritySignature"),
    "server_signing": (SRV, "RequireSecuritySignature"),
}
SLOW = [f"k-{i:02d}" for i in range(1, 5)]


def lab_state(fleet: Fleet, hosts: list[str]) -> dict[str, dict[str, Any]]:
    return {
        h: {s: fleet.sim(h).registry.get_value(key, name) for s, (key, name) in MANAGED.items()}
        for h in hosts
    }


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A remediation report without what differs between any two runs (timestamps,
    durations, the run's id and its journal's path)."""
    run = {k: v for k, v in doc["run"].items() if k not in ("started", "finished", "id", "journal")}
    hosts = [{k: v for k, v in h.items() if k != "duration_s"} for h in doc["hosts"]]
    rest = {k: v for k, v in doc.items() if k not in ("run", "hosts")}
    return {**rest, "run": run, "hosts": hosts}


def journal_rules(doc: dict[str, Any], journal: Path) -> dict[str, Any]:
    """A rollback report with each "journal line N" checked against ``journal`` (line N is
    that host's intent for that setting) and then left out: the local and the merged journal
    hold the same intents, on other lines."""
    lines = journal.read_text().splitlines()
    for host in doc["hosts"]:
        for item in (*host["changes"], *host["checks"]):
            if item["rule"].startswith("journal line "):
                record = json.loads(lines[int(item["rule"].rsplit(" ", 1)[1]) - 1])
                assert (record["type"], record["host"], record["setting"]) == (
                    "intent",
                    host["name"],
                    item["id"],
                )
                item["rule"] = "journal line (checked)"
    return doc


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    """The controller's environment, with its own state dir and the password of the one
    host without a site (sited hosts log on with their worker's)."""
    return dict(
        controller_env(redis_server), LAB_PASSWORD=PASSWORD, PSFLEET_STATE_DIR=str(tmp_path / "state")
    )


def remediate(inv: Path, journal: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return psfleet(
        ["remediate", "-i", str(inv), "-f", "json", "--yes", "--journal", str(journal), *extra], env
    )


def start_remediate(inv: Path, journal: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``psfleet remediate --engine celery`` in the background."""
    args = [
        "remediate",
        "-i",
        str(inv),
        "-f",
        "json",
        "--yes",
        "--journal",
        str(journal),
        "--engine",
        "celery",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rollback(journal: Path, inv: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return psfleet(
        ["rollback", "--journal", str(journal), "-i", str(inv), "-f", "json", "--yes", *extra], env
    )


def test_remediate_and_rollback_through_engine_equal_local_runs(
    fleet: Fleet,
    workers: dict[str, Worker],
    inventories: dict[str, Path],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    names = ["a1", "a2", "b1", "b2", "here1"]
    before = lab_state(fleet, names)
    local_journal, merged = tmp_path / "local.jsonl", tmp_path / "merged.jsonl"

    local = remediate(inventories["local"], local_journal, env)
    assert local.returncode == 0, local.stderr
    changed = lab_state(fleet, names)
    assert changed != before
    local_undo = rollback(local_journal, inventories["local"], env)
    assert local_undo.returncode == 0, local_undo.stderr
    assert lab_state(fleet, names) == before

    engine = remediate(inventories["live"], merged, env, "--engine", "celery")
    assert engine.returncode == 0, engine.stderr
    a, b = json.loads(local.stdout), json.loads(engine.stdout)
    a["run"]["inventory"] = b["run"]["inventory"]
    assert comparable(a) == comparable(b)
    assert [h["status"] for h in b["hosts"]] == ["compliant"] * 5
    assert lab_state(fleet, names) == changed
    assert (
        f"undo: psfleet rollback --journal {merged} -i {inventories['live']} --engine celery" in engine.stderr
    )

    # ONE journal for the run, in a local run's format: the sited hosts' intents are in it.
    journal = read_journal(merged)
    assert journal.ended and journal.header["command"] == "remediate"
    assert {i.host for i in journal.intents} == {i.host for i in read_journal(local_journal).intents}
    assert {i.run_id for i in journal.intents} == {journal.run_id}

    undo = rollback(merged, inventories["live"], env, "--engine", "celery")
    assert undo.returncode == 0, undo.stderr
    a = journal_rules(json.loads(local_undo.stdout), local_journal)
    b = journal_rules(json.loads(undo.stdout), merged)
    a["run"]["inventory"] = b["run"]["inventory"]
    assert comparable(a) == comparable(b)
    assert lab_state(fleet, names) == before

    # The merged journal also rolls back without the engine (each host from its site's address).
    again = remediate(inventories["live"], tmp_path / "again.jsonl", env, "--engine", "celery")
    assert again.returncode == 0 and lab_state(fleet, names) == changed, again.stderr
    plain = rollback(tmp_path / "again.jsonl", inventories["local"], env)
    assert plain.returncode == 0, plain.stderr
    assert lab_state(fleet, names) == before


def test_check_through_engine_plans_on_the_sites(
    fleet: Fleet, workers: dict[str, Worker], inventories: dict[str, Path], env: dict[str, str]
) -> None:
    names = ["a1", "a2", "b1", "b2", "here1"]
    before = lab_state(fleet, names)
    local = psfleet(["remediate", "-i", str(inventories["local"]), "-f", "json", "--check"], env)
    engine = psfleet(
        ["remediate", "-i", str(inventories["live"]), "-f", "json", "--check", "--engine", "celery"], env
    )
    assert engine.returncode == local.returncode == 4, engine.stderr
    a, b = json.loads(local.stdout), json.loads(engine.stdout)
    a["run"]["inventory"] = b["run"]["inventory"]
    assert comparable(a) == comparable(b)
    assert lab_state(fleet, names) == before


def first_intent_line(folder: Path, timeout: float = 60.0) -> None:
    """Until a worker's own journal under ``folder`` holds an intent (fsynced before its
    write goes out): the worker is in the middle of writing."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        for path in folder.glob("journals/engine-remediate-*.jsonl"):
            if '"type": "intent"' in path.read_text(errors="replace"):
                return
        time.sleep(0.02)
    raise AssertionError(f"no intent journaled under {folder} within {timeout:g}s")


def test_worker_killed_mid_remediation_hosts_finish_on_redelivery_and_rollback_restores(
    fleet: Fleet,
    start_worker: Callable[..., Worker],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    before = lab_state(fleet, SLOW)
    fast = {"PSFLEET_ENGINE_VISIBILITY": "4"}  # Redis hands an unacknowledged batch back after 4 s
    first = start_worker("k4site", env_extra=fast)
    inv = write_inventory(fleet, tmp_path / "k.yml", hosts={name: "k4site" for name in SLOW})
    merged = tmp_path / "merged.jsonl"
    run = start_remediate(inv, merged, dict(env, PSFLEET_ENGINE_WAIT="3"))
    try:
        first_intent_line(first.state_dir)
        first.stop(signal.SIGKILL)
        second = start_worker("k4site", env_extra=fast)
        out, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert [h["status"] for h in json.loads(out)["hosts"]] == ["compliant"] * 4
    # The dead worker's intents came back before it died; the merged journal's first intent
    # of each (host, setting) holds the value from before the run.
    journal = read_journal(merged)
    firsts: dict[tuple[str, str], Any] = {}
    for intent in journal.intents:
        firsts.setdefault((intent.host, intent.setting), intent)
    assert firsts
    for (host, setting), intent in firsts.items():
        prior = before[host][setting]
        assert (intent.before.kind, intent.before.value) == (prior if prior else (None, None))
    assert list(second.state_dir.glob("journals/engine-remediate-*.jsonl"))
    undo = rollback(merged, inv, env, "--engine", "celery")
    assert undo.returncode == 0, undo.stderr
    assert lab_state(fleet, SLOW) == before
    second.stop()


@pytest.fixture
def held_back(start_worker: Callable[..., Worker]) -> Iterator[Callable[[], Worker]]:
    """Starts site k5site's worker on demand (until then, a run for it waits for one)."""
    started: list[Worker] = []

    def start() -> Worker:
        started.append(start_worker("k5site"))
        return started[-1]

    yield start
    for w in started:
        w.stop()


def test_lease_holds_across_two_controllers(
    fleet: Fleet,
    redis_server: RedisServer,
    held_back: Callable[[], Worker],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    import redis

    before = lab_state(fleet, SLOW)
    inv = write_inventory(fleet, tmp_path / "k.yml", hosts={name: "k5site" for name in SLOW})
    journal1 = tmp_path / "first.jsonl"
    # The first controller takes the hosts' leases, then waits (up to 60 s) for a worker.
    first = start_remediate(inv, journal1, dict(env, PSFLEET_ENGINE_WAIT="60"))
    try:
        client = redis.Redis.from_url(redis_server.url)
        give_up = time.monotonic() + 60
        while client.exists(*(f"psfleet:lease:{h}" for h in SLOW)) < len(SLOW):
            assert time.monotonic() < give_up and first.poll() is None, "the first run took no leases"
            time.sleep(0.05)
        client.close()
        run_id = read_journal(journal1).run_id
        second = remediate(inv, tmp_path / "second.jsonl", env, "--engine", "celery")
        hosts = json.loads(second.stdout)["hosts"]
        assert [h["status"] for h in hosts] == ["busy"] * 4, second.stderr
        for h in hosts:
            assert h["error"]["message"].startswith(
                f"busy: run {run_id} holds this host (engine lease in Redis"
            )
        assert f"busy: k-01: busy: run {run_id}" in second.stderr
        assert second.returncode == 8
        assert not read_journal(tmp_path / "second.jsonl").intents
        assert lab_state(fleet, SLOW) == before  # the second run wrote nothing
        held_back()
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert [h["status"] for h in json.loads(out)["hosts"]] == ["compliant"] * 4
    undo = rollback(journal1, inv, env, "--engine", "celery")
    assert undo.returncode == 0, undo.stderr
    assert lab_state(fleet, SLOW) == before


def test_a_sites_workaround_is_recorded_on_the_controller(
    fleet: Fleet,
    workers: dict[str, Worker],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    before = lab_state(fleet, ["b1"])
    inv = write_inventory(
        fleet,
        tmp_path / "b1.yml",
        hosts={"b1": "b"},
        overrides={"b1": 'policy: {"secure_negotiate": "disabled"}'},
    )
    journal = tmp_path / "weak.jsonl"
    run = remediate(inv, journal, env, "--engine", "celery", "--allow-insecure", "--expires", "12h")
    assert run.returncode == 0, run.stderr
    assert fleet.sim("b1").registry.get_value(WS, "RequireSecureNegotiate") == ("DWord", 0)
    book = Path(env["PSFLEET_STATE_DIR"]) / "workarounds.json"
    entry = json.loads(book.read_text())["hosts"]["b1"]["secure_negotiate"]
    assert entry["journal"] == str(journal.resolve()) and entry["run_id"] == read_journal(journal).run_id
    # The controller's audit accepts the site's workaround until it expires.
    audit = psfleet(["audit", "-i", str(inv), "-f", "json", "--engine", "celery"], env)
    check = next(c for c in json.loads(audit.stdout)["hosts"][0]["checks"] if c["id"] == "secure_negotiate")
    assert "temporary workaround until" in check["reason"], audit.stderr
    undo = rollback(journal, inv, env, "--engine", "celery")
    assert undo.returncode == 0, undo.stderr
    assert json.loads(book.read_text())["hosts"] == {}
    assert lab_state(fleet, ["b1"]) == before
