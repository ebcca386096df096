"""The public, typed API behind every CLI command (re-exported from :mod:`toolkit`).

One call per command, composing the same state as the command by default:

* :func:`audit` (``psfleet audit``): workarounds recorded by remediation runs (an expired one
  is drift), and the SMB extensions of ``--with-probe`` / ``--events``;
* :func:`plan` (``psfleet remediate --check``) and :func:`remediate`: the same workarounds,
  and for ``remediate`` a new journal in the state directory unless one is named;
* :func:`rollback` (``psfleet rollback``): a rollback journal next to the one undone;
* :func:`run` (``psfleet run``) and :func:`probe` (``psfleet probe smb``).

Results are plain data (:mod:`toolkit.results`, :mod:`toolkit.remediate`,
:mod:`toolkit.run_command.results`, :mod:`toolkit.smb.fleet`) whose ``to_dict()`` is the
JSON the command prints with ``--format json``; :func:`toolkit.report.render.render` turns
any of them into the command's other formats. ``tests/integration/api/test_parity.py`` runs
each command and its call on the same lab fleet and compares the two documents.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit import __version__
from toolkit.baselines.select import baselines_for
from toolkit.checks.audit import AuditExtension, audit_host
from toolkit.fanout.runner import FanoutHooks, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate.workarounds import workarounds_from_journals
from toolkit.results import AuditRun, HostResult, utc_now
from toolkit.transport.protocol import CredentialLike

# Each call imports what only it needs (planning and writing, the ad-hoc runner, the SMB
# probe, the extensions of --with-probe/--events) when it runs: an audit's start-up must not
# pay for the other commands (issue 12).
if TYPE_CHECKING:
    from toolkit.remediate.apply import BatchHook, RemediateHooks
    from toolkit.remediate.journal import Journal
    from toolkit.remediate.model import RemediateRun
    from toolkit.remediate.options import RemediateOptions
    from toolkit.run_command.command import RunCommand
    from toolkit.run_command.results import CommandRun
    from toolkit.run_command.runner import RunHooks
    from toolkit.smb.fleet import ProbeHooks, ProbeRun

__all__ = [
    "AUDIT_DEFAULT_FORKS",
    "PROBE_DEFAULT_OPTIONS",
    "AuditTask",
    "WorkaroundLookup",
    "audit",
    "audit_run",
    "judged_check_ids",
    "plan",
    "probe",
    "remediate",
    "rollback",
    "run",
]

#: Default concurrency of an audit: the latency floor drops below the CPU floor at 256 without
#: the contention measured at 512 (README "Performance").
AUDIT_DEFAULT_FORKS = 256

#: ``psfleet probe smb``'s defaults: 64 hosts at once, 10 s each, no retries (nothing is sent
#: before the TCP connect succeeds, so there is nothing to retry safely after it).
PROBE_DEFAULT_OPTIONS = FanoutOptions(forks=64, timeout=10.0, retries=0)

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
    with_probe: bool = False,
    events_days: float | None = None,
    extensions: Sequence[AuditExtension] = (),
    extra: Callable[[Host, HostResult], HostResult] | None = None,
    transport: str | None = None,
    baselines: Sequence[str] = (),
) -> AuditRun:
    """Audit every host of ``inventory`` (read-only) and return the aggregate, as
    ``psfleet audit`` does.

    ``workarounds`` (host -> ``{check id: expiry}``) defaults to the workarounds remediation
    runs recorded in the state directory (:func:`toolkit.remediate.workarounds_from_journals`),
    so an expired ``--allow-insecure`` workaround is drift here as in the CLI; pass
    ``workarounds_from_journals(directory)`` for another directory or ``lambda host: None``
    to judge without any. ``with_probe`` and ``events_days`` are ``--with-probe`` and
    ``--events DAYS``; ``extensions`` (:class:`toolkit.checks.audit.AuditExtension`) add
    further statements to each host's single round trip. ``transport`` (``auto``, ``lean`` or
    ``pypsrp``) overrides each host's setting, as ``--transport`` does; ``baselines`` (names or
    files) replace the hosts' baselines, as ``--baseline`` does. ``extra`` may enrich
    each host result after its audit, in the worker thread.

    ``credentials`` maps host names to credentials (see
    :func:`toolkit.inventory.credentials.resolve_credentials`). ``options=None`` means 256
    hosts at once (:data:`AUDIT_DEFAULT_FORKS`, as ``--forks``). Never raises for a host's
    trouble: each host gets a classified status.
    """
    started = utc_now()
    now = datetime.now(UTC)
    inventory = _prepared(inventory, transport, baselines)
    chosen = tuple(extensions)
    if with_probe or events_days is not None:
        from toolkit.smb.audit_sections import smb_extensions

        chosen = (*smb_extensions(with_probe=with_probe, events_days=events_days), *chosen)
    lookup = workarounds if workarounds is not None else workarounds_from_journals()
    # A plain, picklable task (workarounds looked up here), so that large runs can spread
    # hosts over worker processes (toolkit.fanout.executors); closures in ``extra`` or
    # ``extensions`` keep it on threads of this process.
    task = AuditTask(
        credentials=dict(credentials),
        now=now,
        workarounds={h.name: lookup(h) for h in inventory.hosts},
        extensions=chosen,
        extra=extra,
    )
    if options is None:
        options = FanoutOptions(forks=AUDIT_DEFAULT_FORKS)
    results, interrupted = run_hosts(list(inventory.hosts), task, options=options, hooks=hooks, stop=stop)
    return audit_run(inventory, results, started=started, interrupted=interrupted)


def audit_run(
    inventory: Inventory, results: Sequence[HostResult], *, started: str, interrupted: bool
) -> AuditRun:
    """The aggregate of an audit of ``inventory`` that started at ``started`` and ends now
    (here or through the engine: the same fields either way)."""
    return AuditRun(
        hosts=tuple(results),
        started=started,
        finished=utc_now(),
        inventory=inventory.source,
        version=__version__,
        interrupted=interrupted,
        check_ids=judged_check_ids(inventory.hosts),
    )


def judged_check_ids(hosts: Sequence[Host]) -> tuple[str, ...]:
    """The ids of the checks of every host's baselines, in first-seen order (an audit run's
    :attr:`toolkit.results.AuditRun.check_ids`)."""
    return tuple(dict.fromkeys(check.id for host in hosts for b in baselines_for(host) for check in b.checks))


def plan(
    inventory: Inventory,
    *,
    credentials: Mapping[str, CredentialLike | None],
    options: RemediateOptions | None = None,
    only: Sequence[str] | None = None,
    allow_insecure: bool = False,
    expires: datetime | None = None,
    workarounds: WorkaroundLookup | None = None,
    hooks: RemediateHooks | None = None,
    stop: threading.Event | None = None,
    transport: str | None = None,
    baselines: Sequence[str] = (),
) -> RemediateRun:
    """The remediation dry run (``psfleet remediate --check``): read every host and plan,
    writing and journaling nothing; changes are ``pending`` (exit code 4 when any are).
    ``workarounds`` defaults to the state directory's, and ``transport`` and ``baselines`` are
    ``--transport`` and ``--baseline``, as in :func:`audit`; the other options are
    :func:`remediate`'s."""
    from toolkit.remediate.apply import plan as plan_run

    return plan_run(
        _prepared(inventory, transport, baselines),
        credentials=credentials,
        options=options,
        only=only,
        allow_insecure=allow_insecure,
        expires=expires,
        workarounds=workarounds if workarounds is not None else workarounds_from_journals(),
        hooks=hooks,
        stop=stop,
    )


