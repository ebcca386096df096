"""Local TCP peers for the SMB tests: a 127.0.0.1 listener that runs ``behaviour`` on each
connection in a thread of its own (silent, HTTP, garbage, ...), stopped and joined on exit."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

#: What the peer does with one accepted connection; return when ``stop`` is set.
Behaviour = Callable[[socket.socket, threading.Event], None]


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept and never answer."""
    stop.wait()


@contextlib.contextmanager
def listener(behaviour: Behaviour) -> Iterator[int]:
    """The port of a 127.0.0.1 listener running ``behaviour`` per connection."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    conns: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            behaviour(conn, stop)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(conn)
            thread = threading.Thread(target=serve, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        acceptor.join(5)
        for thread in threads:
            thread.join(5)
        server.close()
