"""HTTP for the lean client: one keep-alive connection to a WinRM listener, made (TCP, TLS with
certificate and host name checks) by urllib3's ``HTTPConnection``/``HTTPSConnection``, with
responses parsed by httptools (the maintained bindings of llhttp, Node.js' HTTP parser, that
uvicorn uses; no pool, no retries, no redirect logic). Requests are the one fixed shape WinRM
takes (a POST with Content-Length), written by :func:`request_head` from validated fields.
http.client's email-based header parser was a fifth of the client's CPU per host, and h11
(pure Python) 170 us per request and answer, a fifth of the lean client's CPU (1.2 ms per
host at 7 requests); httptools parses the same answer in under 10 us,
authenticated with pyspnego (Negotiate, Kerberos, NTLM) or Basic (HTTPS only), every message
over plain HTTP wrapped with WinRM message encryption (MS-WSMV 2.2.9.1,
``multipart/encrypted``) through pyspnego's public ``wrap_winrm``/``unwrap_winrm``.

Authentication usually takes one request before the first message: the first token goes on an
empty POST, and the last one (NTLM's AUTHENTICATE) travels with the first message, as Windows'
own client does. The context belongs to the TCP connection: after ``Connection: close`` (or a
connection the server dropped) the next message starts a new handshake, and a 401 on the first
message of a context is retried once after a full handshake (Windows answers so when it did
not take the piggy-backed AUTHENTICATE).

What psfleet refuses, whatever the server says: a redirect (a 3xx is raised as
:class:`~toolkit.transport.classify.RedirectRefused` naming the Location; nothing is sent
there), a response larger than ``max_response`` bytes, reading past the host's deadline (the
socket is closed at once), and a downgraded NTLM challenge (see :mod:`.auth`). Tokens and
``Authorization`` headers are never logged.

Not thread-safe: a connection belongs to one worker.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any

import httptools
import spnego
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from urllib3.connection import HTTPConnection, HTTPSConnection

from toolkit.errors import DeadlineExceeded, ProtocolViolation, RedirectRefused, ResponseTooLarge
from toolkit.transport import redact
from toolkit.transport.lean import auth as lean_auth
from toolkit.transport.protocol import MAX_RESPONSE_BYTES

log = logging.getLogger(__name__)
redact.install()  # pyspnego logs every token it reads or writes at DEBUG

BOUNDARY = "Encrypted Boundary"
SOAP_TYPE = "application/soap+xml;charset=UTF-8"
_OCTET = b"\tContent-Type: application/octet-stream\r\n"
_PART_END = f"--{BOUNDARY}--\r\n".encode()
_LENGTH = re.compile(rb"Length=(\d+)")
_BOUNDARY_PARAM = re.compile(r'boundary\s*=\s*(?:"([^"]*)"|([^;\s]*))', re.IGNORECASE)
#: Default cap on one response's body (the transport setting ``max_response`` overrides it).
MAX_RESPONSE = MAX_RESPONSE_BYTES
READ_CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024  # the largest response head (status line and headers)
#: Seconds after an answer before a kept-alive connection is checked for a close by the server.
IDLE_CHECK_AFTER = 1.0
USER_AGENT = "Python PSRP Client"


class HTTPProtocolError(ProtocolViolation):
    """The peer is not speaking WinRM over HTTP as expected."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    new_connection: bool = False


@dataclass(frozen=True)
class Target:
    """Where to connect and how (from the host's transport settings)."""

    scheme: str
    address: str
    port: int
    path: str
    auth: str
    service: str = "host"
    hostname: str | None = None  # for the SPN; the address when None
    cert_validation: bool = True
    ca_file: str | None = None
    max_response: int = MAX_RESPONSE
    source_address: str | None = None  # bind connections to this local address


_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


