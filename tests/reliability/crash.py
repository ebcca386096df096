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
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.journal_check import Snapshot, snapshot, verify_journal
from toolkit.checks.facts import SERVER_KEY as SRV
from toolkit.checks.facts import WORKSTATION_KEY as WS
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.lab.spec import loads_spec
from toolkit.remediate.journal import read_journal

PASSWORD = "Cr4sh-Lab!pw"


def has_traceback(text: str) -> bool:
    """A Python traceback in a command's output (psfleet prints one-line errors only)."""
    return "Traceback (most recent call last)" in text


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


def _fleet_state(fleet: Fleet) -> dict[str, Snapshot]:
    """Every lab host's registry values, to compare before and after a run."""
    return {h.name: snapshot(fleet.sim(h.name).registry.get_value) for h in fleet.hosts}


def _remediate_argv(inventory: Path, journal: Path, *, forks: int, timeout_s: int) -> list[str]:
    return [
        sys.executable, "-m", "toolkit.cli", "remediate", "-i", str(inventory), "--yes", "--journal", str(journal),
        "--format", "json", "--forks", str(forks), "--timeout", str(timeout_s),
    ]  # fmt: skip


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

            before = _fleet_state(fleet)
            journal = work / "remediate.jsonl"
            proc = subprocess.Popen(
                _remediate_argv(inventory, journal, forks=forks, timeout_s=30),
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
            after = _fleet_state(fleet)
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
            restored = _fleet_state(fleet)
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


# -- two operators at once -------------------------------------------------------------------


@dataclass
class ConcurrentTrial:
    number: int
    same_box: bool
    first_rollback: str
    journaled: dict[str, int] = field(default_factory=dict)  # run -> values journaled
    busy: int = 0
    overlap: int = 0  # values journaled by both runs (must be 0)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        where = "one box" if self.same_box else "two boxes"
        verdict = "OK" if not self.problems else f"{len(self.problems)} PROBLEMS"
        return (f"concurrent {self.number:2d} ({where}, rollback {self.first_rollback} first): journaled "
                f"a={self.journaled.get('a', 0)} b={self.journaled.get('b', 0)}, both={self.overlap}, "
                f"busy={self.busy}: {verdict}")  # fmt: skip


def _intent_keys(journal: Path) -> set[tuple[str, str]]:
    if not journal.exists():
        return set()
    return {(i.host, i.setting) for i in read_journal(journal, salvage=True).intents}


def _start_remediate(
    inventory: Path, journal: Path, forks: int, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _remediate_argv(inventory, journal, forks=forks, timeout_s=60),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_concurrent_trial(
    number: int, *, hosts: int, forks: int = 16, latency_ms: int = 30, same_box: bool, first_rollback: str
) -> ConcurrentTrial:
    """Two ``psfleet remediate`` runs started together on the same drifted hosts (separate
    journals; one state dir = one box, two = two boxes): no value may be journaled by both,
    every changed value is journaled by one, a ``busy`` host names the other run; rolling back
    either run first leaves the other's changes alone, and both give back the state before."""
    trial = ConcurrentTrial(number, same_box, first_rollback)
    with tempfile.TemporaryDirectory(prefix="psfleet-concurrent-") as tmp:
        work = Path(tmp)
        spec = loads_spec(crash_spec(hosts, latency_ms=latency_ms), "concurrent.yml")
        with Fleet(spec, workdir=work / "lab") as fleet:
            inventory = work / "lab.yml"
            fleet.write_inventory(inventory)

            def env_of(run: str) -> dict[str, str]:
                folder = "state" if same_box else f"state-{run}"
                return {**os.environ, "PSFLEET_STATE_DIR": str(work / folder), "PSFLEET_NO_PROGRESS": "1"}

            before = _fleet_state(fleet)
            procs = {
                run: _start_remediate(inventory, work / f"{run}.jsonl", forks, env_of(run))
                for run in ("a", "b")
            }
            reports: dict[str, Any] = {}
            for run, proc in procs.items():
                out, err = proc.communicate(timeout=600)
                if has_traceback(err):
                    trial.problems.append(f"traceback from remediate {run}: {err[:500]}")
                try:
                    reports[run] = json.loads(out)
                except ValueError:
                    trial.problems.append(f"remediate {run} printed no JSON (exit {proc.returncode})")
                    return trial
            after = _fleet_state(fleet)
            keys = {run: _intent_keys(work / f"{run}.jsonl") for run in ("a", "b")}
            trial.journaled = {run: len(k) for run, k in keys.items()}
            trial.overlap = len(keys["a"] & keys["b"])
            if trial.overlap:
                trial.problems.append(
                    f"{trial.overlap} values journaled by both runs, e.g. {sorted(keys['a'] & keys['b'])[0]}"
                )
            changed = {(h, s) for h in before for s in before[h] if before[h][s] != after[h][s]}
            if not changed <= keys["a"] | keys["b"]:
                trial.problems.append(
                    f"changed without an intent: {sorted(changed - keys['a'] - keys['b'])[:3]}"
                )
            for run, doc in reports.items():
                other = reports["b" if run == "a" else "a"]["run"]["id"]
                for host in doc["hosts"]:
                    if host["status"] == "busy":
                        trial.busy += 1
                        if other not in (host["error"] or {}).get("message", ""):
                            trial.problems.append(f"{host['name']} busy without the other run's id")
                    elif host["status"] != "compliant":
                        trial.problems.append(
                            f"remediate {run}: {host['name']} {host['status']}: {host['error']}"
                        )
            second = "b" if first_rollback == "a" else "a"
            for order, run in enumerate((first_rollback, second)):
                rb = _psfleet("rollback", "-i", str(inventory), "--journal", str(work / f"{run}.jsonl"), "--yes",
                              "--format", "json", "--forks", str(forks), env=env_of(run), timeout=600)  # fmt: skip
                if rb.returncode not in (0, 4) or has_traceback(rb.stderr):
                    trial.problems.append(f"rollback {run} exit {rb.returncode}: {rb.stderr.strip()[-300:]}")
                now = _fleet_state(fleet)
                if order == 0:
                    other = keys[second]
                    undone = sorted((h, s) for h, s in other if now[h][s] != after[h][s])
                    if undone:
                        trial.problems.append(
                            f"rollback of {run} undid {len(undone)} changes of {second}, e.g. {undone[0]}"
                        )
            final = _fleet_state(fleet)
            wrong = sorted(h for h in before if final[h] != before[h])
            if wrong:
                trial.problems.append(
                    f"after both rollbacks {len(wrong)} hosts differ from before, e.g. {wrong[0]}"
                )
    return trial


# -- a full disk under the journal ------------------------------------------------------------


@dataclass
class FullDiskTrial:
    number: int
    how: str  # tmpfs | fsize
    free_bytes: int
    exit_code: int | None = None
    intents: int = 0
    changed_values: int = 0
    not_started: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        verdict = "OK" if not self.problems else f"{len(self.problems)} PROBLEMS"
        return (f"full disk {self.number:2d} ({self.how}, {self.free_bytes} bytes free): exit {self.exit_code}, "
                f"{self.intents} intents, {self.changed_values} values changed, {self.not_started} hosts not "
                f"started: {verdict}")  # fmt: skip


def can_mount_tmpfs() -> bool:
    return os.geteuid() == 0


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run_full_disk_trial(number: int, *, hosts: int, forks: int = 16, free_bytes: int) -> FullDiskTrial:
    """``psfleet remediate`` with its journal on a nearly full disk (a small tmpfs when this
    process may mount one, else a file-size limit standing for a quota): exit 2 with the
    report and the undo command, every changed value journaled, hosts after the failure not
    started; then rollback (its journal elsewhere) gives back the state before."""
    how = "tmpfs" if can_mount_tmpfs() else "fsize"
    trial = FullDiskTrial(number, how, free_bytes)
    with tempfile.TemporaryDirectory(prefix="psfleet-fulldisk-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PSFLEET_STATE_DIR": str(work / "state"), "PSFLEET_NO_PROGRESS": "1"}
        disk = work / "disk"
        disk.mkdir()
        mounted = False
        preexec: Callable[[], None] | None = None
        if how == "tmpfs":
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
            )
            mounted = done.returncode == 0
            if not mounted:
                trial.how = how = "fsize"
        try:
            if mounted:
                stat = os.statvfs(disk)
                (disk / "filler").write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - free_bytes))
            else:
                preexec = _limit_file_size(free_bytes)
            spec = loads_spec(crash_spec(hosts), "fulldisk.yml")
            with Fleet(spec, workdir=work / "lab") as fleet:
                inventory = work / "lab.yml"
                fleet.write_inventory(inventory)

                before = _fleet_state(fleet)
                journal = disk / "remediate.jsonl"
                run = subprocess.run(
                    _remediate_argv(inventory, journal, forks=forks, timeout_s=60),
                    env=env, capture_output=True, text=True, timeout=600, preexec_fn=preexec,
                )  # fmt: skip
                trial.exit_code = run.returncode
                if has_traceback(run.stderr):
                    trial.problems.append(f"traceback from remediate: {run.stderr[:500]}")
                if run.returncode != 2:
                    trial.problems.append(
                        f"remediate exit {run.returncode}, expected 2: {run.stderr.strip()[-300:]}"
                    )
                if not journal.exists():  # not even the header fitted: nothing may have been sent
                    if "nothing was sent to any host" not in run.stderr or _fleet_state(fleet) != before:
                        trial.problems.append(f"journal never created, yet: {run.stderr.strip()[-300:]}")
                    return trial
                if f"undo: psfleet rollback --journal {journal}" not in run.stderr:
                    trial.problems.append("no undo command on stderr")
                try:
                    doc = json.loads(run.stdout)
                    if not doc["run"]["journal_error"]:
                        trial.problems.append("report without journal_error")
                    trial.not_started = sum(
                        1
                        for h in doc["hosts"]
                        if "journal could not be written" in (h["error"] or {}).get("message", "")
                    )
                except (ValueError, KeyError):
                    trial.problems.append(f"no JSON report: {run.stdout[:200]!r}")
                time.sleep(0.5)
                after = _fleet_state(fleet)
                trial.changed_values = sum(
                    1 for h in before for s in before[h] if before[h][s] != after[h][s]
                )
                trial.problems += verify_journal(journal, before, after, complete=False)
                trial.intents = _intents(journal)
                rb = _psfleet("rollback", "-i", str(inventory), "--journal", str(journal), "--yes", "--format", "json",
                              "--rollback-journal", str(work / "rollback.jsonl"), env=env, timeout=600)  # fmt: skip
                if rb.returncode not in (0, 4) or has_traceback(rb.stderr):
                    trial.problems.append(f"rollback exit {rb.returncode}: {rb.stderr.strip()[-300:]}")
                final = _fleet_state(fleet)
                wrong = sorted(h for h in before if final[h] != before[h])
                if wrong:
                    trial.problems.append(f"rollback left {len(wrong)} hosts different, e.g. {wrong[0]}")
        finally:
            if mounted:
                subprocess.run(["umount", "-l", str(disk)], check=False)
    return trial
