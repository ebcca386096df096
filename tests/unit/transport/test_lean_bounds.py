"""The lean client against tiny hostile HTTP servers on 127.0.0.1: a redirect is refused and
nothing reaches its Location, an endless body stops at the size cap, a trickle stops at the
host's deadline with the socket closed, and a downgraded NTLM challenge gets no AUTHENTICATE."""

from __future__ import annotations

import base64
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.support.hostile import ntlm_message_types
from toolkit.results import ErrorKind
from toolkit.transport.classify import (
    DeadlineExceeded,
    NTLMDowngradeRefused,
    RedirectRefused,
    ResponseTooLarge,
    classify,
)
from toolkit.transport.lean.auth import (
    NTLMSSP_NEGOTIATE_128,
    NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
    check_ntlm_challenge,
)
from toolkit.transport.lean.http import Target, WinRMConnection


@dataclass
class Hostile:
    """A one-thread server; ``answer(conn, request)`` writes what it likes. Records requests
    and whether the client closed the socket (the server's recv returned nothing or send
    failed)."""

    answer: Callable[[socket.socket, bytes], None]
    requests: list[bytes] = field(default_factory=list)
    client_closed: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def serve(self, listener: socket.socket, stop: threading.Event) -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(10)
                try:
                    while not stop.is_set():
                        request = read_request(conn)
                        if request is None:
                            self.client_closed.set()
                            break
                        self.requests.append(request)
                        self.answer(conn, request)
                except OSError:
                    self.client_closed.set()


def read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


@contextmanager
def hostile(answer: Callable[[socket.socket, bytes], None]) -> Iterator[Hostile]:
    server = Hostile(answer)
    listener = socket.create_server(("127.0.0.1", 0))
    server.port = listener.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(listener, stop), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def connection(port: int, *, max_response: int = 1 << 20, auth: str = "ntlm") -> WinRMConnection:
    target = Target("http", "127.0.0.1", port, "wsman", auth, max_response=max_response)
    conn = WinRMConnection(target, username="LAB\\admin", password="Pa55-word")
    conn.connect(5.0)
    return conn


def challenge(flags: int) -> bytes:
    """An NTLM CHALLENGE (MS-NLMP 2.2.1.2) with ``flags``, no target name or info."""
    empty = struct.pack("<HHI", 0, 0, 56)
    return (
        b"NTLMSSP\x00"
        + struct.pack("<I", 2)
        + empty
        + struct.pack("<I", flags)
        + b"\x11" * 8
        + b"\x00" * 8
        + empty
        + b"\x00" * 8
    )


def spnego_response(ntlm: bytes) -> bytes:
    """A SPNEGO NegTokenResp (accept-incomplete, NTLM) carrying ``ntlm`` (RFC 4178 4.2.2)."""

    def der(tag: int, value: bytes) -> bytes:
        return (
            bytes([tag])
            + (bytes([len(value)]) if len(value) < 128 else b"\x82" + len(value).to_bytes(2, "big"))
            + value
        )

    ntlm_oid = der(0x06, bytes.fromhex("2b06010401823702020a"))
    fields = der(0xA0, der(0x0A, b"\x01")) + der(0xA1, ntlm_oid) + der(0xA2, der(0x04, ntlm))
    return der(0xA1, der(0x30, fields))


# -- redirects --------------------------------------------------------------------------------
def test_a_redirect_is_refused_and_nothing_reaches_its_location() -> None:
    with hostile(lambda conn, req: None) as elsewhere:

        def redirect(conn: socket.socket, request: bytes) -> None:
            location = f"http://127.0.0.1:{elsewhere.port}/wsman"
            conn.sendall(
                f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
            )

        with hostile(redirect) as server:
            conn = connection(server.port)
            with pytest.raises(RedirectRefused) as caught:
                conn.post(b"<s:Envelope/>", deadline=time.monotonic() + 10, read_timeout=5)
            conn.close()
        assert caught.value.location == f"http://127.0.0.1:{elsewhere.port}/wsman"
        assert len(server.requests) == 1
        assert elsewhere.requests == []
    error = classify(caught.value, endpoint=f"127.0.0.1:{server.port}", sent=False)
    assert error.kind is ErrorKind.PROTOCOL_ERROR
    assert f"http://127.0.0.1:{elsewhere.port}/wsman" in error.message
    assert "never follows redirects" in error.message


