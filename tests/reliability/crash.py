"""Kill ``psfleet remediate`` with SIGKILL at a random moment, then check the journal against
the lab and roll back. Shared by ``tests/reliability/test_crash_remediate.py`` (a few trials)
and ``scripts/crash_remediate.py`` (>= 20 trials on 200 hosts).

One trial: a fresh in-process lab of drifted hosts; ``psfleet remediate -i INV --yes
--journal FILE`` as a subprocess; SIGKILL after a delay, or as soon as the journal holds a
given number of intents (a kill that lands mid-batch whatever the machine's speed); then (1)
every host whose value changed is in the journal with its prior value (:func:`verify_journal`), and (2)
``psfleet rollback --journal FILE --yes`` puts every prior value back, read from the
simulated hosts' registries.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.journal_check import Snapshot, snapshot, verify_journal
from tests.reliability.scale import PASSWORD, SRV, WS, has_traceback
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.lab.spec import loads_spec

#: registry states that all need writes under the secure baseline (on 9200/9600 all three)
DRIFTED = (
    f"      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 0}}, "
    f"RequireSecureNegotiate: {{kind: DWord, value: 0}}}}\n"
    f"      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 0}}}}\n",
    f"      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: '0'}}}}\n"
    f"      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 0}}}}\n",
)


def crash_spec(hosts: int, *, latency_ms: int = 0) -> str:
    lines = [
        "users:",
        f"  - {{name: admin, password: '{PASSWORD}', admin: true}}",
        f"  - {{name: reader, password: '{PASSWORD}', admin: false}}",
        f"defaults: {{latency_ms: {latency_ms}}}",
        "hosts:",
    ]
    for i in range(hosts):
        lines.append(
            f"  - name: c{i:04d}\n    profile: {PROFILE_NAMES[i % len(PROFILE_NAMES)]}\n    registry:"
        )
        lines.append(DRIFTED[i % len(DRIFTED)].rstrip("\n"))
    return "\n".join(lines) + "\n"


@dataclass
class Trial:
    number: int
    kill_after_s: float
    killed: bool = False
    journal_exists: bool = False
    intents: int = 0
    changed_values: int = 0
    rollback_exit: int | None = None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        state = "killed" if self.killed else "finished before the kill"
        rb = f"rollback exit {self.rollback_exit}" if self.rollback_exit is not None else "no rollback needed"
        verdict = "OK" if not self.problems else f"{len(self.problems)} PROBLEMS"
        return (f"trial {self.number:2d}: kill at {self.kill_after_s:5.2f}s ({state}); {self.intents} intents, "
                f"{self.changed_values} values changed; {rb}: {verdict}")  # fmt: skip


def _psfleet(*argv: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *argv], capture_output=True, text=True, env=env, timeout=timeout
    )


def _intents(journal: Path) -> int:
    if not journal.exists():
        return 0
    with journal.open(encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if '"type": "intent"' in line or '"type":"intent"' in line)


def _wait_for_intents(proc: subprocess.Popen[str], journal: Path, count: int, *, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while proc.poll() is None and time.monotonic() < deadline and _intents(journal) < count:
        time.sleep(0.01)


def run_trial(
    number: int,
    *,
    hosts: int,
    kill_after_s: float = 0.0,
    kill_at_intent: int | None = None,
    forks: int = 32,
    latency_ms: int = 0,
    workdir: Path | None = None,
) -> Trial:
    """One trial: SIGKILL ``kill_after_s`` after the start or, with ``kill_at_intent``, as soon
    as the journal holds that many intents (``kill_after_s`` then records when that was)."""
    trial = Trial(number, kill_after_s)
    with tempfile.TemporaryDirectory(prefix="psfleet-crash-", dir=workdir) as tmp:
        work = Path(tmp)
        env = {**os.environ, "PSFLEET_STATE_DIR": str(work / "psfleet-state"), "PSFLEET_NO_PROGRESS": "1"}
        spec = loads_spec(crash_spec(hosts, latency_ms=latency_ms), "crash.yml")
        with Fleet(spec, workdir=work / "lab") as fleet:
            inventory = work / "lab.yml"
            fleet.write_inventory(inventory)

            def state() -> dict[str, Snapshot]:
                return {h.name: snapshot(fleet.sim(h.name).registry.get_value) for h in fleet.hosts}

            before = state()
            journal = work / "remediate.jsonl"
            proc = subprocess.Popen(
                [sys.executable, "-m", "toolkit.cli", "remediate", "-i", str(inventory), "--yes", "--journal",
                 str(journal), "--format", "json", "--forks", str(forks), "--timeout", "30"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            started = time.monotonic()
            if kill_at_intent is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=kill_after_s)
            else:
                _wait_for_intents(proc, journal, kill_at_intent, limit_s=120)
                trial.kill_after_s = time.monotonic() - started
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                trial.killed = True
            _, err = proc.communicate(timeout=30)
            if trial.killed and proc.returncode != -signal.SIGKILL:
                trial.killed = False  # it finished between the timeout and the signal
            if has_traceback(err):
                trial.problems.append(f"traceback from remediate: {err[:1000]}")
            time.sleep(1.0)  # writes already on the wire when the client died still land
            after = state()
            trial.journal_exists = journal.exists()
            trial.changed_values = sum(1 for h in before for s in before[h] if before[h][s] != after[h][s])
            trial.problems += verify_journal(journal, before, after, complete=not trial.killed)
            if not trial.journal_exists:
                return trial
            trial.intents = _intents(journal)
            rollback = _psfleet("rollback", "-i", str(inventory), "--journal", str(journal), "--yes",
                                "--format", "json", "--forks", str(forks), env=env, timeout=300)  # fmt: skip
            trial.rollback_exit = rollback.returncode
            if has_traceback(rollback.stdout + rollback.stderr):
                trial.problems.append(f"traceback from rollback: {rollback.stderr[:1000]}")
            restored = state()
            wrong = sorted(h for h in before if restored[h] != before[h])
            if wrong:
                trial.problems.append(
                    f"rollback left {len(wrong)} hosts different from before, e.g. {wrong[0]}: "
                    f"{before[wrong[0]]} -> {restored[wrong[0]]} (rollback exit {rollback.returncode}: "
                    f"{rollback.stderr.strip()[-500:]})"
                )
            if rollback.returncode not in (0, 4):
                trial.problems.append(
                    f"rollback exit {rollback.returncode}: {rollback.stderr.strip()[-500:]}"
                )
            try:
                doc = json.loads(rollback.stdout)
                names = [h["name"] for h in doc["hosts"]]
                if len(names) != len(set(names)):
                    trial.problems.append("rollback reported a host twice")
            except (ValueError, KeyError):
                trial.problems.append(f"rollback printed no JSON report: {rollback.stdout[:200]!r}")
    return trial


def kill_moments(trials: int, *, up_to_s: float, seed: int) -> list[float]:
    """Random kill delays in (0.3, up_to_s), spread: one per equal slice of the interval."""
    rng = random.Random(seed)
    width = (up_to_s - 0.3) / trials
    return [round(0.3 + width * i + rng.random() * width, 3) for i in range(trials)]
