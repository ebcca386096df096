"""The hand-cut parts of the lean client's PSRP, because psrpcore's public client objects
cannot reach the CPU target (psrpcore is bounded <0.4 in pyproject.toml; the unit tests pin
the equality with psrpcore's own output).

Measured on this project's 2-core CI machine (client side only, 200 iterations against answers
made by psrpcore's own server objects, process CPU): psrpcore's public path per host -- ``ClientRunspacePool.open()`` + ``data_to_send()`` + ``receive_data()``/``next_event()``
for the pool (4.1 ms), ``ClientPowerShell`` for the audit's CreatePipeline (9.7 ms: the
pipeline is re-serialized for every host) and ``PipelineOutputEvent`` deserialization of the
three answers (2 ms) -- costs about 16 ms of client CPU, twice the whole client's budget
(8 ms per host). What replaces it:

- :func:`frame` / :func:`reassemble`: MS-PSRP 2.2.4 fragments around message XML that
  psrpcore's public objects build once per process (the messages are identical on every host
  but for the runspace-pool and pipeline ids, which live in the binary header);
- :func:`output_value`: a PSCustomObject of primitives (Get-ItemProperty's answers) read
  straight from its CLIXML, exactly as ``convert(psrpcore.types.deserialize())`` gives it
  (unit tests pin the equality); anything else goes through psrpcore.

Everything here uses psrpcore's public API only; no private module is imported.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from collections.abc import Iterable, Iterator
from xml.etree import ElementTree as ET

import psrpcore.types as pt

from toolkit.errors import ProtocolViolation
from toolkit.transport.model import PSObj, PSValue
from toolkit.transport.values import _NoCipher, convert

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
FRAGMENT_HEADER = struct.Struct(">QQBI")  # object id, fragment id, start/end flags, length
MESSAGE_HEADER = struct.Struct("<II")  # destination, message type (then RPID, PID: 16 bytes each)
START, END = 0x1, 0x2
NIL_GUID = b"\x00" * 16
DESTINATION_SERVER = 2  # MS-PSRP 2.2.1


class PSRPProtocolError(ProtocolViolation):
    """The peer sent PSRP data that cannot be understood (or a broken pool)."""


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


def xml_text(data: bytes) -> str:
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
    root = ET.fromstring(xml_text(data))
    try:
        return _simple_object(root)
    except (_NotSimple, ValueError):
        return convert(pt.deserialize(root, _NoCipher()))  # type: ignore[arg-type]
