"""One PowerShell remoting shell (runspace pool) on a lab host, built on psrpcore's server side.

The WS-Man layer hands this class raw PSRP bytes (creationXml, Command arguments, Send
streams) and asks it for output per pipeline on Receive. psrpcore keeps a single outgoing
queue for the whole pool, so :meth:`LabShell._route` sorts payloads per pipeline. psrpcore is
not thread-safe: a shell is only touched from the lab's event loop.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import psrpcore
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSInvocationState,
    PSList,
    PSPrimitiveDictionary,
    PSRPMessageType,
    PSVersion,
    add_note_property,
)

from toolkit.compat.psrpcore_server import CachingServerRunspacePool, drop_received, set_pipeline_state
from toolkit.lab import wsman
from toolkit.lab.emit import ErrorOut, Output, Terminate


class HostLike(Protocol):
    def execute(self, commands: list[psrpcore.Command], *, user: Any) -> list[Any]: ...


#: The build of Windows Management Framework 5.1, whose PowerShell older systems (before
#: Windows 10 / Server 2016) report in place of their own build.
WMF51_BUILD, WMF51_REVISION = 14409, 1005


@functools.cache
def windows_private_data(build: int, revision: int | None = None) -> PSPrimitiveDictionary:
    """ApplicationPrivateData as Windows PowerShell 5.1 sends it: ``PSVersionTable`` is a
    PSPrimitiveDictionary, ``PSCompatibleVersions`` a ``System.Version[]``, and the versions
    carry the OS build and its revision (UBR), e.g. 5.1.14393.2248 on Server 2016 (recorded
    Server 2016 traffic, compared in tests/integration/lab/test_golden.py). Systems older than
    Windows 10 run WMF 5.1 and report its build instead of their own.

    One shared, read-only dict per build (psrpcore only reads it; its setdefault calls find
    every key present): building its PSVersion objects took about 0.4 ms per pool open,
    measured with timeit on a 2-core box, four times the rest of a LabShell's setup.
    """
    if build >= 10240:
        ps_build, ps_revision = build, revision or 0
    else:
        ps_build, ps_revision = WMF51_BUILD, WMF51_REVISION
    ps_version = f"5.1.{ps_build}.{ps_revision}"
    compatible = PSList(PSVersion(v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0", ps_version))
    compatible.PSObject.type_names = ["System.Version[]", "System.Array", "System.Object"]
    table = PSPrimitiveDictionary(
        {
            "PSVersion": PSVersion(ps_version),
            "PSEdition": "Desktop",
            "PSCompatibleVersions": compatible,
            "CLRVersion": PSVersion("4.0.30319.42000"),
            "BuildVersion": PSVersion(f"10.0.{ps_build}.{ps_revision}"),
            "WSManStackVersion": PSVersion("3.0"),
            "PSRemotingProtocolVersion": PSVersion("2.3"),
            "SerializationVersion": PSVersion("1.1.0.1"),
        }
    )
    return PSPrimitiveDictionary({"PSVersionTable": table})


@dataclass
class _Pipe:
    pipeline: psrpcore.ServerPipeline
    done: bool = False
    #: Monotonic time at which a running Start-Sleep completes (None: not sleeping).
    sleep_until: float | None = None
    #: The statements after that Start-Sleep, run when it completes.
    after_sleep: list[psrpcore.Command] = field(default_factory=list)


@dataclass
class LabShell:
    shell_id: str
    host: HostLike
    user: Any
    build: int
    max_envelope_size: int = 153600
    #: The OS build's revision (UBR) that Windows puts in PSVersionTable's versions.
    revision: int | None = None
    #: The shell's IdleTimeOut as Create and Get show it.
    idle_timeout: str = "PT7200.000S"
    pool: psrpcore.ServerRunspacePool = field(init=False)
    _out: dict[uuid.UUID | None, deque[bytes]] = field(init=False, default_factory=dict)
    _pipes: dict[uuid.UUID, _Pipe] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # Parses and builds the messages every client repeats once per process.
        self.pool = CachingServerRunspacePool(
            cache_tag=(self.build, self.revision),
            application_private_data=windows_private_data(self.build, self.revision),
        )

    # -- incoming -------------------------------------------------------------------------
    def feed(self, data: bytes, pipeline_id: uuid.UUID | None = None) -> None:
        """Process PSRP fragments from the client (raises psrpcore errors or ValueError on garbage)."""
        _check_fragments(data)
        self.pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pipeline_id))
        try:
            while True:
                event = self.pool.next_event()
                if event is None:
                    break
                if isinstance(event, psrpcore.CreatePipelineEvent):
                    self._run(event.pipeline_id)
                else:
                    self._answer_pool_request(event)
        except Exception:
            # Drop what is left of a bad payload so the next request starts clean.
            drop_received(self.pool)
            raise

    def _answer_pool_request(self, event: Any) -> None:
        """Answer the pool requests that wait for the server, as Windows answers them (recorded
        Server 2016 traffic, test_psrp_set_runspaces): the runspaces available (the maximum,
        none being busy between the lab's pipelines), a maximum below the minimum or a minimum
        outside 1..maximum refused, a state reset granted."""
        if isinstance(event, psrpcore.GetAvailableRunspacesEvent):
            busy = sum(1 for entry in self._pipes.values() if not entry.done)
            self.pool.runspace_availability_response(event.ci, max(self.pool.max_runspaces - busy, 0))
        elif isinstance(event, psrpcore.SetMaxRunspacesEvent):
            allowed = event.count >= max(self.pool.min_runspaces, 1)
            self.pool.runspace_availability_response(event.ci, allowed)
        elif isinstance(event, psrpcore.SetMinRunspacesEvent):
            allowed = 1 <= event.count <= self.pool.max_runspaces
            self.pool.runspace_availability_response(event.ci, allowed)
        elif isinstance(event, psrpcore.ResetRunspaceStateEvent):
            self.pool.runspace_availability_response(event.ci, True)

    def create_pipeline(self, command_id: uuid.UUID, arguments: bytes) -> None:
        if command_id in self._pipes:
            raise ValueError(f"a pipeline with id {command_id} already exists")
        pipe = psrpcore.ServerPipeline(self.pool, command_id)
        self._pipes[command_id] = _Pipe(pipe)
        try:
            self.feed(arguments, command_id)
        except Exception:
            # Garbage instead of a CreatePipeline: leave no half-made pipeline behind.
            self._pipes.pop(command_id, None)
            self.pool.pipeline_table.pop(command_id, None)
            raise

    def _run(self, pipeline_id: uuid.UUID) -> None:
        entry = self._pipes[pipeline_id]
        pipe = entry.pipeline
        # Windows sends no PipelineState(Running) message (recorded Server 2016 traffic, see
        # tests/integration/lab/test_golden.py); psrpcore's start() would emit one.
        set_pipeline_state(pipe, PSInvocationState.Running, emit=False)
        metadata = pipe.metadata
        commands = list(metadata.commands) if metadata is not None else []
        if commands and not commands[0].is_script and commands[0].command_text.lower() == "start-sleep":
            entry.sleep_until = time.monotonic() + _sleep_seconds(commands[0])
            entry.after_sleep = _after_first_statement(commands)
            return
        self._execute(entry, commands)

    def _execute(self, entry: _Pipe, commands: list[psrpcore.Command]) -> None:
        pipe = entry.pipeline
        for emission in self.host.execute(commands, user=self.user) if commands else []:
            if isinstance(emission, Output):
                pipe.write_output(emission.value)
            elif isinstance(emission, ErrorOut):
                pipe.prepare_message(
                    _windows_error_record(emission), message_type=PSRPMessageType.ErrorRecord
                )
            elif isinstance(emission, Terminate):
                record = _error_record(emission, ScriptStackTrace=_SCRIPT_STACK_TRACE)
                set_pipeline_state(pipe, PSInvocationState.Failed, record)
                entry.done = True
                return
        pipe.complete()
        entry.done = True

    def tick(self) -> None:
        """Go on with sleeping pipelines whose time has come."""
        now = time.monotonic()
        for entry in self._pipes.values():
            if entry.sleep_until is not None and not entry.done and now >= entry.sleep_until:
                entry.sleep_until = None
                self._execute(entry, entry.after_sleep)

    def stop_pipeline(self, command_id: uuid.UUID) -> None:
        entry = self._pipes.get(command_id)
        if entry is None or entry.done:
            return
        entry.sleep_until = None
        stopped = NETException(Message="The pipeline has been stopped.", HResult=-2146233087)
        stopped.PSObject.type_names = [
            "System.Management.Automation.PipelineStoppedException",
            "System.Management.Automation.RuntimeException",
            "System.SystemException",
            *stopped.PSTypeNames,
        ]
        record = ErrorRecord(
            Exception=stopped,
            CategoryInfo=ErrorCategoryInfo(
                Category=ErrorCategory.OperationStopped, Reason="PipelineStoppedException"
            ),
            FullyQualifiedErrorId="PipelineStopped",
        )
        set_pipeline_state(entry.pipeline, PSInvocationState.Stopped, record)
        entry.done = True

    def close_pipeline(self, command_id: uuid.UUID) -> None:
        entry = self._pipes.pop(command_id, None)
        self._out.pop(command_id, None)
        if entry is not None:
            self.pool.pipeline_table.pop(command_id, None)

    def has_pipeline(self, command_id: uuid.UUID) -> bool:
        return command_id in self._pipes

    def pipeline_running(self, command_id: uuid.UUID) -> bool:
        entry = self._pipes.get(command_id)
        return entry is not None and not entry.done

    # -- outgoing -------------------------------------------------------------------------
    @property
    def fragment_size(self) -> int:
        # Base64 grows data by 4/3; leave room for the envelope around the streams.
        return max(1024, (self.max_envelope_size - 4096) * 3 // 4)

    def _route(self) -> None:
        while True:
            payload = self.pool.data_to_send(self.fragment_size)
            if payload is None:
                return
            # One message per rsp:Stream, as Windows sends them; on the pool it also lets
            # take_output answer the opening over two Receives.
            self._out.setdefault(payload.pipeline_id, deque()).extend(_per_message(payload.data))

    def take_output(self, command_id: uuid.UUID | None, budget: int) -> tuple[list[str], bool]:
        """Base64 streams for one Receive within ``budget`` bytes, and whether more remain.

        On the pool (``command_id`` None) a RunspacePoolState message never shares a Receive
        with the messages before it: Windows answers the opening SessionCapability and
        ApplicationPrivateData on one Receive and the Opened state on the next (recorded
        Server 2016 traffic, compared in tests/integration/lab/test_golden.py).
        """
        self._route()
        queue = self._out.get(command_id)
        streams: list[str] = []
        used = 0
        while queue:
            if command_id is None and streams and _starts_pool_state(queue[0]):
                break
            encoded = base64.b64encode(queue[0]).decode("ascii")
            if streams and used + len(encoded) > budget:
                break
            queue.popleft()
            streams.append(encoded)
            used += len(encoded) + wsman.STREAM_OVERHEAD
        return streams, bool(queue)

    def close(self) -> None:
        with contextlib.suppress(psrpcore.PSRPCoreError):
            self.pool.close()


class _StreamErrorRecord(ErrorRecord):
    """An ErrorRecord that serializes with the notes Windows adds on the error stream."""

    @classmethod
    def ToPSObjectForRemoting(cls, instance: ErrorRecord, **kwargs: Any) -> Any:
        obj = super().ToPSObjectForRemoting(instance, **kwargs)
        add_note_property(obj, "writeErrorStream", True)
        add_note_property(obj, "PSMessageDetails", None)
        return obj


def _error_record(
    error: ErrorOut | Terminate, record_type: type[ErrorRecord] = ErrorRecord, **extra: Any
) -> ErrorRecord:
    """The psrpcore record carrying an emission's fields (plus ``extra`` record fields)."""
    return record_type(
        Exception=error.exception,
        CategoryInfo=error.category_info,
        TargetObject=error.target_object,
        FullyQualifiedErrorId=error.fully_qualified_error_id,
        InvocationInfo=error.invocation_info,
        **extra,
    )


_SCRIPT_STACK_TRACE = "at <ScriptBlock>, <No file>: line 1"


def _windows_error_record(error: ErrorOut) -> ErrorRecord:
    """The record as Windows PowerShell writes it to the error stream: psrpcore's fields plus
    the ``writeErrorStream`` note (MshCommandRuntime.WriteError adds it), the
    ``PSMessageDetails`` script property and a script stack trace (recorded Server 2016
    traffic, see tests/integration/lab/test_golden.py)."""
    record = _error_record(error, _StreamErrorRecord, ScriptStackTrace=_SCRIPT_STACK_TRACE)
    record.serialize_extended_info = error.invocation_info is not None
    return record


def _check_fragments(data: bytes) -> None:
    """WS-Man carries whole PSRP fragments (MS-PSRP 2.2.4): reject truncated ones up front,
    before psrpcore buffers them and mistakes the next request's data for their rest."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < 21:
            raise ValueError("truncated PSRP fragment header")
        length = int.from_bytes(data[offset + 17 : offset + 21], "big")
        offset += 21 + length
        if offset > len(data):
            raise ValueError("PSRP fragment shorter than its length field")


_FRAGMENT_HEADER = 21  # object id (8), fragment id (8), flags (1), length (4): MS-PSRP 2.2.4
_START_FRAGMENT = 0x1
_POOL_STATE = int(PSRPMessageType.RunspacePoolState).to_bytes(4, "little")


def _per_message(data: bytes) -> list[bytes]:
    """Split a run of PSRP fragments into one chunk per message (fragments of one message are
    contiguous in psrpcore's output)."""
    chunks: list[bytes] = []
    start = offset = 0
    while offset < len(data):
        length = int.from_bytes(data[offset + 17 : offset + 21], "big")
        end = offset + _FRAGMENT_HEADER + length
        if data[offset + 16] & 0x2:  # the end fragment of its message
            chunks.append(data[start:end])
            start = end
        offset = end
    if start < len(data):
        chunks.append(data[start:])
    return chunks


def _starts_pool_state(chunk: bytes) -> bool:
    """Whether ``chunk`` begins a RunspacePoolState message (type after the 4-byte destination)."""
    if len(chunk) < _FRAGMENT_HEADER + 8 or not chunk[16] & _START_FRAGMENT:
        return False
    return chunk[_FRAGMENT_HEADER + 4 : _FRAGMENT_HEADER + 8] == _POOL_STATE


def _after_first_statement(commands: list[psrpcore.Command]) -> list[psrpcore.Command]:
    for index, command in enumerate(commands):
        if command.end_of_statement:
            return commands[index + 1 :]
    return []


def _sleep_seconds(command: psrpcore.Command) -> float:
    for name, value in command.parameters:
        if name is None or name.lower() in ("seconds", "s"):
            try:
                return float(value)
            except (TypeError, ValueError):
                return 0.0
        if name.lower() in ("milliseconds", "m"):
            try:
                return float(value) / 1000.0
            except (TypeError, ValueError):
                return 0.0
    return 0.0
