"""The few SMB messages the probe sends and reads, built and parsed here (sans-IO, pure).

Only what an unauthenticated probe needs: the SMB2 NEGOTIATE (MS-SMB2 2.2.3/2.2.4), the SMB1
NEGOTIATE offering "NT LM 0.12" (MS-CIFS 2.2.4.52, MS-SMB 2.2.4.5), and the first SMB2
SESSION_SETUP of an anonymous NTLM logon (MS-SMB2 2.2.5/2.2.6) whose answer carries the NTLM
CHALLENGE (see :mod:`toolkit.smb.ntlm`). Every parser checks lengths before it reads and raises
:class:`FrameError` for anything that is not a sane answer; none of them allocates more than the
message it is given. The lab's SMB responder builds its answers with the same functions.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

SMB2_MAGIC = b"\xfeSMB"
SMB1_MAGIC = b"\xffSMB"

SMB2_NEGOTIATE = 0x0000
SMB2_SESSION_SETUP = 0x0001
SMB1_COM_NEGOTIATE = 0x72

STATUS_SUCCESS = 0x00000000
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
STATUS_NOT_SUPPORTED = 0xC00000BB
STATUS_ACCESS_DENIED = 0xC0000022

#: The client capabilities a Windows 10 client offers (DFS ... ENCRYPTION).
CLIENT_CAPABILITIES = 0x7F
SIGNING_ENABLED = 0x0001

_HEADER2 = struct.Struct("<4sHHIHHIIQIIQ16s")  # 64 bytes (MS-SMB2 2.2.1.2)
_NEGOTIATE_RESPONSE = struct.Struct("<HHHH16sIIIIQQHHI")  # 64 bytes (MS-SMB2 2.2.4)
_SESSION_SETUP_REQUEST = struct.Struct("<HBBIIHHQ")  # 24 bytes (MS-SMB2 2.2.5)
_SESSION_SETUP_RESPONSE = struct.Struct("<HHHH")  # 8 bytes (MS-SMB2 2.2.6)
_HEADER1 = struct.Struct("<4sBIBHH8sHHHHH")  # 32 bytes (MS-CIFS 2.2.3.1)
_NEGOTIATE1_NTLM = struct.Struct("<HBHHIIIIQhB")  # 34 bytes: the 17 words of MS-SMB 2.2.4.5.2

SMB1_DIALECT = "NT LM 0.12"
#: SMB1 SecurityMode bits (MS-CIFS 2.2.4.52.2).
SMB1_SIGNATURES_ENABLED = 0x04
SMB1_SIGNATURES_REQUIRED = 0x08

_PREAUTH_INTEGRITY = 0x0001
_ENCRYPTION = 0x0002


class FrameError(ValueError):
    """The bytes are not the SMB answer that was expected."""


# -- SMB2 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Smb2Header:
    status: int
    command: int
    message_id: int
    session_id: int
    flags: int


def smb2_header(
    command: int,
    *,
    message_id: int,
    status: int = 0,
    credit_charge: int = 0,
    credits: int = 1,
    flags: int = 0,
    session_id: int = 0,
) -> bytes:
    return _HEADER2.pack(
        SMB2_MAGIC,
        64,
        credit_charge,
        status,
        command,
        credits,
        flags,
        0,
        message_id,
        0,
        0,
        session_id,
        b"\0" * 16,
    )


def parse_smb2_header(message: bytes) -> Smb2Header:
    if len(message) < _HEADER2.size:
        raise FrameError(f"an SMB2 message of {len(message)} bytes is shorter than its 64-byte header")
    magic, size, _charge, status, command, _credits, flags, _next, mid, _pid, _tid, sid, _sig = (
        _HEADER2.unpack_from(message)
    )
    if magic != SMB2_MAGIC or size != 64:
        raise FrameError(f"not an SMB2 header (starts with {message[:4].hex(' ')})")
    return Smb2Header(status, command, mid, sid, flags)


def _pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def negotiate_request(dialects: tuple[int, ...], *, client_guid: bytes | None = None) -> bytes:
    """An SMB2 NEGOTIATE offering ``dialects`` (with the 3.1.1 negotiate contexts when 3.1.1 is
    among them: pre-auth integrity SHA-512 and the AES-128 ciphers, as Windows and nmap send)."""
    guid = client_guid or uuid.uuid4().bytes_le
    header = smb2_header(SMB2_NEGOTIATE, message_id=0)
    dialect_bytes = b"".join(struct.pack("<H", d) for d in dialects)
    fixed_size = 36
    if 0x0311 in dialects:
        contexts_at = len(header) + fixed_size + len(dialect_bytes)
        contexts_at += -contexts_at % 8
        tail = struct.pack("<IHH", contexts_at, 2, 0)
    else:
        tail = struct.pack("<Q", 0)  # ClientStartTime
    body = struct.pack("<HHHHI16s", fixed_size, len(dialects), SIGNING_ENABLED, 0, CLIENT_CAPABILITIES, guid)
    message = header + body + tail + dialect_bytes
    if 0x0311 in dialects:
        preauth = struct.pack("<HHH", 1, 32, 0x0001) + uuid.uuid4().bytes + uuid.uuid4().bytes
        ciphers = struct.pack("<HHH", 2, 0x0002, 0x0001)
        message = _pad8(message) + struct.pack("<HHI", _PREAUTH_INTEGRITY, len(preauth), 0) + preauth
        message = _pad8(message) + struct.pack("<HHI", _ENCRYPTION, len(ciphers), 0) + ciphers
    return message


def negotiate_request_dialects(message: bytes) -> tuple[int, ...]:
    """The dialects an SMB2 NEGOTIATE request offers (for the lab's responder)."""
    if len(message) < 64 + 36:
        raise FrameError("SMB2 NEGOTIATE request too short")
    size, count = struct.unpack_from("<HH", message, 64)
    if size != 36 or len(message) < 64 + 36 + 2 * count:
        raise FrameError("malformed SMB2 NEGOTIATE request")
    return struct.unpack_from(f"<{count}H", message, 64 + 36)


@dataclass(frozen=True)
class Smb2Negotiate:
    """The fields of an SMB2 NEGOTIATE response that the probe reports."""

    dialect: int
    security_mode: int
    capabilities: int
    server_guid: str
    #: The SPNEGO hint the server sends (empty for many servers); not interpreted.
    security_buffer: bytes = b""


def parse_negotiate_response(message: bytes) -> Smb2Negotiate:
    """An SMB2 NEGOTIATE response with status 0. A non-zero status raises
    :class:`NegotiateRefused`; anything else that is not a sane response raises FrameError."""
    header = parse_smb2_header(message)
    if header.command != SMB2_NEGOTIATE:
        raise FrameError(f"expected an SMB2 NEGOTIATE response, got command 0x{header.command:04x}")
    if header.status != STATUS_SUCCESS:
        raise NegotiateRefused(header.status)
    if len(message) < 64 + _NEGOTIATE_RESPONSE.size:
        raise FrameError(f"SMB2 NEGOTIATE response of {len(message)} bytes is too short")
    size, mode, dialect, _count, guid, caps, *_rest, sb_offset, sb_length, _ctx = (
        _NEGOTIATE_RESPONSE.unpack_from(message, 64)
    )
    if size != 65:
        raise FrameError(f"SMB2 NEGOTIATE response StructureSize {size}, not 65")
    blob = message[sb_offset : sb_offset + sb_length] if sb_length and sb_offset >= 128 else b""
    return Smb2Negotiate(dialect, mode, caps, str(uuid.UUID(bytes_le=guid)), blob)


class NegotiateRefused(FrameError):
    """The server answered the NEGOTIATE with an error status (no dialect in common)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server refused the NEGOTIATE (status 0x{status:08x})")
        self.status = status


def negotiate_response(
    *,
    dialect: int,
    security_mode: int,
    capabilities: int,
    server_guid: bytes,
    message_id: int = 0,
    security_buffer: bytes = b"",
    system_time: int = 0,
) -> bytes:
    """An SMB2 NEGOTIATE response (the lab's answer). 3.1.1 gets the pre-auth integrity and
    encryption contexts a Windows server returns."""
    header = smb2_header(SMB2_NEGOTIATE, message_id=message_id, flags=0x00000001, credits=1)
    blob_at = 64 + _NEGOTIATE_RESPONSE.size
    contexts = b""
    count = 0
    contexts_at = 0
    if dialect == 0x0311:
        preauth = struct.pack("<HHH", 1, 32, 0x0001) + uuid.uuid4().bytes + uuid.uuid4().bytes
        ciphers = struct.pack("<HH", 1, 0x0002)
        contexts = _pad8(struct.pack("<HHI", _PREAUTH_INTEGRITY, len(preauth), 0) + preauth)
        contexts += struct.pack("<HHI", _ENCRYPTION, len(ciphers), 0) + ciphers
        count = 2
        contexts_at = blob_at + len(security_buffer)
        contexts_at += -contexts_at % 8
    body = _NEGOTIATE_RESPONSE.pack(
        65,
        security_mode,
        dialect,
        count,
        server_guid,
        capabilities,
        8_388_608,
        8_388_608,
        8_388_608,
        system_time,
        0,
        blob_at if security_buffer else 0,
        len(security_buffer),
        contexts_at,
    )
    message = header + body + security_buffer
    if contexts:
        message = _pad8(message) + contexts
    return message


def error_response(command: int, status: int, *, message_id: int) -> bytes:
    """An SMB2 ERROR response (MS-SMB2 2.2.2) with ``status``."""
    header = smb2_header(command, message_id=message_id, status=status, flags=0x00000001)
    return header + struct.pack("<HBBI", 9, 0, 0, 0) + b"\0"


def session_setup_request(security_blob: bytes, *, dialect: int, message_id: int = 1) -> bytes:
    """The first SMB2 SESSION_SETUP of a logon carrying ``security_blob``."""
    header = smb2_header(
        SMB2_SESSION_SETUP, message_id=message_id, credit_charge=0 if dialect == 0x0202 else 1, credits=31
    )
    offset = 64 + _SESSION_SETUP_REQUEST.size
    body = _SESSION_SETUP_REQUEST.pack(25, 0, SIGNING_ENABLED, 0, 0, offset, len(security_blob), 0)
    return header + body + security_blob


def session_setup_request_blob(message: bytes) -> bytes:
    """The security blob of an SMB2 SESSION_SETUP request (for the lab's responder)."""
    if len(message) < 64 + _SESSION_SETUP_REQUEST.size:
        raise FrameError("SMB2 SESSION_SETUP request too short")
    *_fields, offset, length, _prev = _SESSION_SETUP_REQUEST.unpack_from(message, 64)
    return message[offset : offset + length]


def session_setup_response(security_blob: bytes, *, status: int, message_id: int, session_id: int) -> bytes:
    header = smb2_header(
        SMB2_SESSION_SETUP, message_id=message_id, status=status, flags=0x00000001, session_id=session_id
    )
    offset = 64 + _SESSION_SETUP_RESPONSE.size
    return header + _SESSION_SETUP_RESPONSE.pack(9, 0, offset, len(security_blob)) + security_blob


def parse_session_setup_response(message: bytes) -> tuple[int, bytes]:
    """(status, security blob) of an SMB2 SESSION_SETUP response."""
    header = parse_smb2_header(message)
    if header.command != SMB2_SESSION_SETUP:
        raise FrameError(f"expected an SMB2 SESSION_SETUP response, got command 0x{header.command:04x}")
    if len(message) < 64 + _SESSION_SETUP_RESPONSE.size:
        return header.status, b""
    _size, _flags, offset, length = _SESSION_SETUP_RESPONSE.unpack_from(message, 64)
    return header.status, message[offset : offset + length] if offset >= 64 else b""


# -- SMB1 ---------------------------------------------------------------------------------


def smb1_negotiate_request(dialects: tuple[str, ...] = (SMB1_DIALECT,)) -> bytes:
    """An SMB1 NEGOTIATE (SMB_COM_NEGOTIATE) offering ``dialects``; by default only NT LM 0.12,
    so that only a server that speaks SMB1 can accept it."""
    # Flags: case-insensitive, canonicalized paths. Flags2: long names, EAs, extended security,
    # NT status codes, Unicode.
    header = _HEADER1.pack(SMB1_MAGIC, SMB1_COM_NEGOTIATE, 0, 0x18, 0xC803, 0, b"\0" * 8, 0, 0, 0xFEFF, 0, 0)
    data = b"".join(b"\x02" + d.encode("ascii") + b"\0" for d in dialects)
    return header + struct.pack("<BH", 0, len(data)) + data


def smb1_request_dialects(message: bytes) -> tuple[str, ...]:
    """The dialect strings of an SMB1 NEGOTIATE request (for the lab's responder)."""
    if len(message) < 35 or message[:4] != SMB1_MAGIC or message[4] != SMB1_COM_NEGOTIATE:
        raise FrameError("not an SMB1 NEGOTIATE request")
    words = message[32]
    at = 33 + 2 * words
    if len(message) < at + 2:
        raise FrameError("SMB1 NEGOTIATE request too short")
    (count,) = struct.unpack_from("<H", message, at)
    data = message[at + 2 : at + 2 + count]
    return tuple(part[1:].decode("ascii", "replace") for part in data.split(b"\0") if part[:1] == b"\x02")


@dataclass(frozen=True)
class Smb1Negotiate:
    #: None when the server chose none of the offered dialects (DialectIndex 0xFFFF).
    dialect_index: int | None
    status: int
    security_mode: int | None = None

    @property
    def signing_enabled(self) -> bool | None:
        return None if self.security_mode is None else bool(self.security_mode & SMB1_SIGNATURES_ENABLED)

    @property
    def signing_required(self) -> bool | None:
        return None if self.security_mode is None else bool(self.security_mode & SMB1_SIGNATURES_REQUIRED)


def parse_smb1_negotiate_response(message: bytes) -> Smb1Negotiate:
    """An SMB1 NEGOTIATE response. Raises FrameError for an SMB2 answer or garbage."""
    if message[:4] == SMB2_MAGIC:
        raise FrameError("the server answered the SMB1 NEGOTIATE in SMB2")
    if len(message) < 33 or message[:4] != SMB1_MAGIC or message[4] != SMB1_COM_NEGOTIATE:
        raise FrameError(f"not an SMB1 NEGOTIATE response (starts with {message[:4].hex(' ')})")
    (status,) = struct.unpack_from("<I", message, 5)
    words = message[32]
    if status != STATUS_SUCCESS or words == 0 or len(message) < 33 + 2 * words:
        return Smb1Negotiate(None, status)
    (index,) = struct.unpack_from("<H", message, 33)
    if index == 0xFFFF:
        return Smb1Negotiate(None, status)
    mode = message[35] if words >= 17 and len(message) >= 33 + _NEGOTIATE1_NTLM.size else None
    return Smb1Negotiate(index, status, mode)


def smb1_negotiate_response(*, dialect_index: int, security_mode: int, server_guid: bytes) -> bytes:
    """The lab's SMB1 NEGOTIATE response for NT LM 0.12 with extended security."""
    # Flags: reply, case-insensitive, canonicalized. Flags2 as the request plus extended security.
    header = _HEADER1.pack(SMB1_MAGIC, SMB1_COM_NEGOTIATE, 0, 0x98, 0xC803, 0, b"\0" * 8, 0, 0, 0xFEFF, 0, 0)
    # Capabilities: Unicode, large files, NT SMBs, RPC remote APIs, NT status, level II oplocks,
    # lock and read, NT find, DFS, large read/write, extended security.
    words = _NEGOTIATE1_NTLM.pack(dialect_index, security_mode, 50, 1, 16644, 65536, 0, 0x8001F3FD, 0, 0, 0)
    data = server_guid
    return header + bytes([17]) + words + struct.pack("<H", len(data)) + data


def smb1_refusal(*, status: int = STATUS_SUCCESS) -> bytes:
    """An SMB1 NEGOTIATE response choosing none of the dialects (DialectIndex 0xFFFF)."""
    header = _HEADER1.pack(
        SMB1_MAGIC, SMB1_COM_NEGOTIATE, status, 0x98, 0xC803, 0, b"\0" * 8, 0, 0, 0xFEFF, 0, 0
    )
    return header + bytes([1]) + struct.pack("<HH", 0xFFFF, 0)
