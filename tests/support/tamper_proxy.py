"""A TCP proxy that rewrites SMB2 NEGOTIATE capabilities the way a WAN accelerator does
(DOMAIN 1.1, 8.4), for tests against a real smbd.

``rewrite="response"`` clears bits in the capabilities the server announces: the client sees
one thing and the server's signed validate-negotiate reply says another. ``rewrite="request"``
clears bits in the capabilities the client sends: the server sees one thing and the client's
validate-negotiate request says another, so smbd drops the connection (DOMAIN 8.2).

Listens on 127.0.0.1 only; every loop is bounded (stop flag, idle timeout, connection cap).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Literal

Rewrite = Literal["response", "request", "none"]

#: LEASING | MULTI_CHANNEL | ENCRYPTION: what accelerators strip to keep optimizing traffic.
DEFAULT_CLEAR = 0x02 | 0x08 | 0x40

_SMB2_MAGIC = b"\xfeSMB"
_HEADER = 64
_RESPONSE_CAPS = _HEADER + 24  # StructureSize, SecurityMode, Dialect, ContextCount, ServerGuid
_REQUEST_CAPS = _HEADER + 8  # StructureSize, DialectCount, SecurityMode, Reserved
_SERVER_TO_REDIR = 0x1


def rewrite_negotiate(body: bytes, *, direction: Rewrite, clear: int) -> bytes | None:
    """``body`` (one SMB2 message, no NetBIOS header) with capability bits cleared, or None when
    it is not a NEGOTIATE in ``direction``."""
    if direction == "none" or len(body) < _HEADER + 28 or body[:4] != _SMB2_MAGIC:
        return None
    command = struct.unpack_from("<H", body, 12)[0]
    flags = struct.unpack_from("<I", body, 16)[0]
    is_response = bool(flags & _SERVER_TO_REDIR)
    if command != 0 or is_response != (direction == "response"):
        return None
    offset = _RESPONSE_CAPS if is_response else _REQUEST_CAPS
    capabilities = struct.unpack_from("<I", body, offset)[0]
    out = bytearray(body)
    struct.pack_into("<I", out, offset, capabilities & ~clear)
    return bytes(out)


class TamperProxy:
    """Forward 127.0.0.1:<port> to ``upstream``, rewriting NEGOTIATE capabilities.

    ``rewritten`` counts the messages changed, so a test can tell the proxy did its job.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        rewrite: Rewrite = "response",
        clear_capabilities: int = DEFAULT_CLEAR,
        idle_timeout: float = 15.0,
        max_connections: int = 32,
    ) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        self.clear_capabilities = clear_capabilities
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.rewritten = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]

    def start(self) -> TamperProxy:
        self._spawn(self._accept_loop)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        self._listener.close()

    def __enter__(self) -> TamperProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set() and self.connections < self.max_connections:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._spawn(self._relay, client)

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5.0)
        except OSError:
            client.close()
            return
        buffers = {client: bytearray(), server: bytearray()}
        peer = {client: server, server: client}
        direction: dict[socket.socket, Rewrite] = {client: "request", server: "response"}
        last_activity = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() - last_activity < self.idle_timeout:
                readable, _, _ = select.select([client, server], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    last_activity = time.monotonic()
                    buffers[sock] += data
                    for frame in self._frames(buffers[sock], direction[sock]):
                        peer[sock].sendall(frame)
        except OSError:
            return
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()

    def _frames(self, buffer: bytearray, direction: Rewrite) -> list[bytes]:
        """Complete Direct-TCP frames taken off ``buffer``, rewritten where they match."""
        frames: list[bytes] = []
        while len(buffer) >= 4:
            length = struct.unpack(">I", bytes(buffer[:4]))[0] & 0x00FFFFFF
            if len(buffer) < 4 + length:
                break
            header, body = bytes(buffer[:4]), bytes(buffer[4 : 4 + length])
            del buffer[: 4 + length]
            if direction == self.rewrite:
                changed = rewrite_negotiate(body, direction=direction, clear=self.clear_capabilities)
                if changed is not None:
                    body = changed
                    with self._lock:
                        self.rewritten += 1
            frames.append(header + body)
        return frames
