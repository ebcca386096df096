"""A tiny HTTP server doing only WinRM's auth handshake and message encryption, for tests.

It is not a WS-Man server: after authenticating it decrypts each body and answers with the
same bytes prefixed by ``echo:``, encrypted back. It records every request's method, auth
scheme, Content-Type and status so a test can assert the exact exchange pypsrp makes.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pypsrp.encryption import WinRMEncryption

from toolkit.lab.kerberos import KerberosAcceptor, encryption_protocol


@dataclass
class Exchange:
    authorization_scheme: str | None
    content_type: str | None
    body_length: int
    status: int = 0
    www_authenticate: str | None = None
    server_error: str | None = None


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)
    plaintexts: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the Kerberos context lives on the connection
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.context: Any = None
        self.scheme = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        authorization = self.headers.get("Authorization")
        exchange = Exchange(
            authorization_scheme=authorization.split(" ", 1)[0] if authorization else None,
            content_type=self.headers.get("Content-Type"),
            body_length=len(body),
        )
        with self.server.recorder.lock:
            self.server.recorder.exchanges.append(exchange)
        if authorization:
            self._authenticate(authorization, exchange)
        elif self.context is None or not self.context.complete:
            self._reply(exchange, 401, www_authenticate=self.server.offer)
        else:
            self._echo(body, exchange)

    def _authenticate(self, authorization: str, exchange: Exchange) -> None:
        scheme, _, encoded = authorization.partition(" ")
        self.scheme = scheme
        protocol = "kerberos" if scheme.lower() == "kerberos" else "negotiate"
        self.context = self.server.acceptor.new_context(protocol)
        try:
            out_token = self.context.step(base64.b64decode(encoded))
        except Exception as exc:  # any acceptor failure is a plain 401, as IIS/HTTP.sys answers
            exchange.server_error = f"{type(exc).__name__}: {exc}"
            self.context = None
            self._reply(exchange, 401, www_authenticate=self.server.offer)
            return
        header = f"{scheme} {base64.b64encode(out_token).decode()}" if out_token else None
        self._reply(exchange, 200 if self.context.complete else 401, www_authenticate=header)

    def _echo(self, body: bytes, exchange: Exchange) -> None:
        encryption = WinRMEncryption(self.context, encryption_protocol(self.scheme))
        plaintext = encryption.unwrap_message(body, "Encrypted Boundary")
        with self.server.recorder.lock:
            self.server.recorder.plaintexts.append(plaintext)
        content_type, payload = encryption.wrap_message(b"echo:" + plaintext)
        self._reply(
            exchange,
            200,
            body=payload,
            content_type=f'{content_type};protocol="{encryption.protocol}";boundary="Encrypted Boundary"',
        )

    def _reply(
        self,
        exchange: Exchange,
        status: int,
        *,
        www_authenticate: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        exchange.status = status
        exchange.www_authenticate = www_authenticate
        self.send_response(status)
        if www_authenticate:
            self.send_header("WWW-Authenticate", www_authenticate)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, acceptor: KerberosAcceptor, offer: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.acceptor = acceptor
        self.offer = offer
        self.recorder = Recorder()


@contextmanager
def negotiate_server(acceptor: KerberosAcceptor, *, offer: str = "Negotiate") -> Iterator[_Server]:
    """Serve on 127.0.0.1 (a free port) until the block ends; ``offer`` is the 401's WWW-Authenticate."""
    server = _Server(acceptor, offer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
