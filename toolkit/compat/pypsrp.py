"""pypsrp internals psfleet depends on (pypsrp >=0.9.1,<0.10; see pyproject.toml).

pypsrp exposes no way to bound its HTTP exchanges, so this module reaches into its WSMan
transport (``WSMan.transport`` and its ``_build_session``) and hardens the requests session
it would build:

- **no redirects**: requests follows a 3xx by default (pypsrp passes no ``allow_redirects``),
  which sent the SOAP body and the Negotiate token to wherever a host pointed, HTTPS to plain
  HTTP included. Here nothing follows a redirect and a 3xx raises :class:`RedirectRefused`
  naming the Location (classified as ``protocol_error``, like the lean client's);
- **a size cap**: every response body, the 401s of the authentication handshake included, is
  read through a counter; past ``max_bytes`` the connection is closed and
  :class:`ResponseTooLarge` raised (an endless chunked body costs at most the cap);
- **the deadline**: each request's connect and read timeouts are capped by the time left to
  the host, the body is read in pieces with the deadline checked between them (down to the
  socket file under urllib3's response, so a body trickled a byte at a time ends at the
  deadline too; a chunk-size line is at most :data:`LINE_LIMIT` bytes), and every socket is
  shut down when the deadline passes, whatever reads it (:class:`_Reaper`: a status line or
  headers trickled a byte at a time). The socket file and the pool classes are urllib3's
  (bounded <3 in pyproject.toml).

It also swaps a runspace pool's serializer (``RunspacePool._serializer`` and its fragmenter's)
for psfleet's typed one, which keeps Int32 apart from Int64 in output.
"""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from pypsrp.powershell import RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import WSMan
from requests.adapters import BaseAdapter

from toolkit.errors import DeadlineExceeded, ProtocolViolation, RedirectRefused, ResponseTooLarge

#: The longest line of a body (a chunk-size line) read before the answer is refused.
LINE_LIMIT = 65536


