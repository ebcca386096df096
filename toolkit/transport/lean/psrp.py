"""PSRP messages for the lean client: built once, framed per host, parsed into model data.

The messages a client sends to open a pool (SessionCapability, InitRunspacePool) and the
audit's CreatePipeline are the same for every host except for the runspace-pool and pipeline
ids, which live in the binary message header, not in the XML. psrpcore's client builds the
XML once per process (per distinct pipeline); each host only gets new headers (MS-PSRP
2.2.1 message and 2.2.4 fragment framing).

Output is deserialized with psrpcore (the .NET type of every primitive kept, as
:class:`toolkit.transport.values.TypedSerializer` does); error records with pypsrp's
serializer so that :func:`toolkit.transport.values.error_from_pypsrp` reads them exactly as
it does on the pypsrp path.
"""

from __future__ import annotations

import base64
import re
import struct
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

import psrpcore
import psrpcore.types as pt
from psrpcore.types import RunspacePoolState
from pypsrp.complex_objects import ObjectMeta
from pypsrp.messages import ErrorRecordMessage
from pypsrp.serializer import Serializer

from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, PSObj, PSValue, Statement
from toolkit.transport.values import _NoCipher, convert, error_from_pypsrp

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")

# MS-PSRP 2.2.1: message types and destinations.
SESSION_CAPABILITY = 0x00010002
INIT_RUNSPACEPOOL = 0x00010004
RUNSPACEPOOL_STATE = 0x00021005
APPLICATION_PRIVATE_DATA = 0x00021009
CREATE_PIPELINE = 0x00021006
PIPELINE_OUTPUT = 0x00041004
ERROR_RECORD = 0x00041005
PIPELINE_STATE = 0x00041006
DESTINATION_SERVER = 2

FRAGMENT_HEADER = struct.Struct(">QQBI")  # object id, fragment id, start/end flags, length
MESSAGE_HEADER = struct.Struct("<II")  # destination, message type (then RPID, PID: 16 bytes each)
START, END = 0x1, 0x2
NIL_GUID = b"\x00" * 16

# PSInvocationState (MS-PSRP 2.2.3.4) and RunspacePoolState (2.2.3.4) values.
PIPELINE_COMPLETED, PIPELINE_FAILED, PIPELINE_STOPPED = 4, 5, 3
POOL_OPENED = int(RunspacePoolState.Opened)
POOL_BROKEN_STATES = {int(RunspacePoolState.Broken), int(RunspacePoolState.Closed)}

_lock = threading.Lock()
_open_cache: list[tuple[int, bytes]] = []
_pipeline_cache: dict[str, bytes] = {}


class PSRPProtocolError(Exception):
    """The peer sent PSRP data that cannot be understood (or a broken pool)."""


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


def _add_command(ps: psrpcore.ClientPowerShell, command: Command) -> None:
    ps.add_command(command.name)
    for p in command.params:
        if p.name is None:
            ps.add_argument(p.value)
        elif p.switch:
            ps.add_parameter(p.name, True)
        else:
            ps.add_parameter(p.name, p.value)


def pipeline_message(statements: Sequence[Statement]) -> bytes:
    """The CreatePipeline XML for ``statements``, built once per distinct pipeline."""
    key = repr(tuple(statements))
    with _lock:
        cached = _pipeline_cache.get(key)
    if cached is not None:
        return cached
    pool = psrpcore.ClientRunspacePool()
    pool.open()
    _drain(pool)
    pool.state = RunspacePoolState.Opened  # only the message is wanted, not a conversation
    ps = psrpcore.ClientPowerShell(pool)
    for i, statement in enumerate(statements):
        if i:
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


def frame(
    messages: Iterable[tuple[int, bytes]],
    rpid: uuid.UUID,
    pid: uuid.UUID | None,
    *,
    first_object_id: int = 1,
    max_fragment: int = 32 * 1024,
) -> bytes:
    """Messages -> PSRP fragments (MS-PSRP 2.2.4), split at ``max_fragment`` bytes of payload."""
    out = bytearray()
    rp, pp = rpid.bytes_le, pid.bytes_le if pid is not None else NIL_GUID
    for object_id, (mtype, data) in enumerate(messages, first_object_id):
        message = MESSAGE_HEADER.pack(DESTINATION_SERVER, mtype) + rp + pp + data
        chunks = [message[i : i + max_fragment] for i in range(0, len(message), max_fragment)] or [b""]
        for fid, chunk in enumerate(chunks):
            flags = (START if fid == 0 else 0) | (END if fid == len(chunks) - 1 else 0)
            out += FRAGMENT_HEADER.pack(object_id, fid, flags, len(chunk)) + chunk
    return bytes(out)


