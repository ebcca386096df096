"""What the fan-out runs for one host, whatever the command: a task, the options, the
caller's function that turns a failure into the command's result, and the attempts loop with
its retry rule. Shared by the dispatcher (:mod:`toolkit.fanout.runner`), the thread and
process executors (:mod:`toolkit.fanout.executors`) and the worker processes
(:mod:`toolkit.fanout.worker`); it imports none of them.

Retries happen only for ``unreachable`` and ``timeout`` failures before any request was sent,
never for an authentication failure (each retry would be one more failed logon towards a
lockout), and never past the host's deadline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from toolkit.errors import UsageError
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError
from toolkit.transport.protocol import TransportError


class Outcome(Protocol):
    """What the fan-out reads of any command's per-host result: its classified error (None:
    the host answered). The lockout guard counts ``auth_failed`` from it."""

    @property
    def error(self) -> HostError | None: ...


R = TypeVar("R", bound=Outcome)

#: A task gets the host and its absolute deadline (``time.monotonic()`` based) and returns the
#: command's result; a classified transport failure it raises as
#: :class:`toolkit.transport.protocol.TransportError`.
Task = Callable[[Host, float], R]


@dataclass(frozen=True)
class Failure:
    """A host the fan-out could not get a result for from the task: the task raised, the host
    passed its deadline, the run was interrupted, its credential was given up, or its worker
    process died."""

    host: Host
    error: HostError
    duration_s: float = 0.0
    #: The client that failed (``transport``, ``transport_fallback``), when one was chosen.
    details: Mapping[str, Any] = field(default_factory=dict)


#: The caller's function from a failure to its own result type (module-level, so that it
#: travels to worker processes with the task).
FailureFn = Callable[[Failure], R]


@dataclass(frozen=True)
class FanoutOptions:
    forks: int = 64
    timeout: float = 60.0
    retries: int = 1
    backoff: float = 0.5
    #: Worker processes: None = one per core for runs of PROCESS_THRESHOLD hosts or more
    #: (when the task pickles), 1 = threads of this process only.
    processes: int | None = None

    def __post_init__(self) -> None:
        # The CLI's options are bounded already; a library caller's forks=0 used to return
        # every host as "not run: interrupted" without an interruption.
        require_count("forks", self.forks, 1)
        require_count("retries", self.retries, 0)
        if self.processes is not None:
            require_count("processes", self.processes, 1)
        require_seconds("timeout", self.timeout, positive=True)
        require_seconds("backoff", self.backoff, positive=False)


def require_count(name: str, value: int, least: int) -> None:
    """UsageError unless ``value`` is a whole number (not a bool) of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{name} must be a whole number of at least {least}, not {value!r}")


def require_seconds(name: str, value: float, *, positive: bool) -> None:
    """UsageError unless ``value`` is a finite number of seconds (more than 0 if ``positive``)."""
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        least = "more than 0" if positive else "at least 0"
        raise UsageError(f"{name} must be a finite number of seconds, {least}, not {value!r}")


def attempts(task: Task[R], host: Host, deadline: float, options: FanoutOptions, fail: FailureFn[R]) -> R:
    """Run ``task`` for ``host`` with the retry rule of the module docstring; never raises
    (a failure becomes ``fail(Failure(...))``)."""
    attempt = 0
    started = time.monotonic()
    while True:
        try:
            return task(host, deadline)
        except TransportError as exc:
            err = exc.error
            # Never auth_failed: each retry would be one more failed logon towards a lockout.
            retryable = not err.sent and err.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT)
            wait = options.backoff * (2**attempt)
            if not retryable or attempt >= options.retries or time.monotonic() + wait >= deadline:
                return fail(Failure(host, err, time.monotonic() - started, exc.details()))
            attempt += 1
            time.sleep(wait)
        except Exception as exc:  # a bug in a task must not take the run down
            err = HostError(ErrorKind.ERROR, f"internal error: {type(exc).__name__}: {exc}"[:300], True)
            return fail(Failure(host, err, time.monotonic() - started))
