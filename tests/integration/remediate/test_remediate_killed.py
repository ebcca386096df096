"""``psfleet remediate`` killed with SIGKILL in the middle of a batch, then rolled back.

The remediation runs as a real subprocess (the console entry point) against an in-process lab
with latency, so there is time to kill it right after a host's intents were journaled (its
write in flight). The journal must be enough to put every value back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.remediate.helpers import WS, lab
from toolkit.remediate import read_journal, rollback
from toolkit.remediate.model import Outcome

pytestmark = pytest.mark.timeout(60)

HOSTS = "".join(
    f"  - name: h{i}\n    profile: {profile}\n    latency_ms: 80\n"
    + (
        f"    registry:\n      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: '0'}}}}\n"
        if i % 2
        else ""
    )
    for i, profile in enumerate(("server2012r2", "win81", "server2019", "win7", "win11-24h2", "server2012"))
)


def _intent_hosts(journal: Path) -> list[str]:
    if not journal.exists():
        return []
    hosts = []
    for line in journal.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("type") == "intent" and record["host"] not in hosts:
            hosts.append(record["host"])
    return hosts


def test_sigkill_mid_batch_then_rollback_restores_every_prior_value(tmp_path: Path, state_dir: Path) -> None:
    with lab(tmp_path, HOSTS) as env:
        before = env.state()
        journal = tmp_path / "killed.jsonl"
        env_vars = {**os.environ, "PSFLEET_STATE_DIR": str(state_dir), "PSFLEET_NO_PROGRESS": "1"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "toolkit.cli",
                "remediate",
                "-i",
                str(env.inventory_path),
                "--yes",
                "--batch",
                "3",
                "--forks",
                "1",
                "--journal",
                str(journal),
            ],
            env=env_vars,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 40
            while len(_intent_hosts(journal)) < 2:  # the second host of batch 1: its write is in flight
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "remediation never reached the second host"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL

        killed = read_journal(journal)
        assert not killed.ended, journal.read_text()
        assert killed.outcome_of("h0", "client_signing") == Outcome.CHANGED.value, journal.read_text()
        assert env.state()["h0"] != before["h0"]  # the first host really changed
        assert env.state()["h5"] == before["h5"]  # later batches never started
        time.sleep(0.5)  # let the lab finish serving the killed client's in-flight request

        run = rollback(journal, inventory=env.inventory, credentials=env.credentials)
        assert run.exit_code == 0, [(h.name, h.status, h.error, h.checks) for h in run.hosts]
        assert env.state() == before, journal.read_text()
        assert any("no end record" in note for note in run.notes)
        assert {h.name for h in run.hosts} == set(_intent_hosts(journal))