# -- size cap ---------------------------------------------------------------------------------
def endless(conn: socket.socket, request: bytes) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (65536, b"A" * 65536)
    for _ in range(64 * 16):  # at most 64 MiB, then give up: a client without a cap fails the test
        conn.sendall(chunk)


def test_an_endless_body_stops_at_the_size_cap_and_the_socket_is_closed() -> None:
    with hostile(endless) as server:
        conn = connection(server.port, max_response=256 * 1024)
        with pytest.raises(ResponseTooLarge):
            conn.post(b"<s:Envelope/>", deadline=time.monotonic() + 30, read_timeout=10)
        assert server.client_closed.wait(10)
    error = classify(ResponseTooLarge(256 * 1024), endpoint="h:5985", sent=True)
    assert error.kind is ErrorKind.PROTOCOL_ERROR
    assert "262144-byte cap" in error.message and "max_response" in error.message


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def huge(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n" + b"A" * 1024)

    with hostile(huge) as server:
        conn = connection(server.port, max_response=4096)
        with pytest.raises(ResponseTooLarge):
            conn.post(b"<s:Envelope/>", deadline=time.monotonic() + 30, read_timeout=10)
        assert server.client_closed.wait(10)


# -- deadline ---------------------------------------------------------------------------------
def trickle(conn: socket.socket, request: bytes) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    for _ in range(600):  # 60 s at most
        conn.sendall(b"1\r\nA\r\n")
        time.sleep(0.1)


def test_a_trickle_stops_at_the_deadline_with_the_socket_closed() -> None:
    with hostile(trickle) as server:
        conn = connection(server.port)
        # The read timeout alone never fires: a byte arrives every 0.1 s.
        with pytest.raises(DeadlineExceeded):
            conn.post(b"<s:Envelope/>", deadline=time.monotonic() + 1.0, read_timeout=30)
        assert server.client_closed.wait(10)
    error = classify(DeadlineExceeded("x"), endpoint="h:5985", sent=True)
    assert error.kind is ErrorKind.TIMEOUT


# -- NTLM challenge downgrade -----------------------------------------------------------------
FULL = NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | NTLMSSP_NEGOTIATE_128 | 0x00000201 | 0x00800000


@pytest.mark.parametrize(
    ("flags", "missing"),
    [
        (FULL & ~NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, "extended session security"),
        (FULL & ~NTLMSSP_NEGOTIATE_128, "128-bit keys"),
    ],
)
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "spnego"])
def test_a_downgraded_challenge_gets_no_authenticate(flags: int, missing: str, wrapped: bool) -> None:
    token = challenge(flags)
    token = spnego_response(token) if wrapped else token

    def answer(conn: socket.socket, request: bytes) -> None:
        header = f"Negotiate {base64.b64encode(token).decode()}"
        conn.sendall(
            f"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {header}\r\nContent-Length: 0\r\n\r\n".encode()
        )

    with hostile(answer) as server:
        conn = connection(server.port)
        with pytest.raises(NTLMDowngradeRefused, match=missing):
            conn.post(b"<s:Envelope/>", deadline=time.monotonic() + 10, read_timeout=5)
        conn.close()
        assert server.client_closed.wait(10)
    assert ntlm_message_types(server.requests) == [1]  # the NEGOTIATE only, never an AUTHENTICATE
    error = classify(
        NTLMDowngradeRefused(f"the NTLM CHALLENGE lacks {missing}"), endpoint="h:5985", sent=False
    )
    assert (
        error.kind is ErrorKind.AUTH_FAILED
    )  # not protocol_error: no fallback to a client that would accept it
    assert missing in error.message


def test_a_full_challenge_passes_the_check_raw_and_wrapped() -> None:
    check_ntlm_challenge(challenge(FULL))
    check_ntlm_challenge(spnego_response(challenge(FULL)))
    check_ntlm_challenge(b"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x00")  # Kerberos accept-completed: no NTLM inside
