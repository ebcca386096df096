"""``psfleet probe smb`` as a library: one unauthenticated SMB probe per inventory
host (its ``address`` and ``smb_port``), all on one event loop (at most ``forks`` hosts at
once, a wall-clock deadline per host, inventory order).

No credentials and no WinRM: only the SMB port is touched. Exit codes follow the audit's
scheme: 0 every host probed, 8 some host not probed (unreachable, timeout, protocol_error,
error), 130 interrupted.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from toolkit import __version__
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.task import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.results import ErrorKind, HostError, run_document, utc_now
from toolkit.smb.probe import DEADLINE_MARGIN, SmbProbeResult
from toolkit.smb.wire import ALL_DIALECTS, dialect_value

PROBE_RUN_SCHEMA = "psfleet.probe/2"


class ProbeStatus(StrEnum):
    PROBED = "probed"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"
    ERROR = "error"

    @classmethod
    def from_error(cls, kind: ErrorKind) -> ProbeStatus:
        try:
            return cls(kind.value)
        except ValueError:
            return cls.ERROR


@dataclass(frozen=True)
class ProbeHost:
    """One inventory host's probe. ``probe`` is None when the fan-out itself gave up (deadline,
    interruption); ``error`` then says why."""

    name: str
    address: str
    port: int
    status: ProbeStatus
    probe: SmbProbeResult | None = None
    error: HostError | None = None
    groups: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        wire = self.probe.to_dict() if self.probe else None
        headline = wire or {}
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "status": self.status.value,
            "dialect": headline.get("dialect"),
            "signing_enabled": headline.get("signing_enabled"),
            "signing_required": headline.get("signing_required"),
            "signing": headline.get("signing"),
            "smb1_accepted": headline.get("smb1_accepted"),
            "identity": headline.get("identity"),
            "relay_target": headline.get("relay_target", False),
            "probe": wire,
            "error": self.error.to_dict() if self.error else None,
        }


@dataclass(frozen=True)
class ProbeRun:
    """The aggregate of one ``probe smb`` run: what the renderers read."""

    hosts: tuple[ProbeHost, ...]
    started: str
    finished: str
    inventory: str
    version: str
    schema: str = PROBE_RUN_SCHEMA
    interrupted: bool = False

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(h.status.value for h in self.hosts)
        out = {s.value: counts.get(s.value, 0) for s in ProbeStatus}
        out["total"] = len(self.hosts)
        return out

    @property
    def exit_code(self) -> int:
        """0 every host probed, 8 some host not probed."""
        return 0 if all(h.status is ProbeStatus.PROBED for h in self.hosts) else 8

    def to_dict(self) -> dict[str, Any]:
        return run_document(self)


#: The probe's progress callbacks: the fan-out's one hooks protocol with probe results
#: (``on_start(host)``, ``on_result(probe_host)``, ``on_done(probe_hosts, interrupted)``),
#: called from the thread that runs :func:`probe_fleet`, never concurrently.
ProbeHooks = Hooks[ProbeHost]


def _probed(host: Host, probe: SmbProbeResult) -> ProbeHost:
    status = ProbeStatus.PROBED if probe.error is None else ProbeStatus.from_error(probe.error.kind)
    return ProbeHost(host.name, host.address, host.smb_port, status, probe, probe.error, host.groups)


def _failed(host: Host, error: HostError) -> ProbeHost:
    return ProbeHost(
        host.name, host.address, host.smb_port, ProbeStatus.from_error(error.kind), None, error, host.groups
    )


class _Fleet:
    """One run's state on the loop: ``forks`` workers take the hosts in inventory order."""

    def __init__(
        self,
        hosts: Sequence[Host],
        options: FanoutOptions,
        hooks: ProbeHooks,
        stop: threading.Event | None,
        per_dialect: tuple[str, ...],
        smb1: bool,
        identify: bool,
    ) -> None:
        self.hosts = hosts
        self.hooks = hooks
        self.stop = stop
        self.per_dialect = per_dialect
        self.smb1 = smb1
        self.identify = identify
        self.forks = max(1, min(options.forks, len(hosts)))
        # The probe's own budget, as the threaded fan-out gives it (the host's deadline less
        # the margin), so both paths report the same ``no answer within ...`` seconds.
        self.budget = max(0.1, options.timeout - DEADLINE_MARGIN)
        self.results: list[ProbeHost | None] = [None] * len(hosts)
        self.running: set[int] = set()
        self.interrupted = False
        self._next = iter(range(len(hosts)))

    async def _worker(self) -> None:
        from toolkit.smb.aio import probe_smb_async

        hosts, results, running, hooks = self.hosts, self.results, self.running, self.hooks
        for index in self._next:
            if self.stop is not None and self.stop.is_set():
                self.interrupted = True
                return
            host = hosts[index]
            running.add(index)
            hooks.started(host)
            try:
                probe = await probe_smb_async(
                    host.address,
                    host.smb_port,
                    timeout=self.budget,
                    per_dialect=self.per_dialect,
                    smb1=self.smb1,
                    identify=self.identify,
                )
            except Exception as exc:  # a bug (or no thread to resolve a name) fails one host, not the run
                error = HostError(ErrorKind.ERROR, f"internal error: {type(exc).__name__}: {exc}"[:300], True)
                result = _failed(host, error)
            else:
                result = _probed(host, probe)
            running.discard(index)
            results[index] = result
            hooks.finished(result)

    async def run(self) -> None:
        workers = [asyncio.ensure_future(self._worker()) for _ in range(self.forks)]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            # Ctrl-C (asyncio.run cancels this task): stop every host now, report the rest.
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.interrupt()

    def interrupt(self) -> None:
        """Hosts still running are ``interrupted while running``; the rest are reported by
        :meth:`finish`."""
        self.interrupted = True
        for index in sorted(self.running):
            result = self.results[index] = _failed(
                self.hosts[index], HostError(ErrorKind.ERROR, "interrupted while running", True)
            )
            self.hooks.finished(result)
        self.running.clear()

    def finish(self) -> list[ProbeHost]:
        return [
            r if r is not None else _failed(h, HostError(ErrorKind.ERROR, "not run: interrupted", False))
            for h, r in zip(self.hosts, self.results, strict=True)
        ]