class _BodyBound:
    """Counts what a urllib3 response yields through ``stream`` (how requests reads every
    body): at most ``limit`` bytes, and nothing after ``deadline``; the response is closed
    (its socket with it) when either passes. It replaces the response's ``stream`` on the
    instance, so the response stays a urllib3 ``HTTPResponse`` (pypsrp's channel binding
    looks for one)."""

    def __init__(self, raw: Any, limit: int, deadline: float) -> None:
        self._raw = raw
        self._stream = raw.stream
        self._limit = limit
        self._deadline = deadline
        self._seen = 0

    def stream(self, amt: int | None = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        for chunk in self._stream(min(amt or 2**16, 2**16), decode_content=decode_content):
            self._seen += len(chunk)
            if self._seen > self._limit:
                self._raw.close()
                raise ResponseTooLarge(self._limit)
            if time.monotonic() >= self._deadline:
                self._raw.close()
                raise DeadlineExceeded("the host's deadline passed while reading a response")
            yield chunk


class _DeadlineReader:
    """The socket file under one response (urllib3's ``HTTPResponse._fp.fp``), read in pieces
    with the deadline checked between them: ``read``/``readinto`` wait for at most one
    socket read (``read1``) at a time, ``readline`` reads 16 bytes at a time and refuses a
    line longer than :data:`LINE_LIMIT`. A body trickled a byte at a time, or a chunk-size
    line that never ends, then costs neither time past the deadline nor memory; urllib3
    closes the connection when a read raises."""

    def __init__(self, fp: Any, deadline: float) -> None:
        self._fp = fp
        self._deadline = deadline

    def _check(self) -> None:
        if time.monotonic() >= self._deadline:
            raise DeadlineExceeded("the host's deadline passed while reading a response")

    def read(self, n: int | None = -1) -> bytes:
        out = bytearray()
        while n is None or n < 0 or len(out) < n:
            self._check()
            want = 65536 if n is None or n < 0 else min(n - len(out), 65536)
            piece = self._fp.read1(want)
            if not piece:
                break
            out += piece
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, limit: int | None = -1) -> bytes:
        cap = LINE_LIMIT + 1 if limit is None or limit < 0 else min(limit, LINE_LIMIT + 1)
        out = bytearray()
        while len(out) < cap and not out.endswith(b"\n"):
            self._check()
            piece = self._fp.readline(min(16, cap - len(out)))
            if not piece:
                break
            out += piece
        if len(out) > LINE_LIMIT:
            raise ProtocolViolation(f"a line longer than {LINE_LIMIT} bytes in its body")
        return bytes(out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


class _Reaper:
    """One daemon thread that shuts down each watched socket when its host's deadline passes,
    whatever the thread using it is blocked in (a status line or headers trickled a byte at a
    time, a TLS handshake): the blocked read returns at once and the request fails."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, weakref.ref[socket.socket]]] = []
        self._cond = threading.Condition()
        self._count = 0
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, self._count, weakref.ref(sock)))
            self._count += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="psfleet-deadline-reaper", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, ref = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            sock = ref()
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed: the host finished in time
                    sock.shutdown(socket.SHUT_RDWR)


_REAPER = _Reaper()


def _after(factory: Callable[..., Any], then: Callable[[Any], None]) -> Callable[..., Any]:
    def make(*args: Any, **kwargs: Any) -> Any:
        made = factory(*args, **kwargs)
        then(made)
        return made

    return make


def _watch_connections(adapter: BaseAdapter, session: _BoundedSession) -> None:
    """Every connection ``adapter`` opens is watched by the reaper with ``session``'s deadline
    (urllib3's pool classes and their ``ConnectionCls``, as pypsrp's own _pool_manager does)."""

    def watch_connection(conn: Any) -> None:
        connect = conn.connect

        def watched_connect() -> None:
            connect()
            session.psfleet_connects += 1
            if conn.sock is not None:
                _REAPER.watch(conn.sock, session.psfleet_deadline)

        conn.connect = watched_connect

    def watch_pool(pool: Any) -> None:
        pool.ConnectionCls = _after(pool.ConnectionCls, watch_connection)

    manager = adapter.poolmanager  # type: ignore[attr-defined]
    classes = dict(manager.pool_classes_by_scheme)
    for scheme, pool_cls in list(classes.items()):
        classes[scheme] = _after(pool_cls, watch_pool)
    manager.pool_classes_by_scheme = classes


class _BoundedSession(requests.Session):
    """A requests session that follows no redirect and bounds every read (see the module
    docstring). Set :attr:`psfleet_deadline` and :attr:`psfleet_max_bytes` before use."""

    psfleet_deadline: float
    psfleet_max_bytes: int
    #: Connections opened, and how many were open when the last 2xx answer came (-1: none
    #: yet): a 401 on a newer connection after a 2xx is a session pypsrp cannot re-establish.
    psfleet_connects: int = 0
    psfleet_connects_at_ok: int = -1

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None  # requests never builds a follow-up request

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        remaining = self.psfleet_deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the host's deadline passed before the request was sent")
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        kwargs["timeout"] = _capped(kwargs.get("timeout"), remaining)
        response = super().send(request, **kwargs)
        try:
            if 300 <= response.status_code < 400:
                raise RedirectRefused(response.status_code, response.headers.get("Location", ""))
            response.content  # noqa: B018 - read now, through the bounds
        except BaseException:
            response.close()
            raise
        if 200 <= response.status_code < 300:
            self.psfleet_connects_at_ok = self.psfleet_connects
        elif response.status_code == 401 and 0 <= self.psfleet_connects_at_ok < self.psfleet_connects:
            # The credentials were accepted on an earlier connection; the host closed it and
            # pypsrp sends the next message on a new one with the old session's encryption,
            # which the host cannot accept. Not a wrong password (nor a reason to lock it out).
            raise ProtocolViolation(
                "HTTP 401 on a new connection after it had accepted the credentials on the "
                "previous one (the host closed that connection; pypsrp cannot authenticate a new "
                "connection within a session: use transport lean or auto)"
            )
        return response


def _capped(timeout: Any, remaining: float) -> tuple[float, float]:
    if isinstance(timeout, tuple):
        connect, read = timeout
    else:
        connect = read = timeout
    connect = remaining if connect is None else min(float(connect), remaining)
    read = remaining if read is None else min(float(read), remaining)
    return (max(connect, 0.05), max(read, 0.05))


def _bound_adapter(adapter: BaseAdapter, session: _BoundedSession) -> None:
    build = adapter.build_response  # type: ignore[attr-defined]

    def build_response(req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response: requests.Response = build(req, resp)
        bound = _BodyBound(response.raw, session.psfleet_max_bytes, session.psfleet_deadline)
        response.raw.stream = bound.stream
        underneath = getattr(response.raw, "_fp", None)  # http.client's response (urllib3 <3)
        if underneath is not None and getattr(underneath, "fp", None) is not None:
            underneath.fp = _DeadlineReader(underneath.fp, session.psfleet_deadline)
        return response

    adapter.build_response = build_response  # type: ignore[attr-defined]


def bound_session(session: requests.Session, *, deadline: float, max_bytes: int) -> requests.Session:
    """Harden ``session`` in place (see the module docstring) and return it."""
    session.__class__ = _BoundedSession
    assert isinstance(session, _BoundedSession)
    session.psfleet_deadline = deadline
    session.psfleet_max_bytes = max_bytes
    session.max_redirects = 0
    adapters: Mapping[str, BaseAdapter] = session.adapters
    for adapter in adapters.values():
        _bound_adapter(adapter, session)
        if hasattr(adapter, "poolmanager"):
            _watch_connections(adapter, session)
    return session


def harden_wsman(
    wsman: WSMan, *, deadline: float, max_bytes: int, source_address: str | None = None
) -> WSMan:
    """Build the requests session of ``wsman``'s transport now (pypsrp builds it on the
    first send) and harden it; call before the first request. ``source_address``: the local
    address every connection is bound to (urllib3's pool keyword ``source_address``)."""
    transport = wsman.transport
    if transport.session is None:
        transport.session = transport._build_session()
    bound_session(transport.session, deadline=deadline, max_bytes=max_bytes)
    if source_address:
        for adapter in transport.session.adapters.values():
            manager = getattr(adapter, "poolmanager", None)
            if manager is not None:
                manager.connection_pool_kw["source_address"] = (source_address, 0)
    return wsman


def use_serializer(pool: RunspacePool, serializer: Serializer) -> None:
    """Make ``pool`` (and the fragmenter that builds its messages) use ``serializer``."""
    pool._serializer = serializer
    pool._fragmenter.serializer = serializer
