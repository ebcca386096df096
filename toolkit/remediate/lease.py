"""Who may write a host right now: a lease on the host, a lock on this box, a cancel flag.

* **Host lease.** Before writing, remediation and rollback create the registry value
  ``HKLM:\\SOFTWARE\\psfleet\\Lease`` (a JSON string: run id, expiry, holder) with
  ``New-ItemProperty`` *without* ``-Force``, which fails when the value exists: of two runs
  (from any box) only one creates it. The same round trip reads the lease back and re-reads
  the managed values, so the plan is made from what the host holds *under* the lease. A
  lease held by another run makes the host ``busy`` (with that run's id); an expired one is
  taken over (removed, created again, read back: the run whose id reads back holds it). The
  lease is removed when the host is done; a run that dies leaves it to expire (or, when
  its holder was a process of this box that no longer runs, to be taken over at once).
* **Local lock.** Runs from the same box also take an exclusive ``flock`` on
  ``<state dir>/locks/<host>.lock`` (holding the run id), so they see each other without
  asking the host.
* **Cancel flag.** A host the fan-out gave up on (deadline) or an interrupted run must not be
  written afterwards: :class:`HostGuard` is checked before every journal append and every
  send, and the coordinator cancels it when it reports the host.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from toolkit.errors import PsfleetError
from toolkit.remediate.truekind import READ_STATEMENTS
from toolkit.results import ErrorKind, HostError
from toolkit.transport.model import Command, InvocationResult, PSObj, PSValue, Statement

LEASE_KEY = r"HKLM:\SOFTWARE\psfleet"
LEASE_NAME = "Lease"
#: A lease outlives the host's deadline by this much (a run never writes past its deadline).
LEASE_MARGIN_S = 60.0
#: Longest lease text read from a host.
MAX_LEASE_TEXT = 1024


class Busy(PsfleetError):
    """Another run holds the host (its lease on the host, or its lock on this box)."""

    def __init__(self, run_id: str, where: str, expires: str = "") -> None:
        until = f" until {expires}" if expires else ""
        super().__init__(f"busy: run {run_id} holds this host ({where}{until}); nothing was written")
        self.run_id = run_id
        self.message = str(self)


class Cancelled(PsfleetError):
    """The host was given up on (deadline, interrupt, journal failure): send nothing more."""


@dataclass(frozen=True)
class LeaseInfo:
    run_id: str
    expires: datetime
    holder: str

    def text(self) -> str:
        return json.dumps(
            {"run_id": self.run_id, "expires": self.expires.isoformat(), "holder": self.holder},
            separators=(",", ":"),
        )


def holder_dead(lease: LeaseInfo) -> bool:
    """Whether the lease's holder is a process of *this* box that no longer runs (a run
    killed with SIGKILL leaves its lease behind): its lease may be taken over at once."""
    box, _, pid_text = lease.holder.rpartition(":")
    if box != socket.gethostname()[:64] or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def holder_id() -> str:
    return f"{socket.gethostname()[:64]}:{os.getpid()}"


def new_lease(run_id: str, remaining_s: float) -> LeaseInfo:
    expires = datetime.now(UTC) + timedelta(seconds=max(0.0, remaining_s) + LEASE_MARGIN_S)
    return LeaseInfo(run_id, expires.replace(microsecond=0), holder_id())


def acquire_statements(
    lease: LeaseInfo, *, take_over: bool = False, reads: tuple[Statement, ...] = READ_STATEMENTS
) -> tuple[Statement, ...]:
    """Create the key (an error when it exists, ignored), create the lease value (an error
    when it exists: someone holds it), read it back, then the managed values' ``reads``."""
    out: list[Statement] = [(Command.of("New-Item", Path=LEASE_KEY), Command.of("Out-Null"))]
    if take_over:
        out.append((Command.of("Remove-ItemProperty", Path=LEASE_KEY, Name=LEASE_NAME),))
    out.append(
        (
            Command.of(
                "New-ItemProperty",
                Path=LEASE_KEY,
                Name=LEASE_NAME,
                PropertyType="String",
                Value=lease.text(),
            ),
            Command.of("Out-Null"),
        )
    )
    out.append((Command.of("Get-ItemProperty", Path=LEASE_KEY, Name=LEASE_NAME),))
    return (*out, *reads)


def release_statements() -> tuple[Statement, ...]:
    return ((Command.of("Remove-ItemProperty", Path=LEASE_KEY, Name=LEASE_NAME),),)


