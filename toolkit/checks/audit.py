"""Audit one host: probe (one round trip), then judge. Read-only: nothing is written.

Optional :class:`AuditExtension` objects add work to the same worker: statements appended to
the audit's single round trip (their part of the answer is split off before the registry
facts are parsed) and a step that adds a plain-data section to ``HostResult.extra``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from toolkit.baselines.facts import HostFacts
from toolkit.baselines.model import Baseline
from toolkit.baselines.osinfo import os_info
from toolkit.baselines.select import baselines_for, resolve_specs
from toolkit.checks.probe import ProbeError, parse_facts, probe_keys, statements_for
from toolkit.checks.smbconfig import getters_of, smb_statements, split_smb, with_smb
from toolkit.checks.verdicts import evaluate, host_status
from toolkit.inventory.model import Host
from toolkit.results import HostError, HostResult, HostStatus
from toolkit.transport.model import ErrorRecordData, InvocationResult, PSObj, PSValue, Statement
from toolkit.transport.protocol import CredentialLike, Session, transport_fields
from toolkit.transport.select import open_session

log = logging.getLogger(__name__)

_keys: dict[tuple[str, ...], tuple[str, ...]] = {}
_keys_lock = threading.Lock()


def probe_keys_for(host: Host) -> tuple[str, ...]:
    """The registry keys the audit reads on ``host`` (each once), computed once per baseline
    selection."""
    key = tuple(host.baselines)
    with _keys_lock:
        found = _keys.get(key)
    if found is None:
        found = probe_keys(c.path for b in resolve_specs(key) for c in b.checks)
        with _keys_lock:
            _keys[key] = found
    return found


def smb_getters_for(host: Host) -> tuple[str, ...]:
    """The Get-Smb*Configuration cmdlets the host's ``smb:`` checks read (each once)."""
    return getters_of(c.path for b in baselines_for(host) for c in b.checks)


#: One item of an answer: an output object/value or an error record.
AnswerItem = PSObj | PSValue | ErrorRecordData | None


def _owns_nothing(item: AnswerItem) -> bool:
    return False


@dataclass(frozen=True)
class AuditExtension:
    """Extra work for each audited host, run in its worker after the registry audit.

    ``statements`` are appended to the audit's pipeline (same session, same round trip);
    ``owns`` claims the output objects and error records they produce, so the registry
    parser never sees them. ``finish(host, facts, answer, result, deadline)`` gets only the
    claimed part of the answer and the host's deadline (``time.monotonic()`` based; work of
    its own, such as an SMB probe, must end before it) and returns the section stored as
    ``result.extra[name]`` (plain data).
    It runs only for hosts whose registry was read; it should not raise (an exception is
    recorded as ``{"status": "error", ...}`` in the section, never fails the host).
    """

    name: str
    finish: Callable[[Host, HostFacts, InvocationResult, HostResult, float], Mapping[str, object]]
    statements: tuple[Statement, ...] = ()
    owns: Callable[[AnswerItem], bool] = _owns_nothing


def split_answer(
    result: InvocationResult, extensions: Sequence[AuditExtension]
) -> tuple[InvocationResult, dict[str, InvocationResult]]:
    """The registry part of ``result`` and each extension's part (first claim wins)."""
    outputs: dict[str, list[PSObj | PSValue | None]] = {e.name: [] for e in extensions}
    errors: dict[str, list[ErrorRecordData]] = {e.name: [] for e in extensions}
    rest_out: list[PSObj | PSValue | None] = []
    rest_err: list[ErrorRecordData] = []
    for item in result.output:
        owner = next((e.name for e in extensions if e.owns(item)), None)
        (outputs[owner] if owner else rest_out).append(item)
    for error in result.errors:
        owner = next((e.name for e in extensions if e.owns(error)), None)
        (errors[owner] if owner else rest_err).append(error)
    registry = InvocationResult(tuple(rest_out), tuple(rest_err), bool(rest_err), result.extra)
    parts = {
        name: InvocationResult(tuple(outputs[name]), tuple(errors[name]), bool(errors[name]), result.extra)
        for name in outputs
    }
    return registry, parts


def apply_extensions(
    host: Host,
    facts: HostFacts,
    result: HostResult,
    parts: Mapping[str, InvocationResult],
    extensions: Sequence[AuditExtension],
    deadline: float,
) -> HostResult:
    """Run each extension's ``finish`` and merge its section into ``result.extra``."""
    extra = dict(result.extra)
    for extension in extensions:
        answer = parts.get(extension.name, InvocationResult())
        try:
            extra[extension.name] = dict(extension.finish(host, facts, answer, result, deadline))
        except Exception as exc:  # an optional section must not cost the host its audit
            log.debug("%s: %s failed: %s", host.name, extension.name, exc, exc_info=True)
            message = f"internal error: {type(exc).__name__}: {exc}"[:300]
            extra[extension.name] = {"status": "error", "summary": f"error: {message}", "error": message}
    return replace(result, extra=extra)


def judge(
    host: Host,
    facts: HostFacts,
    *,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
    duration: float = 0.0,
    baselines: Sequence[Baseline] | None = None,
) -> HostResult:
    """Pure: facts + policy -> HostResult (``baselines``: the host's, by default)."""
    if baselines is None:
        baselines = baselines_for(host)
    os = os_info(facts.current_version)
    checks = evaluate(facts, host.policy, os=os, now=now, workarounds=workarounds, baselines=baselines)
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


def served_by(session: Session, result: HostResult) -> HostResult:
    """``result`` saying which client served the host (``transport``, ``transport_fallback``)."""
    return replace(result, extra={**result.extra, **transport_fields(session)})


def audit_host(
    host: Host,
    credential: CredentialLike | None,
    deadline: float,
    *,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
    extensions: Sequence[AuditExtension] = (),
) -> HostResult:
    """Read the keys of the host's baselines in one pipeline (one Get-ItemProperty per key,
    whatever the number of checks) and judge them. Transport failures raise
    :class:`toolkit.transport.pypsrp_session.TransportError` (the fan-out turns them into results).

    ``extensions`` append their statements to the same pipeline (still one round trip) and
    add their sections after judging; without them the behaviour is unchanged.
    """
    started = time.monotonic()
    baselines = baselines_for(host)
    keys, getters = probe_keys_for(host), smb_getters_for(host)
    # The SMB configuration cmdlets go last: before 9200 they do not exist.
    statements = (
        statements_for(keys) + tuple(s for e in extensions for s in e.statements) + smb_statements(getters)
    )
    # The host's transport (auto: the lean client, pypsrp after a protocol failure): same facts.
    with open_session(host, credential, deadline=deadline) as session:
        result = session.run(statements)
    registry, parts = split_answer(result, extensions) if extensions else (result, {})
    registry, smb = split_smb(registry, getters)
    try:
        facts = with_smb(parse_facts(registry, keys), getters, smb)
    except ProbeError as exc:
        return served_by(session, probe_result_error(host, exc, time.monotonic() - started))
    judged = judge(
        host,
        facts,
        now=now,
        workarounds=workarounds,
        duration=time.monotonic() - started,
        baselines=baselines,
    )
    judged = served_by(session, judged)
    if not extensions:
        return judged
    extended = apply_extensions(host, facts, judged, parts, extensions, deadline)
    return replace(extended, duration_s=time.monotonic() - started)
