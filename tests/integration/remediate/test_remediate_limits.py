"""Remediation at its limits against the lab: a slow host past ``--timeout``, a full disk
(a small tmpfs where the test may mount one, a file-size limit as a quota elsewhere), a
read-only filesystem, and a double Ctrl-C (issue 15 #3 #4 #7)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.remediate.helpers import lab
from tests.support.cli import run_cli
from toolkit.remediate import read_journal

pytestmark = pytest.mark.timeout(150)

HOSTS = "".join(f"  - name: d{i:02d}\n    profile: server2019\n" for i in range(12))


def _records(journal: Path) -> list[dict[str, object]]:
    out = []
    for line in journal.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _intent_keys(journal: Path) -> set[tuple[str, str]]:
    return {(str(r["host"]), str(r["setting"])) for r in _records(journal) if r.get("type") == "intent"}


def _changed(
    before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]
) -> set[tuple[str, str]]:
    return {(h, k) for h, values in after.items() for k, v in values.items() if v != before[h][k]}


# -- 3. a slow host past --timeout ---------------------------------------------------------------


def test_a_host_reported_timeout_is_never_written_afterwards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "  - name: slow\n    profile: server2019\n    latency_ms: 1000\n  - name: fast\n    profile: server2019\n"
    with lab(tmp_path, spec) as env:
        before = env.state()
        journal = tmp_path / "j.jsonl"
        # Each round trip to "slow" takes a second: the 7.5 s deadline passes while its lease
        # is being taken, after its plan and before any write.
        code, out, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal), "--timeout", "7.5",
             "--retries", "0", "-f", "json"],
            capsys,
        )  # fmt: skip
        hosts = {h["name"]: h for h in json.loads(out)["hosts"]}
        assert code == 8, err
        assert hosts["slow"]["status"] == "timeout"
        assert hosts["fast"]["status"] == "compliant"
        time.sleep(6)  # the abandoned worker's requests come back meanwhile
        assert env.state()["slow"] == before["slow"]
        assert {h for h, _ in _intent_keys(journal)} == {"fast"}
        message = hosts["slow"]["error"]["message"]
        assert "no setting was written" in message or "no changes" in message, message
        assert _records(journal)[-1]["type"] == "end"


# -- 4. a journal that cannot be written ------------------------------------------------------------


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path, leave: int) -> None:
    """Fill the filesystem so that about ``leave`` bytes stay free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    (folder / "filler").write_bytes(b"\0" * max(0, free - leave))


def _check_full_disk_run(code: int, out: str, err: str, journal: Path, before: dict, after: dict) -> None:  # type: ignore[type-arg]
    assert code == 2, err
    doc = json.loads(out)
    assert doc["run"]["journal_error"] and doc["run"]["exit_code"] == 2
    assert "JOURNAL ERROR:" in err and f"undo: psfleet rollback --journal {journal}" in err
    assert "(exit 2)" in err
    statuses = [h["status"] for h in doc["hosts"]]
    assert "compliant" in statuses and len(statuses) == 12
    not_run = [
        h for h in doc["hosts"] if "the journal could not be written" in (h["error"] or {}).get("message", "")
    ]
    assert not_run, "hosts after the failure must not start"
    # nothing was written without its intent on disk
    assert _changed(before, after) <= _intent_keys(journal)


@pytest.mark.skipif(
    not _can_mount(), reason="mounting a tmpfs needs root (the quota-like test covers the rest)"
)
def test_a_full_disk_stops_the_run_with_a_journal_error_and_rollback_points_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, HOSTS) as env, _tmpfs(tmp_path / "small", "size=64k,mode=0700") as disk:
        before = env.state()
        journal = disk / "j.jsonl"
        _fill(disk, 4096)
        code, out, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal), "--forks", "1", "-f", "json"],
            capsys,
        )  # fmt: skip
        _check_full_disk_run(code, out, err, journal, before, env.state())

        # Rollback's default journal would go on the same full disk: exit 2, no empty file left.
        code, _, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(env.inventory_path), "--yes"], capsys
        )
        assert code == 2 and "--rollback-journal" in err, err
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "j.jsonl"]
        code, _, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(env.inventory_path), "--yes",
             "--rollback-journal", str(tmp_path / "rb.jsonl")],
            capsys,
        )  # fmt: skip
        assert code == 0, err
        assert env.state() == before


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal, as a quota answers EDQUOT
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_quota_like_limit_stops_the_run_with_a_journal_error(tmp_path: Path, state_dir: Path) -> None:
    with lab(tmp_path, HOSTS) as env:
        before = env.state()
        journal = tmp_path / "j.jsonl"
        proc = subprocess.run(
            [sys.executable, "-m", "toolkit.cli", "remediate", "-i", str(env.inventory_path), "--yes",
             "--journal", str(journal), "--forks", "1", "-f", "json"],
            env={**os.environ, "PSFLEET_STATE_DIR": str(state_dir), "PSFLEET_NO_PROGRESS": "1"},
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: _limit_file_size(4000),
        )  # fmt: skip
        _check_full_disk_run(proc.returncode, proc.stdout, proc.stderr, journal, before, env.state())
        assert "File too large" in proc.stderr


@pytest.mark.skipif(not _can_mount(), reason="mounting a read-only tmpfs needs root")
def test_a_missing_journal_directory_on_a_read_only_filesystem_is_a_journal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, HOSTS) as env, _tmpfs(tmp_path / "ro", "ro,size=16k") as disk:
        before = env.state()
        code, _, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(disk / "new" / "j.jsonl")],
            capsys,
        )
        assert code == 2, err
        assert "cannot create the journal's directory: Read-only file system" in err
        assert "nothing was sent to any host" in err and "--journal /elsewhere/j.jsonl" in err
        assert env.state() == before


# -- 7. Ctrl-C twice ------------------------------------------------------------------------------------

SLOW = "".join(f"  - name: s{i:02d}\n    profile: server2019\n    latency_ms: 150\n" for i in range(10))


def test_a_double_sigint_still_prints_the_summary_and_undo_and_ends_the_journal(
    tmp_path: Path, state_dir: Path
) -> None:
    with lab(tmp_path, SLOW) as env:
        before = env.state()
        journal = tmp_path / "j.jsonl"
        proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit.cli", "remediate", "-i", str(env.inventory_path), "--yes",
             "--journal", str(journal), "--forks", "2"],
            env={**os.environ, "PSFLEET_STATE_DIR": str(state_dir), "PSFLEET_NO_PROGRESS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            limit = time.monotonic() + 60
            while not (journal.exists() and '"intent"' in journal.read_text()):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < limit, "no write was ever journaled"
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 130, err
        assert "(exit 130)" in err and f"undo: psfleet rollback --journal {journal}" in err, err
        assert "HOST" in out  # the report itself
        end = _records(journal)[-1]
        assert end["type"] == "end" and end["interrupted"] is True and end["exit_code"] == 130
        assert read_journal(journal).ended
        time.sleep(1)
        code = subprocess.run(
            [sys.executable, "-m", "toolkit.cli", "rollback", "--journal", str(journal), "-i",
             str(env.inventory_path), "--yes"],
            env={**os.environ, "PSFLEET_STATE_DIR": str(state_dir), "PSFLEET_NO_PROGRESS": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
        assert code.returncode == 0, code.stderr
        assert env.state() == before
