"""The one Session protocol every WinRM client of psfleet implements.

Audit, remediate, rollback, ``run``, audit extensions and the API talk to a host only through
:class:`Session`: ``open()``, ``run(statements)`` (structured cmdlets with parameters, one
round trip), ``run_script(text)`` (only ``psfleet run``'s typed command line), ``close()``,
and a context manager. Results are :mod:`toolkit.transport.model` data; every failure is a
:class:`TransportError` carrying a classified :class:`~toolkit.results.HostError` (the same
:class:`~toolkit.results.ErrorKind` whichever client served the host).

Two clients implement it: pypsrp's (:class:`toolkit.transport.pypsrp_session.HostSession`) and the
lean client (:mod:`toolkit.transport.lean`). :func:`toolkit.transport.select.open_session`
picks one per host (``transport: auto | lean | pypsrp``).

Every client keeps the same bounds: socket timeouts capped by the host's deadline, one
response at most :data:`MAX_RESPONSE_BYTES`, no HTTP redirect followed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, Self

from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError
from toolkit.transport.model import InvocationResult, Statement

log = logging.getLogger("toolkit.transport")

#: The WinRM clients a host can be served by (``transport`` in JSON).
TransportName = Literal["lean", "pypsrp"]

#: The largest HTTP response body either client reads unless the host's ``max_response``
#: setting says otherwise (an encrypted WinRM answer of the audit is a few kB; 4 MiB leaves
#: room for large ``psfleet run`` output). A longer body is a ``protocol_error`` and its
#: connection is closed.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


def max_response(host: Host) -> int:
    """The response size cap for ``host`` (its ``max_response`` setting, else the default)."""
    return int(getattr(host.transport, "max_response", None) or MAX_RESPONSE_BYTES)


class CredentialLike(Protocol):
    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...


class TransportError(Exception):
    """Raised by every :class:`Session`; carries the classified :class:`HostError`.

    ``transport`` names the client that failed (``lean``/``pypsrp``, None before one was
    chosen) and ``fallback`` why the lean client was left for pypsrp on this host, if it was.
    ``refused`` marks what psfleet refuses by policy on every client (a redirect, an
    oversized response, a downgraded NTLM challenge): no other client is tried for it.
    """

    def __init__(
        self,
        error: HostError,
        *,
        transport: str | None = None,
        fallback: str | None = None,
        refused: bool = False,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.transport = transport
        self.fallback = fallback
        self.refused = refused

    def details(self) -> dict[str, str | None]:
        """The host result's ``transport``/``transport_fallback`` fields ({} when unknown)."""
        if self.transport is None:
            return {}
        return {"transport": self.transport, "transport_fallback": self.fallback}


class Session(Protocol):
    """One host's runspace pool, see the module docstring. Not thread-safe: a session
    belongs to one worker. A pipeline is never re-sent by a session after it may have
    reached the host."""

    host: Host

    @property
    def transport(self) -> TransportName:
        """The client serving this host right now."""
        ...

    @property
    def fallback(self) -> str | None:
        """Why the lean client was left for pypsrp on this host (None: no fallback)."""
        ...

    def open(self) -> None: ...

    def run(self, statements: Sequence[Statement]) -> InvocationResult: ...

    def run_script(self, text: str) -> InvocationResult: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


def transport_fields(session: Session) -> dict[str, str | None]:
    """``transport`` and ``transport_fallback`` for a host result served by ``session``."""
    return {"transport": session.transport, "transport_fallback": session.fallback}


@dataclass
class SessionTimeouts:
    connection: float
    read: float
    operation: int


def endpoint_of(host: Host) -> str:
    addr = f"[{host.address}]" if ":" in host.address else host.address
    return f"{addr}:{host.transport.effective_port}"


def spn_of(host: Host) -> str | None:
    """The SPN a client asks the KDC for (``HTTP/fs01.corp.example.com``); None without Kerberos."""
    t = host.transport
    if t.auth not in ("kerberos", "negotiate"):
        return None
    return f"{t.negotiate_service}/{t.negotiate_hostname_override or host.address}"


def refuse_reason(host: Host) -> str | None:
    """Why psfleet refuses to connect with this transport (None when it is fine)."""
    t = host.transport
    if t.scheme == "http" and t.auth in ("basic", "certificate") and not t.allow_unencrypted:
        return (
            f"{t.auth} authentication over plain HTTP would expose credentials; use scheme https "
            "or set allow_unencrypted: true"
        )
    if t.auth == "certificate" and t.scheme != "https":
        return "certificate authentication needs https"
    return None


def session_timeouts(host: Host, remaining: float) -> SessionTimeouts:
    """Socket and WS-Man timeouts for the next request, capped by the time left."""
    t = host.transport
    remaining = max(remaining, 1.0)
    operation = int(max(1, min(t.operation_timeout, remaining - 1)))
    read = max(float(operation) + 1.0, min(t.read_timeout, remaining))
    return SessionTimeouts(
        connection=max(0.5, min(t.connection_timeout, remaining)), read=read, operation=operation
    )


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is one of the refusals every client makes."""
    from toolkit.errors import NTLMDowngradeRefused, RedirectRefused, ResponseTooLarge

    seen: BaseException | None = exc
    for _ in range(12):
        if seen is None:
            return False
        if isinstance(seen, RedirectRefused | ResponseTooLarge | NTLMDowngradeRefused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class SessionBase:
    """What both clients share: the host's deadline, whether a pipeline may have been sent,
    and one way to turn an exception into a :class:`TransportError`. Subclasses implement
    ``open``, ``run``, ``run_script`` and ``close`` and set :attr:`transport`."""

    #: The client's name; :class:`~toolkit.transport.pypsrp_session.HostSession` says ``pypsrp``.
    transport: TransportName = "lean"
    fallback: str | None = None

    def __init__(self, host: Host, *, deadline: float | None = None) -> None:
        self.host = host
        self.deadline = deadline if deadline is not None else time.monotonic() + 3600.0
        self.endpoint = endpoint_of(host)
        self.sent = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def timeouts(self) -> SessionTimeouts:
        """Socket and WS-Man timeouts for the next request, capped by the deadline."""
        return session_timeouts(self.host, self.remaining())

    def _fail(self, exc: BaseException) -> TransportError:
        from toolkit.transport.classify import classify

        err = classify(exc, endpoint=self.endpoint, sent=self.sent, spn=spn_of(self.host))
        if self.remaining() <= 0 and err.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT, ErrorKind.ERROR):
            err = HostError(
                ErrorKind.TIMEOUT, f"{self.endpoint} did not finish within the deadline", self.sent
            )
        log.debug("%s: %s (%s, %s)", self.host.name, err.message, type(exc).__name__, self.transport)
        return TransportError(err, transport=self.transport, refused=_refused(exc))

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
