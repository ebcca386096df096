"""smbprotocol (<1.18), bounded: its TCP transport reads a peer's first 4 bytes as a message
length and allocates that much (``Tcp.recv`` -> ``bytearray(length)``), so an HTTP server's
"HTTP" becomes a 1.2 GB buffer. :func:`install` swaps the ``Tcp`` class smbprotocol's
``Connection.connect`` instantiates for :class:`BoundedTcp`, which checks the Direct-TCP
header first (type byte 0, length at most :data:`MAX_MESSAGE`) and otherwise closes the
socket and reports end of stream: the connection then fails as closed
(``SMBConnectionClosed``), without allocating what the peer announced.

Private piece used: ``Tcp._recv`` (the exact-length read with smbprotocol's timeout
handling) and the module attribute ``smbprotocol.connection.Tcp``. Only
``toolkit.smb.diagnose`` uses smbprotocol; the probe reads SMB itself
(:mod:`toolkit.smb.stream`).
"""

from __future__ import annotations

import logging
import struct
import threading
from typing import Any

import smbprotocol.connection
from smbprotocol.transport import Tcp

#: The largest message the diagnosis accepts. Its exchanges (NEGOTIATE, SESSION_SETUP, TREE
#: CONNECT, the validate-negotiate IOCTL) are a few KiB at most.
MAX_MESSAGE = 1024 * 1024

log = logging.getLogger(__name__)
_lock = threading.Lock()


class BoundedTcp(Tcp):  # type: ignore[misc]
    """smbprotocol's ``Tcp`` with the 4-byte header checked before the body is read."""

    #: Set when a message was refused: what the peer sent instead of an SMB header.
    refused: str | None = None

    def recv(self, timeout: Any) -> bytes:
        header, timeout = self._recv(4, timeout)
        if not header:
            return b""
        length = struct.unpack(">L", header)[0]
        if header[0] != 0 or length > MAX_MESSAGE:
            self.refused = header.hex(" ")
            log.warning("not an SMB message header from %s:%s: %s", self.server, self.port, self.refused)
            self.close()
            return b""
        body, _ = self._recv(length, timeout)
        return bytes(body) if body is not None else b""


def install() -> None:
    """Make every smbprotocol ``Connection`` of this process use :class:`BoundedTcp`
    (idempotent, thread-safe)."""
    with _lock:
        if smbprotocol.connection.Tcp is not BoundedTcp:
            smbprotocol.connection.Tcp = BoundedTcp
