"""The public, typed API behind every CLI command (re-exported from :mod:`toolkit`).

Results are plain data (:mod:`toolkit.results`) that serialize to the same JSON as the CLI.
Progress and per-host results stream through :class:`toolkit.fanout.runner.FanoutHooks`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from toolkit import __version__
from toolkit.checks.audit import AuditExtension, audit_host
from toolkit.fanout.runner import FanoutHooks, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.results import AuditRun, HostResult, utc_now
from toolkit.transport.protocol import CredentialLike
from toolkit.transport.select import with_transport

#: Default concurrency of an audit: the latency floor drops below the CPU floor at 256 without
#: the contention measured at 512 (README "Performance").
AUDIT_DEFAULT_FORKS = 256

#: Per host: the expiry of a temporary secure-negotiate workaround (from remediation journals).
WorkaroundLookup = Callable[[Host], Mapping[str, datetime] | None]


@dataclass(frozen=True)
class AuditTask:
    """The audit of one host (:func:`toolkit.checks.audit.audit_host`), as a task for
    :func:`toolkit.fanout.runner.run_hosts`."""

    credentials: Mapping[str, CredentialLike | None]
    now: datetime
    workarounds: Mapping[str, Mapping[str, datetime] | None]
    extensions: tuple[AuditExtension, ...] = ()
    extra: Callable[[Host, HostResult], HostResult] | None = None

    def __call__(self, host: Host, deadline: float) -> HostResult:
        result = audit_host(
            host,
            self.credentials.get(host.name),
            deadline,
            now=self.now,
            workarounds=self.workarounds.get(host.name),
            extensions=self.extensions,
        )
        return self.extra(host, result) if self.extra is not None else result


def audit(
    inventory: Inventory,
    *,
    credentials: Mapping[str, CredentialLike | None],
    options: FanoutOptions | None = None,
    hooks: FanoutHooks | None = None,
    stop: threading.Event | None = None,
    workarounds: WorkaroundLookup | None = None,
    extra: Callable[[Host, HostResult], HostResult] | None = None,
    extensions: Sequence[AuditExtension] = (),
    transport: str | None = None,
) -> AuditRun:
    """Audit every host of ``inventory`` (read-only) and return the aggregate.

    ``transport`` (``auto``, ``lean`` or ``pypsrp``) overrides each host's ``transport``
    setting, as ``--transport`` does; each host result says which client served it.

    ``credentials`` maps host names to credentials (see
    :func:`toolkit.inventory.credentials.resolve_credentials`). ``extra`` may enrich each host
    result (wire probe, events) after the registry audit, in the worker thread.
    ``extensions`` (:class:`toolkit.checks.audit.AuditExtension`) add statements to each
    host's single audit round trip and sections to its result (see
    :func:`toolkit.smb.audit_sections.smb_events_extension`,
    :func:`toolkit.smb.audit_sections.wire_signing_extension`); none by default.
    """
    started = utc_now()
    now = datetime.now(UTC)
    inventory = with_transport(inventory, transport)

    # A plain, picklable task (workarounds looked up here), so that large runs can spread
    # hosts over worker processes (toolkit.fanout.executors); closures in ``extra`` or
    # ``extensions`` keep it on threads of this process.
    task = AuditTask(
        credentials=dict(credentials),
        now=now,
        workarounds={h.name: workarounds(h) for h in inventory.hosts} if workarounds else {},
        extensions=tuple(extensions),
        extra=extra,
    )
    if options is None:
        # Same default as `psfleet audit --forks` (measured; see README "Performance").
        options = FanoutOptions(forks=AUDIT_DEFAULT_FORKS)
    results, interrupted = run_hosts(list(inventory.hosts), task, options=options, hooks=hooks, stop=stop)
    return AuditRun(
        hosts=tuple(results),
        started=started,
        finished=utc_now(),
        inventory=inventory.source,
        version=__version__,
        interrupted=interrupted,
    )
