"""The commands through the engine: the same run aggregates a local run returns."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from toolkit.engine.controller import EngineOptions, run_engine
from toolkit.engine.wire import result_from_wire
from toolkit.fanout.runner import FanoutHooks, FanoutOptions, audit_failure, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.results import AuditRun, HostResult, utc_now
from toolkit.transport.protocol import CredentialLike


def audit(
    inventory: Inventory,
    *,
    credentials: Mapping[str, CredentialLike | None],
    options: FanoutOptions,
    engine: EngineOptions,
    hooks: FanoutHooks | None = None,
    stop: threading.Event | None = None,
    workarounds: Mapping[str, Mapping[str, datetime] | None] | None = None,
    with_probe: bool = False,
    events_days: float | None = None,
) -> AuditRun:
    """:func:`toolkit.api.audit` through the engine: hosts with a ``site`` on that site's
    worker, the others here (``credentials`` are needed for those only)."""
    from toolkit.api import AuditTask, audit_run
    from toolkit.smb.audit_sections import smb_extensions

    started = utc_now()
    now = datetime.now(UTC)
    table = dict(workarounds or {})
    task = AuditTask(
        credentials=dict(credentials),
        now=now,
        workarounds=table,
        extensions=smb_extensions(with_probe=with_probe, events_days=events_days),
    )

    def local(
        hosts: list[Host], local_hooks: FanoutHooks, local_stop: threading.Event
    ) -> tuple[list[HostResult], bool]:
        return run_hosts(hosts, task, fail=audit_failure, options=options, hooks=local_hooks, stop=local_stop)

    params = {
        "with_probe": with_probe,
        "events_days": events_days,
        "workarounds": {
            name: {k: v.isoformat() for k, v in entry.items()} if entry else None
            for name, entry in table.items()
        },
    }
    results, interrupted = run_engine(
        list(inventory.hosts),
        kind="audit",
        params=params,
        options=options,
        engine=engine,
        local=local,
        decode=result_from_wire,
        fail=audit_failure,
        hooks=hooks,
        stop=stop,
        now=now,
    )
    return audit_run(inventory, results, started=started, interrupted=interrupted)
