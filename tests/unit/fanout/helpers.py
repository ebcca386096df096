"""Helpers shared by the fan-out's tests (not a test module): collecting a process executor's
results, and what Linux's /proc shows of the worker processes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from toolkit.fanout.executors import ProcessExecutor
from toolkit.results import HostResult

#: For a test that reads /proc (the process tree, a process's threads or descriptors): Linux only.
needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads Linux's /proc")


def collect(ex: ProcessExecutor[HostResult], count: int, within: float = 60.0) -> dict[int, HostResult]:
    """``ex``'s results until ``count`` came, or ``within`` seconds passed."""
    out: dict[int, HostResult] = {}
    limit = time.monotonic() + within
    while len(out) < count and time.monotonic() < limit:
        out.update(ex.wait(0.5))
    return out


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def thread_states(pid: int) -> list[str]:
    """The state letter of each thread of ``pid`` (``S``: asleep, ``R``: running; Linux /proc)."""
    states = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                states.append(stat.read().rsplit(")", 1)[1].split()[0])
        except OSError:
            continue  # a thread that ended meanwhile
    return states


class FakeClock:
    """``time.monotonic``/``time.sleep`` for the fan-out: time moves only when someone sleeps
    (or a task says it took a while)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    advance = sleep
