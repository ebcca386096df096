"""``psfleet lab serve`` as a user runs it: a subprocess on per-host loopback addresses,
its inventory and fleet JSON, an audit against it, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

HOSTS = 50


def _psfleet() -> list[str]:
    exe = shutil.which("psfleet")
    return [exe] if exe else [sys.executable, "-m", "toolkit.cli"]


def _wait_for(paths: list[Path], proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(p.exists() for p in paths):
            return
        if proc.poll() is not None:
            raise AssertionError(f"lab serve exited early ({proc.returncode}): {proc.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.1)
    raise AssertionError("lab serve did not write its files in time")


@pytest.fixture
def served_lab(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    # A random 127.x/16 block, so parallel runs on one machine do not collide on 5985.
    base = f"127.{random.randint(64, 250)}.0.1"
    inventory, fleet_json = tmp_path / "lab.yml", tmp_path / "lab.json"
    proc = subprocess.Popen(
        [
            *_psfleet(),
            "lab",
            "serve",
            "--hosts",
            str(HOSTS),
            "--profile",
            "mixed",
            "--inventory-out",
            str(inventory),
            "--fleet-json",
            str(fleet_json),
            "--addressing",
            "ip",
            "--base-address",
            base,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for([inventory, fleet_json], proc, 30)
        yield proc, inventory, fleet_json
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_lab_serve_writes_files_serves_an_audit_and_stops_on_sigterm(
    served_lab: tuple[subprocess.Popen[bytes], Path, Path],
) -> None:
    proc, inventory, fleet_json = served_lab
    hosts = json.loads(fleet_json.read_text())
    assert len(hosts) == HOSTS
    for key in ("name", "address", "port", "scheme", "auth", "username", "password", "ca_file"):
        assert all(key in h for h in hosts), key
    assert len({h["address"] for h in hosts}) == HOSTS  # one loopback address per host
    assert all(h["address"].startswith("127.") and h["port"] == 5985 for h in hosts)
    assert oct(fleet_json.stat().st_mode & 0o777) == "0o600"  # it holds passwords

    audit = subprocess.run(
        [*_psfleet(), "audit", "-i", str(inventory), "--format", "json"],
        cwd=inventory.parent,
        capture_output=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert audit.returncode in (0, 4), audit.stderr.decode()[-2000:]  # 4: drift found, all assessed
    report = json.loads(audit.stdout)
    assert report["summary"]["total"] == HOSTS
    assert report["summary"]["compliant"] + report["summary"]["drift"] == HOSTS
    assert {h["os"]["build"] for h in report["hosts"]} >= {7601, 9600, 17763}

    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert time.monotonic() - start < 5
    assert proc.returncode == 0
    assert b"lab stopped" in proc.stderr.read()  # type: ignore[union-attr]


@pytest.mark.parametrize("address", ["0.0.0.0", "10.1.2.3", "not-an-address"])
def test_a_non_loopback_base_address_is_a_usage_error(address: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [*_psfleet(), "lab", "serve", "--hosts", "1", "--base-address", address],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith("psfleet: error: --base-address: ") and address in line


def test_a_second_lab_serve_moves_to_free_addresses(tmp_path: Path) -> None:
    """Another lab (here a plain listener) holds the default 127.10.0.1:5985."""
    blocker: socket.socket | None = socket.socket()
    try:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.10.0.1", 5985))
        blocker.listen()
    except OSError:  # already held, by another lab on this machine: the same situation
        blocker.close()
        blocker = None
    fleet_json = tmp_path / "lab.json"
    proc = subprocess.Popen(
        [
            *_psfleet(),
            "lab",
            "serve",
            "--hosts",
            "3",
            "--profile",
            "server2019",
            "--fleet-json",
            str(fleet_json),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for([fleet_json], proc, 30)
        hosts = json.loads(fleet_json.read_text())
        assert all(h["port"] == 5985 and h["address"].startswith("127.") for h in hosts)
        assert "127.10.0.1" not in {h["address"] for h in hosts}
        with RunspacePool(
            WSMan(
                hosts[0]["address"],
                port=5985,
                ssl=False,
                auth=hosts[0]["auth"],
                username=hosts[0]["username"],
                password=hosts[0]["password"],
                connection_timeout=5,
            )
        ) as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Test-Path").add_argument(r"HKLM:\SOFTWARE")
            assert ps.invoke() == [True]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        if blocker is not None:
            blocker.close()
    assert b"is taken" in proc.stderr.read()  # type: ignore[union-attr]


def test_an_alias_bomb_spec_is_refused_at_once(tmp_path: Path) -> None:
    """A few hundred bytes of nested YAML aliases (387 million nodes if expanded) fail fast
    with file:line, before any memory is spent on them."""
    spec = tmp_path / "bomb.yml"
    spec.write_text(
        "".join(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
            for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
        )
        + "hosts: [{name: h}]\n"
    )
    proc = subprocess.run(
        [*_psfleet(), "lab", "serve", "--spec", str(spec)], cwd=tmp_path, capture_output=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith(f"psfleet: error: {spec}:6: YAML aliases expand to more than"), line


def _listener(address: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen()
    return sock


@pytest.mark.parametrize("mode", ["ip", "port"])
def test_an_address_the_user_chose_that_is_in_use_is_a_usage_error(mode: str, tmp_path: Path) -> None:
    """Another lab (here a plain listener) holds the endpoint named by --base-address or
    --base-port: one line naming the option and the endpoint, exit 2, no traceback."""
    if mode == "ip":
        address = f"127.{random.randint(64, 250)}.0.1"
        blocker = _listener(address, 5985)
        args, option, endpoint = ["--base-address", address], "--base-address", f"{address}:5985"
    else:
        blocker = _listener("127.0.0.1", 0)
        port = blocker.getsockname()[1]
        args, option = ["--addressing", "port", "--base-port", str(port)], "--base-port"
        endpoint = f"127.0.0.1:{port}"
    with blocker:
        proc = subprocess.run(
            [*_psfleet(), "lab", "serve", "--hosts", "1", *args],
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith(f"psfleet: error: {option}: {endpoint} is in use; omit {option}"), line
