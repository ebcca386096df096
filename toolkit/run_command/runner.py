"""Run one ad-hoc command on every host of an inventory (the library behind ``psfleet run``).

The fan-out, deadlines, retries and error classification are the audit's
(:func:`toolkit.fanout.runner.run_hosts`): a host that cannot be reached is a result with a
classified error kind, never an exception; retries happen only before anything was sent, so
a write is never repeated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from toolkit import __version__
from toolkit.errors import UsageError
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.runner import Failure, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.results import utc_now
from toolkit.run_command.command import RunCommand
from toolkit.run_command.results import CommandRun, HostRunResult, OutputObject, RunStatus
from toolkit.transport.model import ErrorRecordData
from toolkit.transport.protocol import CredentialLike
from toolkit.transport.select import open_session


class WriteNotConfirmed(UsageError):
    """A command that writes was given to :func:`run` without ``allow_write=True``."""


#: The hooks of :func:`run` (former class, kept for runbooks): the one protocol,
#: :class:`toolkit.fanout.hooks.Hooks`, with run results. ``on_start(host)`` as a host is
#: dispatched, ``on_result(result)`` as each host finishes (stream them: NDJSON, progress, a
#: queue), ``on_done(results, interrupted)`` at the end; all in the caller's thread.
RunHooks = Hooks[HostRunResult]


def run_on_host(
    command: RunCommand, host: Host, credential: CredentialLike | None, deadline: float
) -> HostRunResult:
    """Run ``command`` on one host within ``deadline`` (``time.monotonic()`` based). Transport
    failures raise :class:`toolkit.transport.pypsrp_session.TransportError` (already classified)."""
    started = time.monotonic()
    with open_session(host, credential, deadline=deadline) as session:
        if command.form == "script":
            answer = session.run_script(command.text)
        else:
            answer = session.run([(command.as_command(),)])
    errors = answer.errors
    if answer.extra.get("failed") and not errors:
        errors = (
            ErrorRecordData("the pipeline failed without an error record", "PipelineFailed", "NotSpecified"),
        )
    return HostRunResult(
        name=host.name,
        address=host.address,
        status=RunStatus.COMMAND_ERRORS if errors else RunStatus.OK,
        output=tuple(OutputObject.of(item) for item in answer.output),
        errors=errors,
        duration_s=time.monotonic() - started,
        groups=host.groups,
        transport=session.transport,
        transport_fallback=session.fallback,
    )


def run_failure(failure: Failure) -> HostRunResult:
    """A host the fan-out could not get an answer from (unreachable, deadline, interrupted,
    credential given up...), as a run result: the fan-out's ``fail`` function for :func:`run`."""
    error = failure.error
    return HostRunResult(
        name=failure.host.name,
        address=failure.host.address,
        status=RunStatus.from_error(error.kind),
        error=error,
        duration_s=failure.duration_s,
        groups=failure.host.groups,
        transport=failure.details.get("transport"),
        transport_fallback=failure.details.get("transport_fallback"),
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
) -> CommandRun:
    """Run ``command`` on every host of ``inventory`` and return the aggregate.

    ``command`` is an :class:`RunCommand` (``RunCommand.cmdlet(...)`` sends structured
    parameters; prefer it) or script text (``str``, sent as PowerShell: never build it from
    inventory or other untrusted data). ``credentials`` maps host names to credentials (see
    :func:`toolkit.inventory.credentials.resolve_credentials`). A command that writes (see
    :mod:`toolkit.run_command.writes`) raises :class:`WriteNotConfirmed` unless ``allow_write``.
    ``stop`` (or Ctrl-C) stops dispatching; every host still appears once in the result.

    Thread safety: call from one thread; hooks run in that thread.
    """
    if isinstance(command, str):
        command = RunCommand.script(command)
    check = command.write
    if check.write and not allow_write:
        raise WriteNotConfirmed(f"this command writes ({check.describe()}); pass allow_write=True to run it")
    started = utc_now()
    cmd = command

    def task(host: Host, deadline: float) -> HostRunResult:
        return run_on_host(cmd, host, credentials.get(host.name), deadline)

    results, interrupted = run_hosts(
        list(inventory.hosts), task, fail=run_failure, options=options, hooks=hooks, stop=stop
    )
    return CommandRun(
        command=command,
        hosts=tuple(results),
        started=started,
        finished=utc_now(),
        inventory=inventory.source,
        version=__version__,
        interrupted=interrupted,
    )
