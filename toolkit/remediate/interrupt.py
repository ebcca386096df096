"""Ctrl-C during a remediation or rollback: stop starting hosts, then stop waiting.

The first SIGINT sets ``stop``: no host starts after it, hosts in flight finish (or reach
their deadline), the report is printed. The second cancels every host in flight (nothing
more is journaled or sent for them) and stops waiting for them: a KeyboardInterrupt is
raised in the main thread only while it is inside the fan-out (which turns it into
"interrupted while running" results), never while the journal is being written or the
report printed. Later ones are ignored: the report is on its way. Either way the journal
gets its end record and the process exits 130.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

#: Set while the main thread is inside ``run_hosts`` (where a KeyboardInterrupt is handled).
_IN_FANOUT = threading.local()
#: Callbacks that cancel the hosts in flight (registered by a running remediation/rollback).
_CANCELLERS: list[Callable[[str], None]] = []


@contextmanager
def in_fanout() -> Iterator[None]:
    _IN_FANOUT.active = True
    try:
        yield
    finally:
        _IN_FANOUT.active = False


@contextmanager
def cancellable(cancel: Callable[[str], None]) -> Iterator[None]:
    """Register ``cancel`` for the second Ctrl-C while the run lasts."""
    _CANCELLERS.append(cancel)
    try:
        yield
    finally:
        _CANCELLERS.remove(cancel)


@contextmanager
def interrupt_policy(stop: threading.Event, say: Callable[[str], None]) -> Iterator[None]:
    """Install the two-step SIGINT handler (main thread only) for the duration."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        if count == 1:
            stop.set()
            say("interrupted: no new hosts start; hosts in flight finish (Ctrl-C again to stop waiting)")
            return
        if count == 2:
            say("interrupted again: hosts in flight are abandoned; the report follows")
            for cancel in list(_CANCELLERS):
                cancel("interrupted")
            if getattr(_IN_FANOUT, "active", False):
                raise KeyboardInterrupt
            return
        say("already stopping: the report follows")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
