"""Each command and its library call answer alike: ``psfleet CMD --format json`` (a subprocess,
as typed) and ``toolkit.CMD(...)`` with default options, on the same lab fleet and state
directory, give the same document field by field (times, durations and run ids aside).

The fleet is this module's own (remediation changes it). Its state directory holds an expired
``--allow-insecure`` workaround for ``ws-81``: drift for both, or the library and the CLI
disagree about a host (the bug that started this test).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import toolkit
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SPEC = f"""
hosts:
  - name: ws-81
    profile: win81
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: DWord, value: 0}}}}
  - name: fs-2012r2
    profile: server2012r2
  - name: fs-2019
    profile: server2019
  - name: down
    fault: refuse
  - name: odd  # an answer only the lean client refuses: pypsrp serves it (transport_fallback)
    profile: win81
    fault: odd_boundary
"""
#: Keys whose values differ between two runs of the same thing.
VOLATILE = frozenset({"started", "finished", "since", "duration_s", "id", "run_id", "journal", "elapsed_s"})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(
        loads_spec(SPEC, "parity.yml"), addressing="port", workdir=tmp_path_factory.mktemp("parity")
    ) as f:
        yield f


@pytest.fixture(scope="module")
def inventory_path(lab: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's inventory, with ws-81 under policy secure_negotiate: disabled (a workaround)."""
    path = tmp_path_factory.mktemp("parity-inv") / "lab.yml"
    lab.write_inventory(path)
    text = path.read_text().replace(
        '  "ws-81":\n', '  "ws-81":\n    policy: {secure_negotiate: disabled}\n', 1
    )
    assert "secure_negotiate: disabled" in text
    path.write_text(text)
    return path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state directory, for this process and the CLI's, with ws-81's workaround
    expired yesterday."""
    directory = tmp_path / "state"
    directory.mkdir()
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(directory))
    monkeypatch.setenv("PSFLEET_CONFIG", "")
    seed_expired_workaround(directory)
    return directory


def seed_expired_workaround(directory: Path) -> None:
    expired = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    entry = {"expires": expired, "run_id": "seed", "journal": "seed.jsonl", "address": "127.0.0.1"}
    doc = {"psfleet": "workarounds/1", "hosts": {"ws-81": {"secure_negotiate": entry}}}
    (directory / "workarounds.json").write_text(json.dumps(doc))


def psfleet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def cli(*args: str) -> dict[str, Any]:
    proc = psfleet(*args, "--format", "json")
    assert proc.stdout.startswith("{"), proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert proc.returncode == doc["run"]["exit_code"], proc.stderr
    return doc


def steady(doc: Any) -> Any:
    """``doc`` without :data:`VOLATILE` keys, at any depth, and without journal line numbers
    (a rollback names the remediation journal's line of each restore: hosts write their lines
    in the order they finish)."""
    if isinstance(doc, dict):
        return {k: steady(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [steady(v) for v in doc]
    if isinstance(doc, str):
        return re.sub(r"journal line \d+", "journal line N", doc)
    return doc


def assert_same(library: Any, command: dict[str, Any], *, by_name: bool = False) -> None:
    """Field by field; ``by_name``: hosts compared in name order (a rollback lists them in
    its journal's order, which is the order the remediation's hosts finished in)."""
    lib = steady(json.loads(json.dumps(library.to_dict())))
    cmd = steady(command)
    if by_name:
        for doc in (lib, cmd):
            doc["hosts"].sort(key=lambda h: h["name"])
    assert lib.keys() == cmd.keys()
    for key in lib:  # one field at a time, so a failure names the field
        if key == "hosts":
            assert [h["name"] for h in lib[key]] == [h["name"] for h in cmd[key]]
            for a, b in zip(lib[key], cmd[key], strict=True):
                for field in a.keys() | b.keys():
                    assert a.get(field) == b.get(field), f"{a['name']}: {field}"
        assert lib[key] == cmd[key], key


def load(path: Path) -> tuple[toolkit.Inventory, dict[str, Any]]:
    inv = toolkit.load_inventory(path)
    return inv, dict(toolkit.resolve_credentials(inv.hosts, interactive=False))


def host_status(doc: dict[str, Any], name: str) -> str:
    return str(next(h["status"] for h in doc["hosts"] if h["name"] == name))


def test_audit_with_an_expired_workaround(inventory_path: Path, state: Path) -> None:
    inv, creds = load(inventory_path)
    command = cli("audit", "-i", str(inventory_path))
    library = toolkit.audit(inv, credentials=creds)
    assert_same(library, command)
    assert host_status(command, "ws-81") == "drift"  # expired: disabled is no longer accepted
    assert library.exit_code == command["run"]["exit_code"] == 12


def test_audit_events_and_wire_probe(inventory_path: Path, state: Path) -> None:
    inv, creds = load(inventory_path)
    args = ("--events", "7", "--with-probe", "--limit", "ws-81,fs-2012r2")
    command = cli("audit", "-i", str(inventory_path), *args)
    chosen = toolkit.apply_limit(inv, ["ws-81,fs-2012r2"])
    library = toolkit.audit(chosen, credentials=creds, events_days=7, with_probe=True)
    assert_same(library, command)
    assert all("events" in h and "probe" in h for h in command["hosts"]), command["hosts"][0].keys()


def test_another_baseline_and_transport(inventory_path: Path, state: Path) -> None:
    """``--baseline`` and ``--transport`` are the calls' ``baselines`` and ``transport``."""
    inv, creds = load(inventory_path)
    options = ("--baseline", "smb-hardening", "--transport", "pypsrp", "--limit", "fs-2019,down")
    chosen = toolkit.apply_limit(inv, ["fs-2019,down"])
    command = cli("audit", "-i", str(inventory_path), *options)
    library = toolkit.audit(chosen, credentials=creds, baselines=["smb-hardening"], transport="pypsrp")
    assert_same(library, command)
    assert library.check_ids == tuple(c["id"] for c in command["hosts"][0]["checks"])
    assert "secure_negotiate" not in library.check_ids
    command = cli("remediate", "--check", "-i", str(inventory_path), *options)
    planned = toolkit.plan(chosen, credentials=creds, baselines=["smb-hardening"], transport="pypsrp")
    assert_same(planned, command)