def request_head(path: str, fields: list[tuple[str, str]]) -> bytes:
    """``POST path HTTP/1.1`` and its header fields; a control character (CR, LF, NUL...) in
    the path or a value is refused, so nothing a host's settings hold can split the request."""
    lines = [f"POST {path} HTTP/1.1"]
    for name, value in fields:
        if _FORBIDDEN.search(value) or _FORBIDDEN.search(name) or ":" in name:
            raise ValueError(f"refusing to send a control character in the HTTP header {name}")
        lines.append(f"{name}: {value}")
    if _FORBIDDEN.search(path) or " " in path:
        raise ValueError("refusing to send a control character or a space in the HTTP path")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def _bound(sock: Any, seconds: float) -> None:
    """Bound each send and receive on ``sock`` to ``seconds`` (the read timeout, or the time left
    to the host's deadline when that is shorter). The socket keeps a timeout up to a second
    shorter than asked: every ``settimeout`` is a system call that gives up the GIL, and with a
    hundred hosts in flight per process each GIL hand-over is a thread switch."""
    current = sock.gettimeout()
    if current is None or current > seconds or current < seconds - 1.0:
        sock.settimeout(seconds)


class _Answer:
    """One response as httptools' callbacks deliver it: status, lower-cased headers (repeated
    ones joined with ", "), the body up to ``cap`` bytes. A redirect and a body over the cap
    are refused from the callbacks, before the body is read."""

    __slots__ = (
        "body_parts",
        "cap",
        "complete",
        "extra",
        "head_done",
        "headers",
        "keep_alive",
        "parser",
        "status",
        "total",
    )

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body_parts: list[bytes] = []
        self.total = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = True
        self.extra = False  # bytes after the answer: not a connection to keep
        self.parser = httptools.HttpResponseParser(self)

    @property
    def body(self) -> bytes:
        return b"".join(self.body_parts)

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete or self.head_done:  # a chunked body's trailers: never used, not kept
            return
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers = self.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue and the like: the real answer follows
            self.headers = {}
            return
        self.status, self.head_done = status, True
        if 300 <= status < 400:
            raise RedirectRefused(status, self.headers.get("location", ""))
        declared = self.headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > self.cap:
            raise ResponseTooLarge(self.cap)

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.total += len(body)
        if self.total > self.cap:
            raise ResponseTooLarge(self.cap)
        self.body_parts.append(body)

    def on_message_complete(self) -> None:
        if self.complete or not self.head_done:  # the end of a 1xx answer, or of an extra one
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    def at_eof(self) -> None:
        """The server closed the connection: the end of a body that has no length, else an
        answer cut short."""
        length_known = (
            "content-length" in self.headers or "chunked" in self.headers.get("transfer-encoding", "").lower()
        )
        if not self.head_done or length_known:
            raise HTTPProtocolError("Remote end closed connection without response")
        self.complete, self.keep_alive = True, False


