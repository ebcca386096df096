"""One keep-alive HTTP/1.1 connection to a WinRM listener, authenticated with NTLM (or
Negotiate) through pyspnego, every message wrapped with WinRM message encryption
(MS-WSMV 2.2.9.1, ``multipart/encrypted``).

Authentication takes two requests instead of pypsrp's three: the NEGOTIATE token goes on
an empty POST, and the AUTHENTICATE token travels with the first (already encrypted)
message, as Windows' own client and the Ruby WinRM gem do. NTLM is connection-bound, so a
connection that closes loses the context: nothing is re-sent on another socket.

Not thread-safe: a connection belongs to one worker (DOMAIN 9.1).
"""

from __future__ import annotations

import base64
import functools
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any

import spnego
from pypsrp.exceptions import AuthenticationError, WinRMTransportError

SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = "Encrypted Boundary"
_CONTENT_TYPE = f'multipart/encrypted;protocol="{SPNEGO_PROTOCOL}";boundary="{BOUNDARY}"'
_PART_END = f"--{BOUNDARY}--\r\n".encode()
_OCTET = b"\tContent-Type: application/octet-stream\r\n"
_LENGTH = re.compile(rb"Length=(\d+)")
MAX_HEADER = 64 * 1024


class ConnectTimeout(TimeoutError):
    """The TCP connection could not be made in time (classified as unreachable)."""