def test_plan(inventory_path: Path, state: Path) -> None:
    inv, creds = load(inventory_path)
    command = cli("remediate", "--check", "-i", str(inventory_path))
    library = toolkit.plan(inv, credentials=creds)
    assert_same(library, command)
    assert command["changes"].get("pending")


def test_remediate_and_rollback(inventory_path: Path, state: Path, tmp_path: Path) -> None:
    """The CLI remediates, the library rolls back; then the library remediates (from the same
    state, the workaround seeded again) and the CLI rolls back."""
    inv, creds = load(inventory_path)
    by_cli = cli("remediate", "--yes", "-i", str(inventory_path), "--journal", str(tmp_path / "cli.jsonl"))
    assert by_cli["changes"].get("changed")
    undone_by_library = toolkit.rollback(tmp_path / "cli.jsonl", inventory=inv, credentials=creds)
    seed_expired_workaround(state)
    by_library = toolkit.remediate(inv, credentials=creds)
    assert by_library.journal is not None and Path(by_library.journal).parent == state / "journals"
    undone_by_cli = cli("rollback", "--yes", "-i", str(inventory_path), "--journal", by_library.journal)

    assert_same(by_library, by_cli)
    assert_same(undone_by_library, undone_by_cli, by_name=True)
    assert undone_by_cli["changes"].get("restored")


def test_run(inventory_path: Path, state: Path) -> None:
    inv, creds = load(inventory_path)
    command = cli("run", "-i", str(inventory_path), "--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}")
    library = toolkit.run(inv, toolkit.RunCommand.cmdlet("Get-ItemProperty", {"Path": WS}), credentials=creds)
    assert_same(library, command)
    assert host_status(command, "ws-81") == "ok"


def test_probe(inventory_path: Path, state: Path) -> None:
    inv, _ = load(inventory_path)
    command = cli("probe", "smb", "-i", str(inventory_path))
    library = toolkit.probe(inv)
    assert_same(library, command)
    assert host_status(command, "fs-2019") == "probed"


def test_every_table_names_the_transport_fallback(inventory_path: Path, state: Path) -> None:
    """issue 12: the host pypsrp served after the lean client failed is named under every
    command's table, with the reason (the JSON's transport_fallback)."""
    limit = ("-i", str(inventory_path), "--limit", "odd,fs-2019")
    run = ("run", *limit, "--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}")
    for args in (("audit", *limit), ("remediate", "--check", *limit), run):
        proc = psfleet(*args)
        assert (
            "transport: pypsrp served 1 host after the lean client failed:\n  odd: lean client: "
            in proc.stdout
        ), args
        assert "fs-2019:" not in proc.stdout.split("transport:", 1)[1], args
    doc = cli(*run)
    fallback = next(h["transport_fallback"] for h in doc["hosts"] if h["name"] == "odd")
    assert fallback and fallback.startswith("lean client: ")
