"""Audit one host: probe (one round trip), then judge. Read-only: nothing is written."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

from toolkit.checks.facts import HostFacts
from toolkit.checks.osinfo import os_info
from toolkit.checks.probe import AUDIT_STATEMENTS, ProbeError, parse_facts
from toolkit.checks.verdicts import evaluate, host_status
from toolkit.inventory.model import Host
from toolkit.results import HostError, HostResult, HostStatus
from toolkit.transport.session import CredentialLike, HostSession


def judge(
    host: Host,
    facts: HostFacts,
    *,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
    duration: float = 0.0,
) -> HostResult:
    """Pure: facts + policy -> HostResult."""
    os = os_info(facts.current_version)
    checks = evaluate(facts, host.policy, os=os, now=now, workarounds=workarounds)
    return HostResult(
        name=host.name,
        address=host.address,
        status=host_status(checks),
        os=os,
        checks=checks,
        duration_s=duration,
        groups=host.groups,
    )


def probe_result_error(host: Host, exc: ProbeError, duration: float) -> HostResult:
    return HostResult(
        name=host.name,
        address=host.address,
        status=HostStatus.from_error(exc.kind),
        error=HostError(exc.kind, f"unexpected answer: {exc.message}"),
        duration_s=duration,
        groups=host.groups,
    )


def audit_host(
    host: Host,
    credential: CredentialLike | None,
    deadline: float,
    *,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
) -> HostResult:
    """Read the three keys in one pipeline and judge them. Transport failures raise
    :class:`toolkit.transport.session.TransportError` (the fan-out turns them into results)."""
    started = time.monotonic()
    with HostSession(host, credential, deadline=deadline) as session:
        result = session.run(AUDIT_STATEMENTS)
    try:
        facts = parse_facts(result)
    except ProbeError as exc:
        return probe_result_error(host, exc, time.monotonic() - started)
    return judge(host, facts, now=now, workarounds=workarounds, duration=time.monotonic() - started)
