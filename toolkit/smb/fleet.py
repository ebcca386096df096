"""``psfleet probe smb`` as a library: one unauthenticated SMB probe per inventory
host (its ``address`` and ``smb_port``), through the audit's fan-out (bounded workers, a
wall-clock deadline per host, inventory order).

No credentials and no WinRM: only the SMB port is touched. Exit codes follow the audit's
scheme: 0 every host probed, 8 some host not probed (unreachable, timeout, protocol_error,
error), 130 interrupted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from toolkit import __version__
from toolkit.fanout.lockout import CredentialGate
from toolkit.fanout.runner import FanoutHooks, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus, run_document, utc_now
from toolkit.smb.probe import DEADLINE_MARGIN, SmbProbeResult, probe_smb
from toolkit.smb.wire import ALL_DIALECTS

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


@dataclass
class ProbeHooks:
    """Progress callbacks; called from the dispatching thread, never from workers."""

    on_start: Callable[[Host], None] | None = None
    on_result: Callable[[ProbeHost], None] | None = None


def _as_host_result(host: Host, probe: SmbProbeResult) -> HostResult:
    # run_hosts speaks HostResult; the status only has to tell probed from failed here.
    if probe.error is None:
        return HostResult(host.name, host.address, HostStatus.COMPLIANT, duration_s=probe.duration_s)
    return HostResult(
        host.name,
        host.address,
        HostStatus.from_error(probe.error.kind),
        error=probe.error,
        duration_s=probe.duration_s,
    )


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

    Each probe is bounded by the host's deadline (``options.timeout``); ``per_dialect`` as in
    :func:`toolkit.smb.probe.probe_smb`, and so are ``smb1`` and ``identify``. Retries do not apply (the probe never raises a
    transport error). Never raises for network trouble: every host appears exactly once.
    """
    options = options or FanoutOptions()
    hooks = hooks or ProbeHooks()
    probes: dict[str, SmbProbeResult] = {}
    lock = threading.Lock()
    by_name = {h.name: h for h in inventory.hosts}
    started = utc_now()

    def task(host: Host, deadline: float) -> HostResult:
        budget = max(0.1, deadline - time.monotonic() - DEADLINE_MARGIN)
        probe = probe_smb(
            host.address, host.smb_port, timeout=budget, per_dialect=per_dialect, smb1=smb1, identify=identify
        )
        with lock:
            probes[host.name] = probe
        return _as_host_result(host, probe)

    def to_probe_host(result: HostResult) -> ProbeHost:
        host = by_name[result.name]
        with lock:
            probe = probes.get(result.name)
        # A probe that ended after the fan-out gave up on the host does not count.
        if probe is not None and probe.error == result.error:
            status = ProbeStatus.PROBED if probe.error is None else ProbeStatus.from_error(probe.error.kind)
            return ProbeHost(host.name, host.address, host.smb_port, status, probe, probe.error, host.groups)
        error = result.error or HostError(ErrorKind.ERROR, "no result")
        return ProbeHost(
            host.name,
            host.address,
            host.smb_port,
            ProbeStatus.from_error(error.kind),
            None,
            error,
            host.groups,
        )

    def on_result(result: HostResult) -> None:
        if hooks.on_result is not None:
            hooks.on_result(to_probe_host(result))

    fanout_hooks = FanoutHooks(on_start=hooks.on_start, on_result=on_result)
    # The probe sends no credentials: no lockout to guard against, nothing held back.
    results, interrupted = run_hosts(
        list(inventory.hosts),
        task,
        options=options,
        hooks=fanout_hooks,
        stop=stop,
        gate=CredentialGate(enabled=False),
    )
    return ProbeRun(
        hosts=tuple(to_probe_host(r) for r in results),
        started=started,
        finished=utc_now(),
        inventory=inventory.source,
        version=__version__,
        interrupted=interrupted,
    )
