"""PSRP messages for the lean client: built once, framed per host, parsed into model data.

The messages a client sends to open a pool (SessionCapability, InitRunspacePool) and every
CreatePipeline are built with psrpcore's public client objects (``ClientRunspacePool``,
``ClientPowerShell``) once per process (per distinct pipeline); each host only gets new
headers, framed by :mod:`toolkit.transport.lean.fragments` (psrpcore's public path per host costs about
16 ms of client CPU; that module says what was measured).

Output is read with psrpcore's types (the .NET type of every primitive kept, as
:class:`toolkit.transport.values.TypedSerializer` does); error records, and the
ExceptionAsErrorRecord of a failed pipeline, with pypsrp's serializer so that
:func:`toolkit.transport.values.error_from_pypsrp` reads them exactly as it does on the pypsrp
path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import psrpcore
import psrpcore.types as pt
from psrpcore.types import RunspacePoolState
from pypsrp.complex_objects import ObjectMeta
from pypsrp.messages import ErrorRecordMessage
from pypsrp.serializer import Serializer

from toolkit.transport.lean.fragments import (
    FRAGMENT_HEADER,
    MESSAGE_HEADER,
    NIL_GUID,
    PSRPProtocolError,
    clixml_string,
    frame,
    output_value,
    reassemble,
    xml_text,
)
from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, PSObj, PSValue, Statement
from toolkit.transport.values import error_from_pypsrp

__all__ = [
    "FRAGMENT_HEADER",
    "NIL_GUID",
    "PSRPProtocolError",
    "clixml_string",
    "frame",
    "output_value",
    "reassemble",
]


# MS-PSRP 2.2.1: the message types and destination this client reads or sends by hand.
RUNSPACEPOOL_STATE = 0x00021005
CREATE_PIPELINE = 0x00021006
PIPELINE_OUTPUT = 0x00041004
ERROR_RECORD = 0x00041005
PIPELINE_STATE = 0x00041006
DESTINATION_SERVER = 2


# PSInvocationState (MS-PSRP 2.2.3.4) and RunspacePoolState (2.2.3.4) values.
PIPELINE_COMPLETED, PIPELINE_FAILED, PIPELINE_STOPPED = 4, 5, 3
POOL_OPENED = int(RunspacePoolState.Opened)
POOL_BROKEN_STATES = {int(RunspacePoolState.Broken), int(RunspacePoolState.Closed)}

_lock = threading.Lock()
_open_cache: list[tuple[int, bytes]] = []
_pipeline_cache: dict[str, bytes] = {}


def _messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(message type, XML data) of every complete message in psrpcore's framed output."""
    for _, message in reassemble([data]):
        mtype = MESSAGE_HEADER.unpack_from(message, 0)[1]
        yield mtype, message[40:]


def _drain(pool: psrpcore.ClientRunspacePool) -> bytes:
    out = b""
    while (payload := pool.data_to_send()) is not None:
        out += payload.data
    return out


def open_messages() -> list[tuple[int, bytes]]:
    """SessionCapability and InitRunspacePool as (type, XML), built once per process."""
    with _lock:
        if not _open_cache:
            pool = psrpcore.ClientRunspacePool()
            pool.open()
            _open_cache.extend(_messages(_drain(pool)))
        return list(_open_cache)


#: .NET type names a :class:`PSValue` parameter may carry -> psrpcore's typed values.
_WIRE_TYPES: dict[str, Any] = {
    "Int32": pt.PSInt,
    "Int64": pt.PSInt64,
    "UInt32": pt.PSUInt,
    "UInt64": pt.PSUInt64,
    "Boolean": bool,
    "String": pt.PSString,
}


def wire_value(value: Any) -> Any:
    """A parameter value as psrpcore should serialize it: plain values unchanged, a
    :class:`PSValue` as its .NET type (``PSValue("Int64", 0)`` -> ``<I64>``, ``String[]`` as a
    typed array, not ``Object[]``), as the pypsrp client sends it."""
    if isinstance(value, PSValue):
        element = value.type.removesuffix("[]")
        if element != value.type and element in _WIRE_TYPES:  # String[]: as PowerShell sends one
            items = pt.PSList(wire_value(PSValue(element, v)) for v in value.value)
            items.PSObject.type_names = [f"System.{value.type}", "System.Array", "System.Object"]
            return items
        kind = _WIRE_TYPES.get(value.type)
        if kind is None:
            raise ValueError(f"cannot send a {value.type} parameter value")
        return kind(value.value)
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value]
    return value