def _run_on_a_loop(fleet: _Fleet) -> None:
    # A selector loop: the probe drives its sockets with add_reader/add_writer, which Windows'
    # default (proactor) loop lacks. asyncio.Runner turns Ctrl-C into a cancellation of run().
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        runner.run(fleet.run())


def _run_loop(fleet: _Fleet) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _run_on_a_loop(fleet)
        return
    # Called from a thread that already runs a loop (a notebook): ours runs on a thread, and
    # the hooks still run in the caller's thread (the hooks protocol's promise): the loop's
    # thread queues each call, the caller makes them.
    calls: queue.SimpleQueue[tuple[Callable[[Any], None], Any]] = queue.SimpleQueue()
    theirs = fleet.hooks
    fleet.hooks = ProbeHooks(
        on_start=lambda host: calls.put((theirs.started, host)),
        on_result=lambda result: calls.put((theirs.finished, result)),
    )
    worker = threading.Thread(target=_run_on_a_loop, args=(fleet,), name="psfleet-probe")
    worker.start()
    try:
        while worker.is_alive() or not calls.empty():
            try:
                call, arg = calls.get(timeout=0.05)
            except queue.Empty:
                continue
            call(arg)
    finally:
        worker.join()
        fleet.hooks = theirs


def probe_fleet(
    inventory: Inventory,
    *,
    options: FanoutOptions | None = None,
    hooks: ProbeHooks | None = None,
    stop: threading.Event | None = None,
    per_dialect: Sequence[str] | None = ALL_DIALECTS,
    smb1: bool = True,
    identify: bool = True,
) -> ProbeRun:
    """Probe every host of ``inventory`` on its ``smb_port`` and return the aggregate.

    All hosts are probed on one event loop (:mod:`toolkit.smb.aio`), at most
    ``options.forks`` at once, in inventory order; each probe is bounded by the host's
    deadline (``options.timeout``, less :data:`~toolkit.smb.probe.DEADLINE_MARGIN` as the
    probe's own budget). ``per_dialect``, ``smb1`` and ``identify`` as in
    :func:`toolkit.smb.probe.probe_smb` (unknown dialect names raise ValueError before any
    traffic). Retries do not apply (the probe never raises a transport error). ``stop`` set
    stops starting hosts (running ones finish); Ctrl-C stops the running ones too (``error``
    "interrupted while running"); hosts never started are ``error`` "not run: interrupted",
    so every host appears exactly once. Never raises for network trouble.
    """
    wanted = tuple(per_dialect or ())
    for name in wanted:
        dialect_value(name)
    options = options or FanoutOptions()
    hooks = hooks or ProbeHooks()
    started = utc_now()
    fleet = _Fleet(tuple(inventory.hosts), options, hooks, stop, wanted, smb1, identify)
    if fleet.hosts:
        try:
            _run_loop(fleet)
        except KeyboardInterrupt:
            # Ctrl-C where asyncio cannot turn it into a cancellation (SIGINT not Python's
            # default handler): the loop is gone, its hosts are interrupted.
            fleet.interrupt()
    hosts = fleet.finish()
    hooks.done(hosts, fleet.interrupted)
    return ProbeRun(
        hosts=tuple(hosts),
        started=started,
        finished=utc_now(),
        inventory=inventory.source,
        version=__version__,
        interrupted=fleet.interrupted,
    )
