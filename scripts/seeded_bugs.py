#!/usr/bin/env python3
"""Seed, one at a time, the bugs of issue 22 that the suite once let through, and show which
unit tests fail for each.

Every bug is a one-place text change in a temporary git worktree of HEAD (``--tree`` for
another checkout), never in the shared working tree: the change is written, the unit tests
of the module run (``pytest -x``, with ``PYTHONPATH`` at the worktree), and the original file
is written back. A bug that no test notices is printed as ``MISSED`` and the script exits 1.

    python3 scripts/seeded_bugs.py              # all bugs, a markdown table on stdout
    python3 scripts/seeded_bugs.py --only F3,J1

docs/testing.md keeps the table of the last run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mutation import drop_tree, make_tree  # scripts/ is sys.path[0] when run as a script

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Seed:
    id: str
    bug: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    #: further (old, new) changes in the same file, for a bug that needs two edits
    more: tuple[tuple[str, str], ...] = ()


J = ("tests/unit/remediate",)
F = ("tests/unit/fanout",)
C = ("tests/unit/transport/test_classify_table.py", "tests/unit/transport/test_classify_sent.py")
R = ("tests/unit/remediate",)
V = ("tests/unit/checks",)
I = ("tests/unit/inventory",)  # noqa: E741

SEEDS: tuple[Seed, ...] = (
    # --- journal durability
    Seed(
        "J1",
        "journal append without its flush",
        "toolkit/remediate/journal.py",
        "                self._handle.flush()\n",
        "",
        J,
    ),
    Seed(
        "J2",
        "journal append without its fsync",
        "toolkit/remediate/journal.py",
        "                os.fsync(self._handle.fileno())\n",
        "",
        J,
    ),
    # --- fan-out
    Seed(
        "F1",
        "a retry after a pipeline was already sent",
        "toolkit/fanout/task.py",
        "retryable = not err.sent and err.kind",
        "retryable = err.kind",
        F,
    ),
    Seed(
        "F2",
        "authentication failures retried",
        "toolkit/fanout/task.py",
        "err.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT)",
        "err.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT, ErrorKind.AUTH_FAILED)",
        F,
    ),
    Seed(
        "F3",
        "one retry too many",
        "toolkit/fanout/task.py",
        "attempt >= options.retries",
        "attempt > options.retries",
        F,
    ),
    Seed(
        "F4",
        "a backoff that runs past the host's deadline",
        "toolkit/fanout/task.py",
        " or time.monotonic() + wait >= deadline:",
        ":",
        F,
    ),
    Seed(
        "F5",
        "the per-host deadline enforced at twice --timeout",
        "toolkit/fanout/runner.py",
        "slot = _Slot(host, index, now + self.options.timeout, now)",
        "slot = _Slot(host, index, now + 2 * self.options.timeout, now)",
        F,
    ),
    Seed(
        "F6",
        "a deadline marked as 'nothing sent'",
        "toolkit/fanout/runner.py",
        "err = HostError(ErrorKind.TIMEOUT, message, True)",
        "err = HostError(ErrorKind.TIMEOUT, message, False)",
        F,
    ),
    # --- classification
    Seed(
        "C1",
        "HTTP 401 no longer auth_failed",
        "toolkit/transport/classify.py",
        'Case("http-401", AUTH,',
        'Case("http-401", PROTOCOL,',
        C,
    ),
    Seed(
        "C2",
        "HTTP 403 as auth_failed",
        "toolkit/transport/classify.py",
        '"http-403", DENIED,',
        '"http-403", AUTH,',
        C,
    ),
    Seed(
        "C3",
        "a read timeout as unreachable",
        "toolkit/transport/classify.py",
        'Case("read-timeout", TIMEOUT,',
        'Case("read-timeout", UNREACHABLE,',
        C,
    ),
    Seed(
        "C4",
        "WS-Man access denied as 0x80070005 not recognised",
        "toolkit/transport/classify.py",
        "ACCESS_DENIED_CODES = {5, 0x80070005}",
        "ACCESS_DENIED_CODES = {5}",
        C,
    ),
    Seed(
        "C5",
        "WS-Man access denied by its text only not recognised",
        "toolkit/transport/classify.py",
        ' or "access is denied" in reason.lower():',
        ":",
        C,
    ),
    Seed(
        "C6",
        "a connection reset after a pipeline went out marked retryable (unsent)",
        "toolkit/transport/classify.py",
        'Case("reset", UNREACHABLE, _reset, "connection reset by {endpoint}")',
        'Case("reset", UNREACHABLE, _reset, "connection reset by {endpoint}", unsent=True)',
        C,
    ),
    # --- rollback
    Seed(
        "B1",
        "rollback: the last intent per (host, setting) wins",
        "toolkit/remediate/rollback.py",
        "firsts.setdefault((intent.host, intent.setting), intent)",
        "firsts[(intent.host, intent.setting)] = intent",
        R,
    ),
    Seed(
        "B2",
        "rollback: a restore attempted into a missing key",
        "toolkit/remediate/rollback.py",
        "        if not key.exists:\n            items[intent.setting] = _item(intent, key, Outcome.BLOCKED",
        "        if False:\n            items[intent.setting] = _item(intent, key, Outcome.BLOCKED",
        R,
    ),
    Seed(
        "B3",
        "rollback: a restored secure-negotiate leaves its workaround record",
        "toolkit/remediate/rollback.py",
        "if r.spec.setting.weakenable and r.outcome is Outcome.RESTORED:",
        "if r.spec.setting.weakenable and r.outcome is Outcome.FAILED:",
        R,
    ),
    # --- remediation
    Seed(
        "R1",
        "'sent' recorded only after the answer",
        "toolkit/remediate/execute.py",
        '    guard.sending()\n    progress.stage = "sent"\n    managed = settings or SETTINGS\n'
        "    statements: tuple[Statement, ...] = tuple((c,) for w in writes for c in w.commands) + read_statements(\n"
        "        managed\n    )\n    answer = session.run(statements)\n",
        "    managed = settings or SETTINGS\n"
        "    statements: tuple[Statement, ...] = tuple((c,) for w in writes for c in w.commands) + read_statements(\n"
        '        managed\n    )\n    answer = session.run(statements)\n    guard.sending()\n    progress.stage = "sent"\n',
        R,
    ),
    Seed(
        "R2",
        "a transport error after sending with no 'unknown' outcome journaled",
        "toolkit/remediate/apply.py",
        "        unknown = journal_unknown(ctx.journal, run_id=ctx.run_id, host=host, writes=writes, error=message)",
        "        unknown = tuple(WriteResult(w, Outcome.UNKNOWN, None, message) for w in writes)",
        R,
    ),
    Seed(
        "R3",
        "a host abandoned at its deadline with writes in flight reported as not written",
        "toolkit/remediate/apply.py",
        "sent = progress.guard.cancel(why) if progress is not None else False",
        "sent = (progress.guard.cancel(why) and False) if progress is not None else False",
        R,
    ),
    Seed(
        "R4",
        "an unknown build uses the SMB cmdlets (absent before 9200)",
        "toolkit/remediate/plan.py",
        "os.build is not None and entry.when.matches(os)",
        "(os.build is None or entry.when.matches(os))",
        R,
    ),
    Seed(
        "R5",
        "the DWORD sign boundary off by one",
        "toolkit/remediate/plan.py",
        'kind == "DWord" and isinstance(data, int) and data > 0x7FFF_FFFF',
        'kind == "DWord" and isinstance(data, int) and data > 0x8000_0000',
        R,
    ),
    Seed(
        "R6",
        "a workaround expiry attached to every write",
        "toolkit/remediate/plan.py",
        "PlannedWrite(setting, before, after, commands, expires if weakening else None)",
        "PlannedWrite(setting, before, after, commands, expires)",
        R,
    ),
    # --- verdicts and probe
    Seed(
        "V1",
        "a naive expiry read as local time",
        "toolkit/baselines/engine.py",
        "        return moment.replace(tzinfo=UTC)\n    return moment.astimezone(UTC)",
        "        return moment.astimezone(UTC)\n    return moment.astimezone(UTC)",
        V,
    ),
    Seed(
        "V2",
        "absent signing on an unknown build taken as required (client side)",
        "toolkit/baselines/data/smb-validate-negotiate.yaml",
        "        means: not_required\n        text: unknown (build unknown), taken as not required\n"
        '        rule: signing-defaults-legacy\n      - when: {builds: ">=26100", os: server}\n'
        "        means: required\n",
        "        means: required\n        text: unknown (build unknown), taken as not required\n"
        '        rule: signing-defaults-legacy\n      - when: {builds: ">=26100", os: server}\n'
        "        means: required\n",
        V,
    ),
    Seed(
        "V3",
        "PathNotFound matched from the message text only",
        "toolkit/checks/probe.py",
        'if error.fully_qualified_error_id.lower().split(",")[0] != _PATH_NOT_FOUND:',
        'if "cannot find path" not in error.message.lower():',
        V,
    ),
    # --- inventory
    Seed(
        "I1",
        "a one-host range [1:1] rejected",
        "toolkit/inventory/ansible.py",
        "if int(start) > int(end) or",
        "if int(start) >= int(end) or",
        I,
    ),
    Seed(
        "I2",
        "ansible_winrm_* ranked below ansible_* (winrm address)",
        "toolkit/inventory/ansible_hosts.py",
        '"address": ("ansible_host", "ansible_winrm_host"),',
        '"address": ("ansible_winrm_host", "ansible_host"),',
        I,
    ),
    Seed(
        "I3",
        "ansible_psrp_* ranked below ansible_* (psrp user)",
        "toolkit/inventory/ansible_hosts.py",
        '"username": ("ansible_user", "ansible_psrp_user"),',
        '"username": ("ansible_psrp_user", "ansible_user"),',
        I,
    ),
    Seed(
        "I4",
        "top-level groups not under all",
        "toolkit/inventory/ansible.py",
        '        if name != "all" and not ups:\n            ups.append("all")\n',
        '        if name != "all" and not ups:\n            pass\n',
        I,
    ),
    Seed(
        "I5",
        "top-level groups not under all and all ranked among the groups: all:vars beat 'accounting'",
        "toolkit/inventory/ansible.py",
        '(g for g in member_of if g != "all"),',
        '(g for g in member_of | {"all"}),',
        I,
        more=(('        if name != "all" and not ups:\n            ups.append("all")\n', "        pass\n"),),
    ),
    Seed(
        "I6",
        "an empty group treated as matching nothing",
        "toolkit/inventory/limit.py",
        "if not found and not group_hit:",
        "if not found:",
        I,
    ),
)


def _first_failure(output: str) -> str:
    m = re.search(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.M)
    return m.group(1) if m else "(tests did not pass)"


def run(seed: Seed, tree: Path) -> tuple[bool, str]:
    path = tree / seed.file
    original = path.read_text(encoding="utf-8")
    changes = ((seed.old, seed.new), *seed.more)
    for old, _new in changes:
        if original.count(old) != 1:
            return False, f"seed text found {original.count(old)} times: update the seed"
    seeded = original
    for old, new in changes:
        seeded = seeded.replace(old, new)
    for cache in (tree / "toolkit").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1", PSFLEET_NO_PROGRESS="1")
    tests = [t for t in seed.tests if (tree / t).exists()]
    try:
        path.write_text(seeded, encoding="utf-8")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "--timeout",
                "120",
                "-rf",
                *tests,
            ],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        path.write_text(original, encoding="utf-8")
    if proc.returncode == 0:
        return False, "no test failed"
    if "error during collection" in proc.stdout or "errors during collection" in proc.stdout:
        return False, "the seeded code does not import: fix the seed"
    return True, _first_failure(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated seed ids")
    parser.add_argument("--tree", type=Path, help="a checkout to seed (default: a new worktree of HEAD)")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    tree, made = make_tree(args.tree, prefix="psfleet-seed-")
    missed = 0
    try:
        print("| id | seeded bug | file | caught by (first failing test) |")
        print("|---|---|---|---|")
        for seed in SEEDS:
            if wanted is not None and seed.id not in wanted:
                continue
            caught, detail = run(seed, tree)
            missed += not caught
            verdict = f"`{detail}`" if caught else f"**MISSED**: {detail}"
            print(f"| {seed.id} | {seed.bug} | {seed.file} | {verdict} |", flush=True)
    finally:
        if made:
            drop_tree(tree)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
