"""The SMB probe on an event loop: the same questions, bounds and answers as
:func:`toolkit.smb.probe.probe_smb`, for thousands of hosts on one thread.

Each connection is a non-blocking socket driven by the running asyncio loop's reader and
writer callbacks (no transport, no stream objects: a host costs a socket, two futures and a
timer). A message is read exactly as :class:`toolkit.smb.stream.SmbStream` reads it: the
4-byte header into a 4-byte buffer, checked (type byte 0, length from 4 to
:data:`~toolkit.smb.stream.MAX_MESSAGE`), then the body into a buffer of that checked length;
nothing is read between exchanges, so what a host sends never decides how much memory the
probe uses. The deadline is one timer per connection on the loop: when it fires, the pending
read fails with the same ``timeout`` error and the socket is closed. Connect failures and
timeouts, closed and reset connections, and non-SMB answers raise the same
:class:`~toolkit.smb.stream.StreamError` with the same messages, and each step's answer is
interpreted by the same functions of :mod:`toolkit.smb.probe`, so both paths give the same
:class:`~toolkit.smb.probe.SmbProbeResult` (tests/integration/smb/test_smb_async.py).

The requests are built once per process (:class:`Requests`): the NEGOTIATE offering every
dialect, one per dialect, the SMB1 NEGOTIATE and the anonymous SESSION_SETUP, each with its
4-byte header, so a host costs no message building.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from toolkit.results import ErrorKind, HostError
from toolkit.smb.frames import (
    FrameError,
    negotiate_request,
    parse_negotiate_response,
    session_setup_request,
    smb1_negotiate_request,
)
from toolkit.smb.probe import (
    IDENTIFY_BLOB,
    DialectSigning,
    NegotiateInfo,
    Smb1Support,
    SmbProbeResult,
    dialect_answer,
    dialect_failure,
    first_failure,
    identify_deadline,
    identity_failure,
    identity_from,
    not_probed,
    smb1_answer,
    smb1_failure,
)
from toolkit.smb.stream import _MIN_MESSAGE, MAX_MESSAGE, StreamError, describe_preamble
from toolkit.smb.wire import ALL_DIALECTS, dialect_value

_HEADER = 4
_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK)
#: Sockets are made non-blocking at creation where the OS can (Linux), saving two fcntl calls.
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
_STREAM = socket.SOCK_STREAM | _NONBLOCK


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(4, "big") + message


class Requests:
    """Every request the probe sends, framed, built once (the client GUID and the 3.1.1 salt
    are the same on every connection of a run, as one Windows client's GUID is)."""

    def __init__(self) -> None:
        self.negotiate_all = _framed(negotiate_request(tuple(dialect_value(d) for d in ALL_DIALECTS)))
        self.negotiate_one = {d: _framed(negotiate_request((dialect_value(d),))) for d in ALL_DIALECTS}
        self.smb1 = _framed(smb1_negotiate_request())
        self._session_setup: dict[int, bytes] = {}

    def session_setup(self, dialect: int) -> bytes:
        request = self._session_setup.get(dialect)
        if request is None:
            request = self._session_setup[dialect] = _framed(
                session_setup_request(IDENTIFY_BLOB, dialect=dialect)
            )
        return request


@functools.cache
def requests() -> Requests:
    return Requests()


def _timeout_error(target: str, budget: float) -> HostError:
    return HostError(ErrorKind.TIMEOUT, f"{target}: no answer within {budget:.3g}s")


class _Connection:
    """One connected non-blocking socket, read in whole, checked, capped SMB messages.

    No transport and no buffer of its own: while an :meth:`exchange` waits, the loop calls
    :meth:`_readable`, which reads the 4-byte header into a 4-byte buffer, checks it, then
    reads the body into a buffer of the checked length; nothing is read between exchanges.
    One timer per connection, at its deadline, fails the pending exchange and closes the
    socket.
    """

    __slots__ = (
        "body",
        "budget",
        "deadline",
        "fd",
        "got",
        "header",
        "loop",
        "peer",
        "sock",
        "target",
        "timer",
        "waiter",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        target: str,
        deadline: float,
        budget: float,
        peer: tuple[int, Any],
    ) -> None:
        self.loop = loop
        #: (family, sockaddr) this connection reached: the host's later connections go there.
        self.peer = peer
        self.sock: socket.socket | None = sock
        self.fd = sock.fileno()
        self.target = target
        self.deadline = deadline
        self.budget = budget
        self.header = bytearray(_HEADER)
        self.body: bytearray | None = None
        self.got = 0
        self.waiter: asyncio.Future[bytes] | None = None
        self.timer: asyncio.TimerHandle | None = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self.timer = None
        self._fail(_timeout_error(self.target, self.budget))

    def _fail(self, error: HostError) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            self.loop.remove_reader(self.fd)
            if not waiter.done():
                waiter.set_exception(StreamError(error))
        self.close()

    def _readable(self) -> None:
        sock = self.sock
        waiter = self.waiter
        if sock is None or waiter is None:
            return
        while True:
            body = self.body
            buffer = self.header if body is None else body
            try:
                count = sock.recv_into(memoryview(buffer)[self.got :])
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                reason = exc.strerror or exc
                self._fail(HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: connection reset ({reason})"))
                return
            if count == 0:
                self._fail(
                    HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: the server closed the connection")
                )
                return
            self.got += count
            if self.got < len(buffer):
                continue
            if body is None:
                error = self._check_header()
                if error is not None:
                    self._fail(error)
                    return
                continue
            self.body = None
            self.got = 0
            self.waiter = None
            self.loop.remove_reader(self.fd)
            if not waiter.done():
                waiter.set_result(bytes(body))
            return

    def _check_header(self) -> HostError | None:
        """The header's type byte and length, checked before a body buffer is allocated."""
        header = self.header
        if header[0] != 0:
            return HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: {describe_preamble(bytes(header))}")
        length = int.from_bytes(header[1:], "big")
        if length > MAX_MESSAGE:
            return HostError(
                ErrorKind.PROTOCOL_ERROR,
                f"{self.target}: an SMB message of {length} bytes announced; the probe reads at most {MAX_MESSAGE}",
            )
        if length < _MIN_MESSAGE:
            return HostError(
                ErrorKind.PROTOCOL_ERROR, f"{self.target}: an SMB message of {length} bytes announced"
            )
        self.body = bytearray(length)
        self.got = 0
        return None

    def set_deadline(self, deadline: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.deadline = deadline
        self.timer = self.loop.call_at(deadline, self._expire)

    async def exchange(self, request: bytes) -> bytes:
        """Send one framed request and read the next whole message (without its header)."""
        sock = self.sock
        if sock is None or self.loop.time() >= self.deadline:
            raise StreamError(_timeout_error(self.target, self.budget))
        try:
            sent = sock.send(request)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self.close()
            raise StreamError(
                HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: send failed: {exc.strerror or exc}")
            ) from None
        if sent < len(request):  # a full send buffer: not for a request of a few hundred bytes
            # The loop's sock_sendall waits on the socket: the deadline is its timeout here, not
            # the connection's timer, which would close the socket under it.
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            try:
                async with asyncio.timeout_at(self.deadline):
                    await self.loop.sock_sendall(sock, request[sent:])
            except TimeoutError:
                self.close()
                raise StreamError(_timeout_error(self.target, self.budget)) from None
            except OSError as exc:
                self.close()
                raise StreamError(
                    HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: send failed: {exc.strerror or exc}")
                ) from None
            self.timer = self.loop.call_at(self.deadline, self._expire)
        waiter: asyncio.Future[bytes] = self.loop.create_future()
        self.waiter = waiter
        self.loop.add_reader(self.fd, self._readable)
        try:
            return await waiter
        finally:
            if self.waiter is waiter:  # cancelled (Ctrl-C): stop reading
                self.waiter = None
                self.loop.remove_reader(self.fd)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        sock = self.sock
        if sock is not None:
            self.sock = None
            sock.close()


def _connected(sock: socket.socket, waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait_connected(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, sockaddr: Any, deadline: float
) -> int:
    """Connect ``sock``: 0 or the errno; raises TimeoutError at ``deadline``."""
    err = sock.connect_ex(sockaddr)
    if err not in _IN_PROGRESS:
        return err
    # A peer on this machine has often answered before connect() returns: then the socket has
    # a peer (or a pending error) at once, and the loop need not be asked to wait.
    try:
        sock.getpeername()
    except OSError:
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return err
    else:
        return 0
    fd = sock.fileno()
    waiter: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _connected, sock, waiter)
    timer = loop.call_at(deadline, _connected, sock, waiter)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)
        timer.cancel()
    if loop.time() >= deadline:
        raise TimeoutError
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def _lookup(
    loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[list[tuple[int, Any]]], address: str, port: int
) -> None:
    """socket.getaddrinfo on a daemon thread of its own, the answer handed back to the loop."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        outcome: list[tuple[int, Any]] | OSError = exc
    else:
        outcome = [(family, sockaddr) for family, _, _, _, sockaddr in infos]

    def deliver() -> None:
        if waiter.done():
            return
        if isinstance(outcome, OSError):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)

    with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
        loop.call_soon_threadsafe(deliver)


async def resolve(address: str, port: int, *, deadline: float) -> list[tuple[int, Any]]:
    """(family, sockaddr) to try in turn, as socket.create_connection tries them. Numeric
    addresses need no resolver; a name is looked up on a daemon thread (not the loop's
    executor, whose threads the loop waits for when it closes: a resolver that hangs must
    not hold up the end of the run). Raises OSError (not found) or TimeoutError (deadline)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except OSError:
            continue
        return [(family, (address, port))]
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[list[tuple[int, Any]]] = loop.create_future()
    threading.Thread(target=_lookup, args=(loop, waiter, address, port), daemon=True).start()
    async with asyncio.timeout_at(deadline):
        return await waiter


async def connect(
    address: str, port: int, *, deadline: float, addresses: list[tuple[int, Any]] | None = None
) -> _Connection:
    """A connected :class:`_Connection`; StreamError (``unreachable``, or ``timeout`` when
    no time is left) as :class:`toolkit.smb.stream.SmbStream` raises it. ``addresses``: what
    :func:`resolve` gave for ``address`` (looked up here when None)."""
    loop = asyncio.get_running_loop()
    target = f"{address}:{port}"
    remaining = deadline - loop.time()
    if remaining <= 0:
        raise StreamError(HostError(ErrorKind.TIMEOUT, f"{target}: no time left to connect", sent=False))
    reason = "no address"
    try:
        for family, sockaddr in addresses or await resolve(address, port, deadline=deadline):
            sock = socket.socket(family, _STREAM)
            try:
                if not _NONBLOCK:
                    sock.setblocking(False)
                err = await _wait_connected(loop, sock, sockaddr, deadline)
            except BaseException:
                sock.close()
                raise
            if err == 0:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return _Connection(loop, sock, target, deadline, remaining, (family, sockaddr))
            sock.close()
            reason = os.strerror(err)
    except TimeoutError:
        raise StreamError(
            HostError(
                ErrorKind.UNREACHABLE, f"{target}: TCP connect timed out after {remaining:.3g}s", sent=False
            )
        ) from None
    except OSError as exc:  # the resolver's (socket.gaierror)
        reason = exc.strerror or str(exc)
    raise StreamError(HostError(ErrorKind.UNREACHABLE, f"{target}: TCP connect failed: {reason}", sent=False))


async def _ask(
    address: str, port: int, request: bytes, *, deadline: float, peer: tuple[int, Any] | None
) -> bytes:
    """One connection, one request, one answer."""
    conn = await connect(address, port, deadline=deadline, addresses=[peer] if peer else None)
    try:
        return await conn.exchange(request)
    finally:
        conn.close()


async def probe_smb_async(
    address: str,
    port: int = 445,
    *,
    timeout: float = 10.0,
    per_dialect: Sequence[str] | None = ALL_DIALECTS,
    smb1: bool = True,
    identify: bool = True,
) -> SmbProbeResult:
    """:func:`toolkit.smb.probe.probe_smb` on the running loop: the same steps in the same order
    (every step's connection after the previous one), the same bounds, the same result."""
    wanted = tuple(per_dialect or ())
    for name in wanted:
        dialect_value(name)  # reject unknown names before any traffic
    loop = asyncio.get_running_loop()
    wire = requests()
    started = loop.time()
    deadline = started + timeout
    offered = ALL_DIALECTS

    identity = None
    identity_note = ""
    try:
        conn = await connect(address, port, deadline=deadline)
        # The host's later connections go to the address this one reached (a name is looked
        # up once per host, not once per connection).
        peer = conn.peer
        try:
            response = parse_negotiate_response(await conn.exchange(wire.negotiate_all))
            if identify:
                conn.set_deadline(identify_deadline(deadline, loop.time()))
                try:
                    answer = await conn.exchange(wire.session_setup(response.dialect))
                except StreamError as exc:
                    identity, identity_note = identity_failure(exc)
                else:
                    identity, identity_note = identity_from(answer)
        finally:
            conn.close()
    except (StreamError, FrameError) as exc:
        error = first_failure(f"{address}:{port}", exc)
        return SmbProbeResult(address, port, offered, error=error, duration_s=loop.time() - started)
    negotiated = NegotiateInfo.from_response(response)

    results: list[DialectSigning] = []
    for name in wanted:
        if loop.time() >= deadline:
            results.append(DialectSigning(name, supported=False, note=not_probed(timeout)))
            continue
        try:
            alone = parse_negotiate_response(
                await _ask(address, port, wire.negotiate_one[name], deadline=deadline, peer=peer)
            )
        except (StreamError, FrameError) as exc:
            results.append(dialect_failure(name, exc))
            continue
        results.append(dialect_answer(name, alone))

    smb1_support: Smb1Support | None = None
    if smb1:
        if loop.time() >= deadline:
            smb1_support = Smb1Support(None, note=not_probed(timeout))
        else:
            try:
                smb1_support = smb1_answer(await _ask(address, port, wire.smb1, deadline=deadline, peer=peer))
            except StreamError as exc:
                smb1_support = smb1_failure(exc)

    return SmbProbeResult(
        address,
        port,
        offered,
        negotiated=negotiated,
        per_dialect=tuple(results),
        identity=identity,
        identity_note=identity_note if identify else "",
        smb1=smb1_support,
        duration_s=loop.time() - started,
    )