def _add_command(ps: psrpcore.ClientPowerShell, command: Command) -> None:
    ps.add_command(command.name)
    for p in command.params:
        if p.name is None:
            ps.add_argument(wire_value(p.value))
        elif p.switch:
            ps.add_parameter(p.name, True)
        else:
            ps.add_parameter(p.name, wire_value(p.value))


def pipeline_message(statements: Sequence[Statement], script: str | None = None) -> bytes:
    """The CreatePipeline XML for ``statements`` (or for ``script`` text, ``psfleet run``
    only), built with psrpcore's public client objects once per distinct pipeline."""
    key = repr((tuple(statements), script))
    with _lock:
        cached = _pipeline_cache.get(key)
    if cached is not None:
        return cached
    pool = psrpcore.ClientRunspacePool()
    pool.open()
    _drain(pool)
    pool.state = RunspacePoolState.Opened  # only the message is wanted, not a conversation
    ps = psrpcore.ClientPowerShell(pool)
    if script is not None:
        ps.add_script(script)
    for i, statement in enumerate(statements):
        if i or script is not None:
            ps.add_statement()
        for command in statement:
            _add_command(ps, command)
    ps.start()
    found = [data for mtype, data in _messages(_drain(pool)) if mtype == CREATE_PIPELINE]
    if len(found) != 1:
        raise PSRPProtocolError("psrpcore did not produce one CreatePipeline message")
    with _lock:
        if len(_pipeline_cache) > 64:
            _pipeline_cache.clear()
        _pipeline_cache[key] = found[0]
    return found[0]


@dataclass
class PipelineAnswer:
    """What one pipeline sent back, accumulated over Receives."""

    output: list[PSObj | PSValue | None] = field(default_factory=list)
    errors: list[ErrorRecordData] = field(default_factory=list)
    state: int | None = None
    partial: dict[int, bytearray] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in (PIPELINE_COMPLETED, PIPELINE_FAILED, PIPELINE_STOPPED)

    def feed(self, streams: Iterable[bytes]) -> None:
        for _, message in reassemble(streams, self.partial):
            mtype = MESSAGE_HEADER.unpack_from(message, 0)[1]
            data = message[40:]
            if mtype == PIPELINE_OUTPUT:
                self.output.append(output_value(data) if data else None)
            elif mtype == ERROR_RECORD:
                self.errors.append(error_record(data))
            elif mtype == PIPELINE_STATE:
                self.state = pipeline_state(data)
                failure = failure_record(data)
                if failure is not None:  # a terminating error: kept as an error record
                    self.errors.append(failure)
            # Warning, verbose, debug, information and progress records are not audit data.

    def result(self) -> InvocationResult:
        failed = self.state == PIPELINE_FAILED
        return InvocationResult(
            output=tuple(self.output),
            errors=tuple(self.errors),
            had_errors=failed or bool(self.errors),
            extra={"failed": "pipeline failed"} if failed else {},
        )


def error_record(data: bytes) -> ErrorRecordData:
    record = Serializer().deserialize(xml_text(data), ObjectMeta("Obj", object=ErrorRecordMessage))
    return error_from_pypsrp(record)


def failure_record(data: bytes) -> ErrorRecordData | None:
    """The ExceptionAsErrorRecord of a PipelineState message (MS-PSRP 2.2.2.21), sent with a
    failed pipeline: the terminating error (e.g. PermissionDenied), read as an error record."""
    if b"ExceptionAsErrorRecord" not in data:
        return None
    root = ET.fromstring(xml_text(data))
    for el in root.iter("Obj"):
        if el.get("N") == "ExceptionAsErrorRecord":
            return error_record(ET.tostring(el, encoding="utf-8"))
    return None


def _int_property(data: bytes, name: str) -> int | None:
    root = ET.fromstring(xml_text(data))
    for el in root.iter("I32"):
        if el.get("N") == name and el.text is not None:
            return int(el.text)
    return None


def pipeline_state(data: bytes) -> int:
    state = _int_property(data, "PipelineState")
    if state is None:
        raise PSRPProtocolError("PipelineState message without a state")
    return state


def pool_state(streams: Iterable[bytes], partial: dict[int, bytearray]) -> int | None:
    """The last RunspacePoolState in ``streams`` (None when there is none yet)."""
    state = None
    for _, message in reassemble(streams, partial):
        if MESSAGE_HEADER.unpack_from(message, 0)[1] == RUNSPACEPOOL_STATE:
            state = _int_property(message[40:], "RunspaceState")
    return state