def reassemble(
    streams: Iterable[bytes], partial: dict[int, bytearray] | None = None
) -> Iterator[tuple[int, bytes]]:
    """Fragments (possibly spread over several streams) -> (object id, complete message).

    ``partial`` carries incomplete messages from one Receive to the next."""
    pending = partial if partial is not None else {}
    for data in streams:
        offset = 0
        while offset < len(data):
            if len(data) - offset < FRAGMENT_HEADER.size:
                raise PSRPProtocolError("truncated PSRP fragment header")
            object_id, _fid, flags, length = FRAGMENT_HEADER.unpack_from(data, offset)
            offset += FRAGMENT_HEADER.size
            blob = data[offset : offset + length]
            if len(blob) != length:
                raise PSRPProtocolError("truncated PSRP fragment")
            offset += length
            if flags & START:
                pending[object_id] = bytearray()
            buffer = pending.get(object_id)
            if buffer is None:
                raise PSRPProtocolError(f"PSRP fragment of object {object_id} without its start")
            buffer += blob
            if flags & END:
                del pending[object_id]
                if len(buffer) < 40:
                    raise PSRPProtocolError("PSRP message shorter than its header")
                yield object_id, bytes(buffer)


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
            # Warning, verbose, debug, information and progress records are not audit data.

    def result(self) -> InvocationResult:
        failed = self.state == PIPELINE_FAILED
        return InvocationResult(
            output=tuple(self.output),
            errors=tuple(self.errors),
            had_errors=failed or bool(self.errors),
            extra={"failed": "pipeline failed"} if failed else {},
        )


def _xml(data: bytes) -> str:
    return data.decode("utf-8").lstrip("\ufeff")


#: The shape of nearly every audit answer: a PSCustomObject whose members are primitives.
_CUSTOM_OBJECT = ("System.Management.Automation.PSCustomObject", "System.Object")
_PRIMITIVE_TYPES = {
    "S": "String",
    "I32": "Int32",
    "I64": "Int64",
    "U32": "UInt32",
    "B": "Boolean",
    "BA": "Byte[]",
}


class _NotSimple(Exception):
    """Anything :func:`output_value` does not handle itself: psrpcore deserializes it."""


def clixml_string(value: str) -> str:
    """A CLIXML string's text (MS-PSRP 2.2.5.3.2): ``_xHHHH_`` escapes are UTF-16 code units,
    surrogate pairs included."""
    if "_x" not in value:
        return value
    units = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return units.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


def _text_of(element: ET.Element) -> str:
    text = element.text or ""
    return clixml_string(text)


def _member(element: ET.Element) -> PSValue | None:
    tag = element.tag
    if tag == "Nil":
        return None
    type_name = _PRIMITIVE_TYPES.get(tag)
    if type_name is not None:
        text = element.text or ""
        if tag == "S":
            return PSValue(type_name, _text_of(element))
        if tag == "B":
            return PSValue(type_name, text.lower() == "true")
        if tag == "BA":
            return PSValue(type_name, base64.b64decode(text))
        return PSValue(type_name, int(text))
    if tag == "Obj":  # a REG_MULTI_SZ value: a list of strings
        items = [child for child in element if child.tag not in ("TN", "TNRef")]
        if len(items) != 1 or items[0].tag != "LST" or any(i.tag != "S" for i in items[0]):
            raise _NotSimple
        return PSValue("String[]", [_text_of(i) for i in items[0]])
    raise _NotSimple


def _simple_object(root: ET.Element) -> PSObj:
    if root.tag != "Obj" or tuple(t.text for t in root.iterfind("TN/T")) != _CUSTOM_OBJECT:
        raise _NotSimple
    adapted: dict[str, PSValue | PSObj | None] = {}
    extended: dict[str, PSValue | PSObj | None] = {}
    to_string = None
    for child in root:
        if child.tag == "MS" or child.tag == "Props":
            target = extended if child.tag == "MS" else adapted
            for member in child:
                name = member.get("N")
                if name is None:
                    raise _NotSimple
                target[clixml_string(name)] = _member(member)
        elif child.tag == "ToString":
            to_string = _text_of(child)
        elif child.tag != "TN":
            raise _NotSimple
    return PSObj(_CUSTOM_OBJECT, adapted | extended, to_string)


def output_value(data: bytes) -> PSObj | PSValue | None:
    """A PipelineOutput message as model data, exactly as ``convert(psrpcore.deserialize())``
    gives it. Custom objects of primitives (Get-ItemProperty's answers) are read straight from
    the XML: psrpcore's object model cost 80% of the client's CPU per host. Anything else
    goes through psrpcore."""
    root = ET.fromstring(_xml(data))
    try:
        return _simple_object(root)
    except (_NotSimple, ValueError):
        return convert(pt.deserialize(root, _NoCipher()))  # type: ignore[arg-type]


def error_record(data: bytes) -> ErrorRecordData:
    record = Serializer().deserialize(_xml(data), ObjectMeta("Obj", object=ErrorRecordMessage))
    return error_from_pypsrp(record)


def _int_property(data: bytes, name: str) -> int | None:
    root = ET.fromstring(_xml(data))
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
