"""The lease's pieces that need no host: its text, a dead holder, the local lock, the guard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from toolkit.remediate.lease import Busy, Cancelled, HostGuard, LeaseInfo, LocalLock, holder_dead, parse_lease


def test_lease_text_round_trips_and_garbage_reads_as_expired() -> None:
    lease = LeaseInfo("20260101T000000Z-abcd", datetime(2026, 1, 1, tzinfo=UTC), "box:12")
    assert parse_lease(lease.text()) == lease
    junk = parse_lease("not json")
    assert junk.run_id == "unknown" and junk.expires < datetime.now(UTC)
    assert parse_lease('{"run_id": "a\\nb;c", "expires": "2030-01-01T00:00:00"}').run_id == "a?b?c"


def test_a_holder_of_this_box_that_no_longer_runs_is_dead() -> None:
    box = socket.gethostname()[:64]
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert holder_dead(LeaseInfo("r", datetime.now(UTC), f"{box}:{child.pid}"))
    assert not holder_dead(LeaseInfo("r", datetime.now(UTC), f"{box}:{os.getpid()}"))
    assert not holder_dead(LeaseInfo("r", datetime.now(UTC), f"another-box:{child.pid}"))


def test_the_local_lock_makes_a_second_run_busy_with_the_first_run_id(tmp_path: Path) -> None:
    first = LocalLock(tmp_path, "fs-01", "run-one")
    first.acquire()
    with pytest.raises(Busy, match="run run-one holds this host"):
        LocalLock(tmp_path, "fs-01", "run-two").acquire()
    LocalLock(tmp_path, "fs-02", "run-two").acquire()  # another host is free
    first.release()
    again = LocalLock(tmp_path, "fs-01", "run-two")
    again.acquire()
    again.release()


def test_the_guard_refuses_after_cancel_or_deadline_and_says_whether_something_went_out() -> None:
    guard = HostGuard(time.monotonic() + 60)
    guard.check()
    guard.sending()
    assert guard.cancel("timeout") is True
    with pytest.raises(Cancelled):
        guard.check()
    quiet = HostGuard(time.monotonic() + 60)
    assert quiet.cancel("interrupted") is False
    with pytest.raises(Cancelled):
        quiet.sending()
    with pytest.raises(Cancelled):
        HostGuard(time.monotonic() - 1).sending()
