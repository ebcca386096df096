"""The lean client's HTTP framing (httptools parses the answers, request_head writes the
requests) against small servers on 127.0.0.1: what a user would otherwise see as a hang, a
wrong answer or a split request."""

from __future__ import annotations

import socket
import time

import pytest

from tests.unit.transport.test_lean_bounds import connection, hostile
from toolkit.results import ErrorKind
from toolkit.transport.classify import classify
from toolkit.transport.lean.http import MAX_HEAD, HTTPProtocolError, request_head

SOAP = {"Content-Type": "application/soap+xml;charset=UTF-8"}


def post(port: int, body: bytes = b"<s:Envelope/>") -> tuple[int, dict[str, str], bytes, bool]:
    conn = connection(port)
    try:
        first = conn._request(body, dict(SOAP), deadline=time.monotonic() + 10, read_timeout=5)
        return first.status, first.headers, first.body, conn._http is not None
    finally:
        conn.close()


def test_a_100_continue_before_the_answer_is_skipped() -> None:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")

    with hostile(answer) as server:
        status, headers, body, kept = post(server.port)
    assert (status, headers["content-type"], body, kept) == (200, "text/plain", b"hello", True)


def test_a_body_ended_by_close_is_read_whole_and_the_connection_is_not_reused() -> None:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        conn.shutdown(socket.SHUT_WR)

    with hostile(answer) as server:
        status, _, body, kept = post(server.port)
    assert (status, body, kept) == (200, b"until the end", False)


def test_connection_close_drops_the_socket_and_repeated_headers_are_joined() -> None:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nX-Seen: a\r\nx-seen: b\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
        )

    with hostile(answer) as server:
        status, headers, body, kept = post(server.port)
    assert (status, headers["x-seen"], body, kept) == (200, "a, b", b"ok", False)


def test_an_answer_cut_short_is_a_protocol_error() -> None:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        conn.shutdown(socket.SHUT_WR)

    with hostile(answer) as server, pytest.raises(HTTPProtocolError, match="closed connection"):
        post(server.port)


def test_something_that_is_not_http_is_a_protocol_error_that_auto_falls_back_on() -> None:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    with hostile(answer) as server, pytest.raises(HTTPProtocolError, match=r"not HTTP/1\.1") as caught:
        post(server.port)
    assert classify(caught.value, endpoint="h:5985", sent=True).kind is ErrorKind.PROTOCOL_ERROR


def test_an_endless_response_head_stops_at_its_cap() -> None:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        for _ in range(MAX_HEAD // len(line) + 64):
            conn.sendall(line)

    with hostile(answer) as server, pytest.raises(HTTPProtocolError, match="head larger"):
        post(server.port)


@pytest.mark.parametrize("where", ["trailer", "chunk extension"])
def test_bytes_spent_outside_the_body_count_against_the_cap(where: str) -> None:
    # A chunked answer whose body is empty but whose trailer (or a chunk's extension) never
    # ends: the parser buffers it, so the read must stop at the cap, not at the deadline.
    import tracemalloc

    from toolkit.transport.lean.http import ResponseTooLarge

    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.sendall(b"0\r\nX-Trailer: " if where == "trailer" else b"1;ext=")
        filler = b"a" * 65536
        try:
            for _ in range(2048):  # 128 MiB if nobody stops reading
                conn.sendall(filler)
        except OSError:
            pass

    tracemalloc.start()
    try:
        with hostile(answer) as server:
            conn = connection(server.port, max_response=256 * 1024)
            started = time.monotonic()
            with pytest.raises((ResponseTooLarge, HTTPProtocolError)):
                conn.post(b"<s:Envelope/>", deadline=time.monotonic() + 30, read_timeout=10)
            assert time.monotonic() - started < 10  # stopped by the cap, not the deadline
            assert server.client_closed.wait(10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "nul\x00"])
def test_a_control_character_never_reaches_the_wire(value: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        request_head("/wsman", [("Host", value)])
    with pytest.raises(ValueError, match="control character"):
        request_head(f"/wsman{value}", [("Host", "h:5985")])


def test_the_request_head_is_what_winrm_expects() -> None:
    head = request_head("/wsman", [("Host", "10.0.0.5:5985"), ("Content-Length", "12")])
    assert head == b"POST /wsman HTTP/1.1\r\nHost: 10.0.0.5:5985\r\nContent-Length: 12\r\n\r\n"
