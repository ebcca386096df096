"""One TCP connection to an SMB port, read in whole messages, bounded in size and time.

Direct-TCP SMB (MS-SMB2 2.1) frames each message with a 4-byte header: a zero type byte and
a 24-bit big-endian length. A listener that is not SMB (an HTTP server, garbage) or a hostile
one (a length of 16 MiB, a one-byte-a-second trickle) must cost the probe neither memory nor
more than its deadline, so the header is checked here before anything is allocated: the type
byte must be 0 and the length at most :data:`MAX_MESSAGE`; the body is then read into a buffer
of that checked size only, and every read waits at most until the deadline.
"""

from __future__ import annotations

import contextlib
import socket
import time
from types import TracebackType

from toolkit.results import ErrorKind, HostError

#: The largest SMB message the probe accepts. NEGOTIATE and SESSION_SETUP answers are a few
#: hundred bytes (a Windows NEGOTIATE response with its SPNEGO hint and contexts stays under 1
#: KiB); 64 KiB leaves room for any server without letting a peer choose the allocation.
MAX_MESSAGE = 65_536
_MIN_MESSAGE = 4


class StreamError(Exception):
    """The peer did something that ends the exchange; ``error`` says what, as a HostError."""

    def __init__(self, error: HostError) -> None:
        super().__init__(error.message)
        self.error = error


def describe_preamble(data: bytes) -> str:
    """What a non-SMB answer looks like, in a few printable words."""
    if data.startswith(b"HTTP"):
        return "an HTTP server answered (not SMB)"
    if data.startswith(b"SSH-"):
        return "an SSH server answered (not SMB)"
    if data[:1] in (b"\x15", b"\x16"):
        return "a TLS server answered (not SMB)"
    return f"not an SMB answer (first bytes {data[:4].hex(' ')})"


class SmbStream:
    """A connected socket with :meth:`send` and :meth:`recv` of whole SMB messages.

    ``deadline`` is a :func:`time.monotonic` instant; every connect, send and receive fails
    with a ``timeout`` (connected) or ``unreachable`` (not connected) StreamError once it
    passes. Not thread-safe: one stream per thread. Use as a context manager.
    """

    def __init__(self, address: str, port: int, *, deadline: float, max_message: int = MAX_MESSAGE) -> None:
        self.target = f"{address}:{port}"
        self.deadline = deadline
        self.max_message = max_message
        self._sock: socket.socket | None = None
        self._budget = max(0.0, deadline - time.monotonic())
        self._connect(address, port)

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _connect(self, address: str, port: int) -> None:
        remaining = self._remaining()
        if remaining <= 0:
            raise StreamError(
                HostError(ErrorKind.TIMEOUT, f"{self.target}: no time left to connect", sent=False)
            )
        try:
            self._sock = socket.create_connection((address, port), timeout=remaining)
        except TimeoutError:
            raise StreamError(
                HostError(
                    ErrorKind.UNREACHABLE,
                    f"{self.target}: TCP connect timed out after {remaining:.3g}s",
                    sent=False,
                )
            ) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StreamError(
                HostError(ErrorKind.UNREACHABLE, f"{self.target}: TCP connect failed: {reason}", sent=False)
            ) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _timeout(self) -> HostError:
        return HostError(ErrorKind.TIMEOUT, f"{self.target}: no answer within {self._budget:.3g}s")

    def send(self, message: bytes) -> None:
        assert self._sock is not None
        remaining = self._remaining()
        if remaining <= 0:
            raise StreamError(self._timeout())
        self._sock.settimeout(remaining)
        try:
            self._sock.sendall(len(message).to_bytes(4, "big") + message)
        except TimeoutError:
            raise StreamError(self._timeout()) from None
        except OSError as exc:
            raise StreamError(
                HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: send failed: {exc.strerror or exc}")
            ) from None

    def _read_exactly(self, n: int) -> bytes:
        assert self._sock is not None
        buffer = bytearray(n)
        view = memoryview(buffer)
        got = 0
        while got < n:
            remaining = self._remaining()
            if remaining <= 0:
                raise StreamError(self._timeout())
            self._sock.settimeout(remaining)
            try:
                count = self._sock.recv_into(view[got:], n - got)
            except TimeoutError:
                raise StreamError(self._timeout()) from None
            except OSError as exc:
                raise StreamError(
                    HostError(
                        ErrorKind.PROTOCOL_ERROR, f"{self.target}: connection reset ({exc.strerror or exc})"
                    )
                ) from None
            if count == 0:
                raise StreamError(
                    HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: the server closed the connection")
                )
            got += count
        return bytes(buffer)

    def recv(self) -> bytes:
        """The next whole SMB message (without its 4-byte header)."""
        header = self._read_exactly(4)
        if header[0] != 0:
            raise StreamError(
                HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: {describe_preamble(header)}")
            )
        length = int.from_bytes(header[1:], "big")
        if length > self.max_message:
            raise StreamError(
                HostError(
                    ErrorKind.PROTOCOL_ERROR,
                    f"{self.target}: an SMB message of {length} bytes announced; "
                    f"the probe reads at most {self.max_message}",
                )
            )
        if length < _MIN_MESSAGE:
            raise StreamError(
                HostError(
                    ErrorKind.PROTOCOL_ERROR, f"{self.target}: an SMB message of {length} bytes announced"
                )
            )
        return self._read_exactly(length)

    def exchange(self, message: bytes) -> bytes:
        self.send(message)
        return self.recv()

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> SmbStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