def remediate(
    inventory: Inventory,
    *,
    credentials: Mapping[str, CredentialLike | None],
    journal: Path | None = None,
    options: RemediateOptions | None = None,
    only: Sequence[str] | None = None,
    allow_insecure: bool = False,
    expires: datetime | None = None,
    workarounds: WorkaroundLookup | None = None,
    workaround_file: Path | None = None,
    hooks: RemediateHooks | None = None,
    on_batch: BatchHook | None = None,
    stop: threading.Event | None = None,
    lock_dir: Path | None = None,
    transport: str | None = None,
    baselines: Sequence[str] = (),
) -> RemediateRun:
    """Bring drifted hosts to the inventory's desired state (``psfleet remediate --yes``):
    plan, journal, write, verify by read-back, batch by batch.

    ``journal`` must not exist; by default a new one in the state directory
    (``<state dir>/journals/remediate-<UTC>.jsonl``; ``RemediateRun.journal`` names it, for
    :func:`rollback`). ``workarounds`` (the state directory's by default), ``transport`` and
    ``baselines`` as in :func:`audit`. See :func:`toolkit.remediate.apply.remediate` for
    batches, leases and what happens when the journal cannot be written. Asks nothing:
    confirming is the caller's business (the CLI prompts or takes ``--yes``).
    """
    from toolkit.remediate.apply import remediate as remediate_run
    from toolkit.remediate.journal import default_journal_path

    return remediate_run(
        _prepared(inventory, transport, baselines),
        credentials=credentials,
        journal=journal if journal is not None else default_journal_path(),
        options=options,
        only=only,
        allow_insecure=allow_insecure,
        expires=expires,
        workarounds=workarounds if workarounds is not None else workarounds_from_journals(),
        workaround_file=workaround_file,
        hooks=hooks,
        on_batch=on_batch,
        stop=stop,
        lock_dir=lock_dir,
    )


