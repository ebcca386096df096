"""The one hooks protocol of every fan-out command (audit, plan, remediate, rollback, run,
probe): what a caller sees while hosts run, whatever the result type ``T`` of the command.

* ``on_start(host)``: a host was dispatched (its deadline starts now);
* ``on_result(result)``: a host finished, failed, timed out or was not attempted (once per
  host; hosts never dispatched because the run was interrupted get none);
* ``on_done(results, interrupted)``: the fan-out ended; ``results`` in inventory order,
  every host exactly once (the never-dispatched ones as "not run: interrupted").

All three are called from the dispatching thread (the caller's), never from workers, so they
may print, write a file or put into a queue without locks. A hook that raises stops the run
as an exception would, so keep them small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from toolkit.inventory.model import Host

T = TypeVar("T")


@dataclass
class Hooks(Generic[T]):
    """Callbacks, each optional. ``Hooks[HostResult]`` for an audit, ``Hooks[HostRunResult]``
    for ``run``, ``Hooks[ProbeHost]`` for the SMB probe; the fan-out itself is generic over
    ``T`` (:func:`toolkit.fanout.runner.run_hosts`)."""

    on_start: Callable[[Host], None] | None = None
    on_result: Callable[[T], None] | None = None
    on_done: Callable[[Sequence[T], bool], None] | None = None

    def started(self, host: Host) -> None:
        if self.on_start is not None:
            self.on_start(host)

    def finished(self, result: T) -> None:
        if self.on_result is not None:
            self.on_result(result)

    def done(self, results: Sequence[T], interrupted: bool) -> None:
        if self.on_done is not None:
            self.on_done(results, interrupted)