def tls_channel_bindings(certificate: bytes) -> Any:
    """RFC 5929 ``tls-server-end-point`` bindings for a DER server certificate (SHA-256 for
    MD5/SHA-1 signed certificates, else the signature's own hash)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    algorithm: Any = None
    try:
        algorithm = x509.load_der_x509_certificate(certificate).signature_hash_algorithm
    except Exception:  # unknown signature algorithm: SHA-256 as RFC 5929 says for MD5/SHA-1
        algorithm = None
    if algorithm is None or isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        digest = hashlib.sha256(certificate).digest()
    else:
        digest = hashlib.new(algorithm.name, certificate).digest()
    return spnego.channel_bindings.GssChannelBindings(application_data=b"tls-server-end-point:" + digest)


class WinRMConnection:
    """POST SOAP to one WinRM listener; see the module docstring."""

    def __init__(self, target: Target, *, username: str | None, password: str | None) -> None:
        if target.auth == "basic" and target.scheme != "https":
            raise ValueError("basic authentication is only sent over HTTPS")
        self.target = target
        self.path = "/" + target.path.lstrip("/")
        address = f"[{target.address}]" if ":" in target.address else target.address
        self._host = f"{address}:{target.port}"  # the Host header, built once
        self.username = username
        self._password = password
        self.encrypt = target.scheme == "http"
        self._http: HTTPConnection | None = None
        self._used = False  # the connection has carried a request
        self._answered = 0.0  # when the last answer arrived (time.monotonic())
        self._ctx: Any = None
        self._stale = False  # the context's connection was closed: authenticate again
        self._scheme = "Negotiate"
        self._basic = lean_auth.Basic.of(username or "", password or "") if target.auth == "basic" else None
        self._connect_timeout = 30.0
        self.requests = 0  # HTTP requests sent (for the benchmark's requests-per-host figure)

    # -- the connection -----------------------------------------------------------------
    def _connection(self, remaining: float) -> tuple[HTTPConnection, bool]:
        """The connection (True: new), made when there is none or the server dropped it."""
        http = self._http
        # A used connection the server closed while idle. (A fresh TLS connection may be
        # readable with session tickets: that is not a close.) Within a second of its last
        # answer a connection is not idle: no poll (each gives up the GIL; see _bound).
        if (
            http is not None
            and self._used
            and time.monotonic() - self._answered > IDLE_CHECK_AFTER
            and not http.is_connected
        ):
            self._drop_socket()
            http = None
        if http is not None:
            return http, False
        t = self.target
        timeout = max(0.05, min(self._connect_timeout, remaining))
        source = (t.source_address, 0) if t.source_address else None
        if t.scheme == "https":
            http = HTTPSConnection(
                t.address,
                t.port,
                timeout=timeout,
                source_address=source,
                cert_reqs="CERT_REQUIRED" if t.cert_validation else "CERT_NONE",
                ca_certs=t.ca_file,
                assert_hostname=None if t.cert_validation else False,
            )
        else:
            http = HTTPConnection(t.address, t.port, timeout=timeout, source_address=source)
        try:
            http.connect()
        except BaseException:
            http.close()
            raise
        self._http, self._used = http, False
        return http, True

    def connect(self, timeout: float) -> None:
        """Set the TCP connect timeout; the first request connects."""
        self._connect_timeout = timeout

    def close(self) -> None:
        """Close the socket and forget the security context (it belonged to the connection)."""
        self._drop_socket()
        self._ctx = None
        self._stale = False

    def _drop_socket(self) -> None:
        """Close the socket; the context still reads the answer in hand, not the next one."""
        http, self._http = self._http, None
        self._stale = self._ctx is not None
        if http is not None:
            http.close()

    def _request(
        self, body: bytes, headers: dict[str, str], *, deadline: float, read_timeout: float
    ) -> Response:
        """One POST and its answer, read in chunks up to the size cap and the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.close()
            raise DeadlineExceeded("the host deadline passed before the request")
        fields = [
            ("Host", self._host_header()),
            ("User-Agent", USER_AGENT),
            *headers.items(),
            ("Content-Length", str(len(body))),
        ]
        head = request_head(self.path, fields)
        self.requests += 1
        try:
            http, new_connection = self._connection(remaining)
            sock = http.sock
            if sock is None:
                raise HTTPProtocolError("the connection has no socket")
            _bound(sock, max(0.05, min(read_timeout, remaining)))
            sock.sendall(head + body)
            self._used = True
            answer = self._read_response(sock, deadline)
            self._answered = time.monotonic()
        except BaseException:
            self.close()
            raise
        log.debug("%s: HTTP %d, %d bytes", self._host_header(), answer.status, len(answer.body))
        if not answer.keep_alive:
            self._drop_socket()  # Connection: close: the next message reconnects and logs on again
        return Response(answer.status, answer.headers, answer.body, new_connection)

    def _read_response(self, sock: Any, deadline: float) -> _Answer:
        """The answer to the request just sent; a 3xx, a body over the cap, a head over
        :data:`MAX_HEAD` and the deadline end the read (the caller closes the socket)."""
        answer = _Answer(self.target.max_response)
        parser = answer.parser
        head = fed = 0
        # Everything fed to the parser counts, not only the body: chunk extensions and
        # trailers are buffered by the parser too. Twice the cap leaves room for a body's
        # chunk framing; past it the answer is refused whatever it was spent on.
        most = 2 * (answer.cap + MAX_HEAD)
        while not answer.complete:
            if time.monotonic() >= deadline:
                raise DeadlineExceeded("the host deadline passed while reading a response")
            data = sock.recv(READ_CHUNK)
            if not data:
                answer.at_eof()
                break
            if not answer.head_done:
                head += len(data)
            fed += len(data)
            if fed > most:
                raise ResponseTooLarge(answer.cap)
            try:
                parser.feed_data(data)
            except httptools.HttpParserCallbackError as exc:
                # A callback refused the answer (redirect, size cap): raise its own error.
                raise (exc.__context__ or HTTPProtocolError(str(exc))) from None
            except httptools.HttpParserUpgrade:
                raise HTTPProtocolError("the listener switched protocols") from None
            except httptools.HttpParserError as exc:
                raise HTTPProtocolError(f"not HTTP/1.1 as expected: {exc}") from None
            if not answer.head_done and head > MAX_HEAD:
                raise HTTPProtocolError(f"response head larger than {MAX_HEAD} bytes")
        if answer.extra:  # more than one answer to one request: not a connection to reuse
            answer.keep_alive = False
        return answer

    def _host_header(self) -> str:
        return self._host

    # -- authentication -----------------------------------------------------------------
    def _server_token(self, response: Response) -> bytes | None:
        for value in response.headers.get("www-authenticate", "").split(","):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() in ("negotiate", "kerberos") and token.strip():
                try:
                    return base64.b64decode(token.strip(), validate=True)
                except ValueError:
                    raise HTTPProtocolError("malformed WWW-Authenticate token") from None
        return None

    def _fail(self, response: Response) -> Exception:
        if response.status == 401:
            return AuthenticationError(
                f"Failed to authenticate the user {self.username} with {self.target.auth}"
            )
        return WinRMTransportError("http", response.status, response.body.decode("utf-8", "replace")[:2000])

    def _new_context(self, deadline: float, read_timeout: float) -> Any:
        t = self.target
        protocol = lean_auth.mechanism(t.auth, self.username, self._password)
        self._scheme = lean_auth.SCHEMES[protocol if t.auth != "kerberos" else "kerberos"]
        bindings = None
        if t.scheme == "https":
            bindings = self._channel_bindings(deadline)
        log.debug("%s: authenticating with %s (%s)", self._host_header(), protocol, self._scheme)
        return lean_auth.client_context(
            protocol,
            self.username,
            self._password,
            hostname=t.hostname or t.address,
            service=t.service,
            channel_bindings=bindings,
            encrypt=self.encrypt,
        )

    def _channel_bindings(self, deadline: float) -> Any:
        """The TLS bindings of this connection (connected now: the first token carries them)."""
        http, _ = self._connection(deadline - time.monotonic())
        certificate = http.sock.getpeercert(True) if isinstance(http.sock, ssl.SSLSocket) else None
        return tls_channel_bindings(certificate) if certificate else None

    def _authenticate(self, deadline: float, read_timeout: float, *, piggyback: bool) -> str:
        """Run the handshake; with ``piggyback`` the last token is returned to go with the
        first message ("" when the context completed without one)."""
        ctx = self._ctx = self._new_context(deadline, read_timeout)
        token = ctx.step()
        while True:
            header = {
                "Authorization": f"{self._scheme} {base64.b64encode(token).decode()}",
                "Content-Type": SOAP_TYPE,
            }
            response = self._request(b"", header, deadline=deadline, read_timeout=read_timeout)
            server = self._server_token(response)
            if response.status == 200 and server is None and ctx.complete:
                return ""
            if response.status not in (200, 401) or server is None:
                raise self._fail(response)
            if self._stale:  # Connection: close in the middle of a connection-bound handshake
                raise HTTPProtocolError("the listener closed the connection during authentication")
            lean_auth.check_ntlm_challenge(server)
            token = ctx.step(server)
            if ctx.complete and not token:
                return ""
            if not token:
                raise self._fail(response)
            if ctx.complete and piggyback:
                return f"{self._scheme} {base64.b64encode(token).decode()}"

    # -- messages -----------------------------------------------------------------------
    def post(self, soap: bytes, *, deadline: float, read_timeout: float) -> tuple[int, bytes]:
        """Send one SOAP message (encrypted over HTTP); return (HTTP status, SOAP reply).

        Raises pypsrp's AuthenticationError on a rejected logon and WinRMTransportError on an
        HTTP error without a SOAP body, so classification matches the pypsrp path."""
        for attempt in (0, 1):
            if self._stale:  # the server closed the connection its logon belonged to
                self._ctx, self._stale = None, False
            headers = {"Content-Type": self._content_type() if self.encrypt else SOAP_TYPE}
            first = False
            if self._basic is not None:
                headers["Authorization"] = self._basic.header
            elif self._ctx is None:
                final = self._authenticate(deadline, read_timeout, piggyback=attempt == 0)
                first = True
                if final:
                    headers["Authorization"] = final
            body = self._wrap(soap) if self.encrypt else soap
            response = self._request(body, headers, deadline=deadline, read_timeout=read_timeout)
            retry = first or response.new_connection
            if response.status == 401 and attempt == 0 and retry and self._basic is None:
                log.debug(
                    "%s: HTTP 401 on the first message of a context; new handshake", self._host_header()
                )
                self.close()
                continue
            break
        server = self._server_token(response)
        if server is not None and self._ctx is not None and not self._ctx.complete:
            self._ctx.step(server)
        if response.status == 401:
            self.close()
            raise self._fail(response)
        ctype = response.headers.get("content-type", "")
        if ctype.startswith(("multipart/encrypted", "multipart/x-multi-encrypted")):
            if self._ctx is None:
                raise HTTPProtocolError("an encrypted answer on a connection that is not authenticated")
            _check_boundary(ctype)
            return response.status, self._unwrap(response.body)
        if self.encrypt and response.status == 200:
            raise HTTPProtocolError("the listener answered an encrypted message in clear text")
        if response.status != 200 and not ctype.startswith("application/soap+xml"):
            raise self._fail(response)
        return response.status, response.body

    def _content_type(self) -> str:
        protocol = lean_auth.ENCRYPTION_PROTOCOLS[self._scheme]
        return f'multipart/encrypted;protocol="{protocol}";boundary="{BOUNDARY}"'

    def _wrap(self, data: bytes) -> bytes:
        if self._ctx is None:  # the handshake failed to build a context
            raise HTTPProtocolError("no security context to encrypt with")
        wrapped = self._ctx.wrap_winrm(data)
        length = len(data) + wrapped.padding_length
        protocol = lean_auth.ENCRYPTION_PROTOCOLS[self._scheme]
        head = (
            f"--{BOUNDARY}\r\n\tContent-Type: {protocol}\r\n"
            f"\tOriginalContent: type={SOAP_TYPE};Length={length}\r\n"
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
            if len(payload) < 4:
                raise HTTPProtocolError("encrypted payload too short")
            header_len = struct.unpack_from("<i", payload)[0]
            if header_len < 0 or header_len > len(payload) - 4:
                raise HTTPProtocolError("bad encrypted header length")
            try:
                data: bytes = self._ctx.unwrap_winrm(payload[4 : 4 + header_len], payload[4 + header_len :])
            except spnego.exceptions.SpnegoError as exc:  # the answer, not the logon, is broken
                raise HTTPProtocolError(f"an encrypted answer that does not decrypt ({exc})") from None
            if len(data) != int(match.group(1)):
                raise HTTPProtocolError("decrypted length does not match")
            out += data
            offset = end if end >= 0 else len(body)
        if not out:
            raise HTTPProtocolError("malformed multipart/encrypted body")
        return out


def _check_boundary(content_type: str) -> None:
    """Refuse an encrypted answer framed with another MIME boundary than Windows' own, naming
    it: a framing difference, said before any decryption is tried (a part cut at the wrong
    boundary would otherwise fail its signature check and read like tampering)."""
    match = _BOUNDARY_PARAM.search(content_type)
    found = (match.group(1) if match.group(1) is not None else match.group(2)) if match else ""
    if found != BOUNDARY:
        shown = "".join(c if c.isprintable() else "?" for c in found[:60]) or "(none)"
        raise HTTPProtocolError(
            f'an encrypted answer framed with MIME boundary "{shown}", not Windows\' "{BOUNDARY}"; '
            "the lean client reads only Windows' framing (pypsrp reads any boundary)"
        )