def rollback(
    journal_path: Path,
    *,
    inventory: Inventory,
    credentials: Mapping[str, CredentialLike | None],
    rollback_journal: Path | None = None,
    options: FanoutOptions | None = None,
    force: bool = False,
    salvage: bool = False,
    workaround_file: Path | None = None,
    hooks: RemediateHooks | None = None,
    stop: threading.Event | None = None,
    lock_dir: Path | None = None,
    journal: Journal | None = None,
    transport: str | None = None,
) -> RemediateRun:
    """Restore every value the remediation journal ``journal_path`` changed, verified by
    read-back (``psfleet rollback --yes``). ``rollback_journal`` defaults to a new file next
    to ``journal_path``; ``journal`` is that file already read (``read_journal``), to avoid
    reading it twice. See :func:`toolkit.remediate.rollback.rollback` for ``force`` and
    ``salvage``."""
    from toolkit.remediate.rollback import rollback as rollback_run

    return rollback_run(
        journal_path,
        inventory=_with_transport(inventory, transport),
        credentials=credentials,
        rollback_journal=rollback_journal,
        options=options,
        force=force,
        salvage=salvage,
        workaround_file=workaround_file,
        hooks=hooks,
        stop=stop,
        lock_dir=lock_dir,
        journal=journal,
    )


def run(
    inventory: Inventory,
    command: RunCommand | str,
    *,
    credentials: Mapping[str, CredentialLike | None],
    options: FanoutOptions | None = None,
    hooks: RunHooks | None = None,
    stop: threading.Event | None = None,
    allow_write: bool = False,
    transport: str | None = None,
) -> CommandRun:
    """One ad-hoc command on every host (``psfleet run``); see
    :func:`toolkit.run_command.runner.run`. ``transport`` overrides each host's setting, as
    ``--transport`` does. A command that writes raises
    :class:`toolkit.run_command.runner.WriteNotConfirmed` unless ``allow_write``."""
    from toolkit.run_command.runner import run as run_command

    return run_command(
        _with_transport(inventory, transport),
        command,
        credentials=credentials,
        options=options,
        hooks=hooks,
        stop=stop,
        allow_write=allow_write,
    )


def probe(
    inventory: Inventory,
    *,
    options: FanoutOptions | None = None,
    hooks: ProbeHooks | None = None,
    stop: threading.Event | None = None,
    per_dialect: bool = True,
    smb1: bool = True,
    identify: bool = True,
) -> ProbeRun:
    """Probe each host's SMB port without credentials (``psfleet probe smb``): dialect,
    signing, SMB1, and who answered (the NTLM challenge's names). ``per_dialect``, ``smb1``
    and ``identify`` are ``--per-dialect``, ``--smb1`` and ``--identify`` (all on, as in the
    CLI); ``options=None`` means :data:`PROBE_DEFAULT_OPTIONS`. Never raises for network
    trouble: every host appears exactly once."""
    from toolkit.smb.fleet import probe_fleet
    from toolkit.smb.wire import ALL_DIALECTS

    return probe_fleet(
        inventory,
        options=options if options is not None else PROBE_DEFAULT_OPTIONS,
        hooks=hooks,
        stop=stop,
        per_dialect=ALL_DIALECTS if per_dialect else (),
        smb1=smb1,
        identify=identify,
    )


def _with_transport(inventory: Inventory, transport: str | None) -> Inventory:
    """``inventory`` with every host's transport overridden (``--transport``), if asked."""
    if transport is None:
        return inventory
    from toolkit.transport.select import with_transport

    return with_transport(inventory, transport)


def _prepared(inventory: Inventory, transport: str | None, baselines: Sequence[str]) -> Inventory:
    """``--transport`` then ``--baseline`` applied to ``inventory``, as the commands do."""
    inventory = _with_transport(inventory, transport)
    if not baselines:
        return inventory
    from toolkit.baselines.select import with_baselines

    return with_baselines(inventory, baselines)
