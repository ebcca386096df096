"""Small hostile HTTP endpoints on 127.0.0.1 for transport security tests.

- :class:`Capture` answers like a WinRM listener asking for Negotiate/NTLM (401) and records
  every request (headers and body): where a stolen token or SOAP body would land;
- :class:`Redirect` answers every request with a 3xx to a Location (optionally over TLS);
- :class:`Endless` answers with a 200 whose chunked body never ends (fast, or a trickle),
  counting what it sent and noticing when the client closes the socket.

Each stops after a bounded amount of work, so a client that does not defend itself makes the
test fail instead of hanging or exhausting the machine.
"""

from __future__ import annotations

import base64
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


#: Where an NTLM message keeps its type (1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE): after "NTLMSSP\0".
NTLM_MESSAGE_TYPE_OFFSET = 8


def ntlm_message_types(requests: list[bytes]) -> list[int]:
    """The NTLM message type in each raw request's Authorization header (0: none/other)."""
    found = []
    for request in requests:
        kind = 0
        for line in request.split(b"\r\n\r\n")[0].split(b"\r\n"):
            if line.lower().startswith(b"authorization:"):
                token = base64.b64decode(line.split()[-1])
                at = token.find(b"NTLMSSP\x00")
                if at >= 0:
                    kind = struct.unpack_from("<I", token, at + NTLM_MESSAGE_TYPE_OFFSET)[0]
        found.append(kind)
    return found


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Endpoint:
    """A server on 127.0.0.1 in a thread; use as a context manager."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20)) if length else b""
                owner.seen.append(Seen("POST", self.path, dict(self.headers.items()), body))
                owner.answer(self)

        self.seen: list[Seen] = []
        self._server = _Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self.scheme = "https" if tls is not None else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/wsman"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Capture(Endpoint):
    """Asks for Negotiate/NTLM like a WinRM listener and records what it receives."""

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(401)
        handler.send_header("WWW-Authenticate", "Negotiate")
        handler.send_header("WWW-Authenticate", "NTLM")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def tokens(self) -> list[str]:
        return [s.headers["Authorization"] for s in self.seen if "Authorization" in s.headers]


class Redirect(Endpoint):
    def __init__(self, location: str, *, status: int = 307, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.location = location
        self.status = status

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(self.status)
        handler.send_header("Location", self.location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


class _Stream(Endpoint):
    """An endpoint that writes until ``limit`` (counted in ``sent``); ``closed`` is set when
    the client closed the connection first."""

    def __init__(self, *, limit: int) -> None:
        super().__init__(None)
        self.limit = limit
        self.sent = 0
        self.closed = threading.Event()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            self.stream(handler)
        except OSError:
            self.closed.set()
            handler.close_connection = True

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


def _chunked_ok(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()


class Endless(_Stream):
    """A 200 whose chunked body never ends: ``chunk`` bytes every ``delay`` seconds (0: as
    fast as the client reads); it stops by itself after ``limit`` bytes. ``closed`` is set
    when the client closed the connection."""

    def __init__(self, *, chunk: int = 64 * 1024, delay: float = 0.0, limit: int = 256 * 1024 * 1024) -> None:
        super().__init__(limit=limit)
        self.chunk = chunk
        self.delay = delay

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        _chunked_ok(handler)
        piece = b"<" * self.chunk
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        while self.sent < self.limit:
            handler.wfile.write(frame)
            handler.wfile.flush()
            self.sent += len(piece)
            if self.delay:
                time.sleep(self.delay)


class EndlessLine(_Stream):
    """A chunked 200 whose first chunk-size line never ends (hex digits, no CRLF)."""

    def __init__(self, *, limit: int = 256 * 1024 * 1024) -> None:
        super().__init__(limit=limit)

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        _chunked_ok(handler)
        piece = b"f" * 65536
        while self.sent < self.limit:
            handler.wfile.write(piece)
            self.sent += len(piece)


class TrickleInChunk(_Stream):
    """A chunked 200 announcing one ``limit``-byte chunk, then trickling ``size`` bytes every
    ``delay`` seconds: every socket read returns well within any read timeout."""

    def __init__(self, *, size: int = 64, delay: float = 0.05, limit: int = 32 * 1024) -> None:
        super().__init__(limit=limit)
        self.size = size
        self.delay = delay

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        _chunked_ok(handler)
        handler.wfile.write(f"{self.limit:x}\r\n".encode())
        while self.sent < self.limit:
            handler.wfile.write(b"<" * self.size)
            handler.wfile.flush()
            self.sent += self.size
            time.sleep(self.delay)


class TrickleHeaders(_Stream):
    """A 200 whose header block never ends: one byte of a header line every ``delay``
    seconds, up to ``limit`` bytes."""

    def __init__(self, *, delay: float = 0.05, limit: int = 600) -> None:
        super().__init__(limit=limit)
        self.delay = delay

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        super().answer(handler)
        handler.close_connection = True

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        handler.wfile.flush()
        while self.sent < self.limit:
            handler.wfile.write(b"a")
            handler.wfile.flush()
            self.sent += 1
            time.sleep(self.delay)