def split_lease_answer(result: InvocationResult) -> tuple[LeaseInfo | None, InvocationResult]:
    """(the lease read back, the rest of the answer for :func:`parse_facts`). Errors of the
    lease statements (key exists, lease exists, nothing to remove) are set aside in
    ``extra["lease_errors"]``: the lease read back is what counts."""
    lease: LeaseInfo | None = None
    rest = []
    for item in result.output:
        found = _lease_of(item)
        if found is not None:
            lease = found
            continue
        rest.append(item)
    errors = tuple(e for e in result.errors if not _is_lease_error(e.activity, e.target))
    lease_errors = tuple(e for e in result.errors if _is_lease_error(e.activity, e.target))
    return lease, InvocationResult(
        output=tuple(rest),
        errors=errors,
        had_errors=bool(errors),
        extra={**result.extra, "lease_errors": lease_errors},
    )


def _is_lease_error(activity: str, target: str) -> bool:
    if activity.lower() in ("new-item", "new-itemproperty", "remove-itemproperty"):
        return True
    return "\\software\\psfleet" in target.lower()


def _lease_of(item: PSObj | PSValue | None) -> LeaseInfo | None:
    if not isinstance(item, PSObj):
        return None
    path = item.get("PSPath")
    if not isinstance(path, PSValue) or not str(path.value).lower().endswith("\\software\\psfleet"):
        return None
    prop = item.get(LEASE_NAME)
    text = prop.value if isinstance(prop, PSValue) and isinstance(prop.value, str) else ""
    return parse_lease(text)


def parse_lease(text: str) -> LeaseInfo:
    """A lease value; anything unreadable counts as an expired lease held by ``unknown``."""
    try:
        data = json.loads(text[:MAX_LEASE_TEXT])
        expires = datetime.fromisoformat(str(data["expires"]))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        run_id = str(data["run_id"])[:80]
        return LeaseInfo(_printable(run_id), expires, _printable(str(data.get("holder", ""))[:80]))
    except (ValueError, TypeError, KeyError):
        return LeaseInfo("unknown", datetime.fromtimestamp(0, UTC), "")


def _printable(text: str) -> str:
    return re.sub(r"[^\w.:@+-]", "?", text)


# -- local lock ----------------------------------------------------------------------------


class LocalLock:
    """An exclusive, non-blocking ``flock`` per host on this box, holding the run id."""

    def __init__(self, directory: Path, host: str, run_id: str) -> None:
        digest = hashlib.sha256(host.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", host)[:48]
        self.path = directory / f"{safe}-{digest}.lock"
        self.run_id = run_id
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`Busy` with the holder's run id."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        # The holder writes its run id just after locking and clears it just before unlocking:
        # an empty file under a held lock is one of those moments, so look again.
        for attempt in range(50):
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                other = handle.read(200).strip()
                if other or attempt == 49:
                    handle.close()
                    raise Busy(_printable(other or "unknown"), "lock on this box") from None
                time.sleep(0.01)
        handle.seek(0)
        handle.truncate()
        handle.write(self.run_id)
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            handle.close()


# -- cancel flag -----------------------------------------------------------------------------


class HostGuard:
    """Whether a worker may still journal or send for its host.

    :meth:`check` before every journal append, :meth:`sending` right before every send
    (it records that something may have gone out); the coordinator calls :meth:`cancel`
    when it reports the host (timeout, interrupt) or the journal failed. Both take the same
    lock, so a host is either reported before anything was sent or known as ``sent``."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.cancelled: str | None = None
        self.sent = False
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            self._check()

    def sending(self) -> None:
        with self._lock:
            self._check()
            self.sent = True

    def _check(self) -> None:
        if self.cancelled is not None:
            raise Cancelled(self.cancelled)
        if time.monotonic() >= self.deadline:
            raise Cancelled("the host's deadline passed")

    def cancel(self, why: str) -> bool:
        """Stop the worker; returns whether something may already have been sent."""
        with self._lock:
            if self.cancelled is None:
                self.cancelled = why
            return self.sent

    def stopped(self) -> HostError:
        """Why the worker stopped after :class:`Cancelled`: the run's reason (journal failure,
        second Ctrl-C) or the host's deadline, and whether a lease or write may have gone out."""
        with self._lock:
            if self.cancelled is None:
                return HostError(ErrorKind.TIMEOUT, "the host's deadline passed", sent=self.sent)
            why = self.cancelled if self.sent else f"{self.cancelled}; no change was sent"
            return HostError(ErrorKind.ERROR, why, sent=self.sent)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()