class HTTPProtocolError(ConnectionError):
    """The peer is not speaking HTTP/1.1 as expected (or closed the connection mid-answer)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@functools.lru_cache(maxsize=256)
def ntlm_hashes(password: str) -> tuple[str, str]:
    """(LM, NT) hashes of ``password`` as hex, computed once per process: pyspnego derives
    them (DES and MD4 in Python) for every context otherwise."""
    from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

    return base64.b16encode(lmowfv1(password)).decode(), base64.b16encode(ntowfv1(password)).decode()


def _client_context(username: str, password: str, auth: str, *, hostname: str, service: str) -> Any:
    options = spnego.NegotiateOptions.wrapping_winrm
    if auth == "ntlm":
        lm, nt = ntlm_hashes(password)
        credential = spnego.NTLMHash(username=username, lm_hash=lm, nt_hash=nt)
        return spnego.client(credential, hostname=hostname, service=service, protocol="ntlm", options=options)
    return spnego.client(
        username, password, hostname=hostname, service=service, protocol=auth, options=options
    )


class WinRMConnection:
    """POST encrypted SOAP to ``http://address:port/path``; see the module docstring."""

    def __init__(
        self,
        address: str,
        port: int,
        path: str,
        *,
        username: str,
        password: str,
        auth: str,
        service: str = "host",
        hostname: str | None = None,
    ) -> None:
        self.address = address
        self.port = port
        self.path = "/" + path.lstrip("/")
        self.username = username
        self.auth = auth
        self._password = password
        self._service = service
        self._hostname = hostname or address
        self._host_header = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._ctx: Any = None

    # -- socket -----------------------------------------------------------------------
    def connect(self, timeout: float) -> None:
        try:
            self._sock = socket.create_connection((self.address, self.port), timeout=timeout)
        except TimeoutError:
            raise ConnectTimeout(f"connect timeout on {self._host_header}") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buffer = b""

    def _exchange(self, body: bytes, headers: dict[str, str], timeout: float) -> Response:
        if self._sock is None:
            raise HTTPProtocolError("connection is closed")
        self._sock.settimeout(timeout)
        head = [f"POST {self.path} HTTP/1.1", f"Host: {self._host_header}", "User-Agent: Python PSRP Client"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        self._sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        return self._read_response()

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise HTTPProtocolError("Remote end closed connection without response")
        self._buffer += chunk

    def _read_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._fill()
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _read_line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_HEADER:
                raise HTTPProtocolError("HTTP header line too long")
            self._fill()
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _read_response(self) -> Response:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEADER:
                raise HTTPProtocolError("HTTP response head too large")
            self._fill()
        head, self._buffer = self._buffer[:end].decode("latin-1"), self._buffer[end + 4 :]
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HTTPProtocolError(f"not an HTTP response: {status_line[:60]!r}")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while (size := int(self._read_line().split(b";")[0], 16)) > 0:
                body += self._read_exact(size)
                self._read_line()
            while self._read_line():  # trailers
                pass
        else:
            body = self._read_exact(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(int(parts[1]), headers, body)

    # -- authentication and encryption --------------------------------------------------
    def _server_token(self, response: Response) -> bytes | None:
        for value in response.headers.get("www-authenticate", "").split(","):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "negotiate" and token.strip():
                return base64.b64decode(token.strip())
        return None

    def _fail(self, response: Response) -> Exception:
        if response.status == 401:
            return AuthenticationError(f"Failed to authenticate the user {self.username} with {self.auth}")
        return WinRMTransportError("http", response.status, response.body.decode("utf-8", "replace"))

    def _authenticate(self, timeout: float) -> str:
        """Run the handshake up to the last token, which is returned to go with a message."""
        self._ctx = _client_context(
            self.username, self._password, self.auth, hostname=self._hostname, service=self._service
        )
        token = self._ctx.step()
        while True:
            header = {"Authorization": f"Negotiate {base64.b64encode(token).decode()}"}
            response = self._exchange(
                b"", header | {"Content-Type": "application/soap+xml;charset=UTF-8"}, timeout
            )
            server = self._server_token(response)
            if response.status not in (200, 401) or server is None:
                if response.status == 200 and self._ctx.complete:
                    return ""
                raise self._fail(response)
            token = self._ctx.step(server)
            if self._ctx.complete and token:
                return f"Negotiate {base64.b64encode(token).decode()}"
            if self._ctx.complete:
                return ""
            if not token:
                raise self._fail(response)

    def post(self, soap: bytes, *, timeout: float) -> tuple[int, bytes]:
        """Send one SOAP message encrypted; return (HTTP status, decrypted SOAP reply).

        Raises pypsrp's AuthenticationError on a rejected logon and WinRMTransportError on an
        HTTP error without an encrypted body, so classification matches the pypsrp path."""
        headers = {"Content-Type": _CONTENT_TYPE}
        if self._ctx is None:
            final = self._authenticate(timeout)
            if final:
                headers["Authorization"] = final
        response = self._exchange(self._wrap(soap), headers, timeout)
        server = self._server_token(response)
        if server is not None and not self._ctx.complete:
            self._ctx.step(server)
        ctype = response.headers.get("content-type", "")
        if ctype.startswith(("multipart/encrypted", "multipart/x-multi-encrypted")):
            return response.status, self._unwrap(response.body)
        if response.status != 200:
            raise self._fail(response)
        raise HTTPProtocolError("the listener answered an encrypted message in clear text")

    def _wrap(self, data: bytes) -> bytes:
        wrapped = self._ctx.wrap_winrm(data)
        length = len(data) + wrapped.padding_length
        head = (
            f"--{BOUNDARY}\r\n\tContent-Type: {SPNEGO_PROTOCOL}\r\n"
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={length}\r\n"
            f"--{BOUNDARY}\r\n"
        ).encode()
        header: bytes = wrapped.header
        payload: bytes = wrapped.data
        return head + _OCTET + struct.pack("<i", len(header)) + header + payload + _PART_END

    def _unwrap(self, body: bytes) -> bytes:
        out = b""
        offset = 0
        while True:
            start = body.find(_OCTET, offset)
            if start < 0:
                break
            match = _LENGTH.search(body, offset, start)
            if match is None:
                raise HTTPProtocolError("encrypted part without its original length")
            start += len(_OCTET)
            end = body.find(f"--{BOUNDARY}".encode(), start)
            payload = body[start : end if end >= 0 else len(body)]
            header_len = struct.unpack_from("<i", payload)[0]
            if header_len < 0 or header_len > len(payload) - 4:
                raise HTTPProtocolError("bad encrypted header length")
            data: bytes = self._ctx.unwrap_winrm(payload[4 : 4 + header_len], payload[4 + header_len :])
            if len(data) != int(match.group(1)):
                raise HTTPProtocolError("decrypted length does not match")
            out += data
            offset = end if end >= 0 else len(body)
        if not out:
            raise HTTPProtocolError("malformed multipart/encrypted body")
        return out
