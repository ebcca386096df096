"""One WinRM session to one host: open a runspace pool, run structured pipelines, close.

Caveats (DOMAIN 9): a pypsrp pool is not thread-safe, so a session belongs to one worker;
pypsrp has no wall-clock limit per operation, so every socket timeout here is capped by the
host's deadline and the fan-out abandons a host whose deadline passed; a pool is discarded
after any timeout; writes are never retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import TaggedValue
from pypsrp.wsman import WSMan

from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError
from toolkit.transport.classify import classify
from toolkit.transport.model import InvocationResult, PSValue, Statement
from toolkit.transport.values import TypedSerializer, convert, error_from_pypsrp

log = logging.getLogger(__name__)


class CredentialLike(Protocol):
    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...


class TransportError(Exception):
    """Raised by :class:`HostSession`; carries the classified :class:`HostError`."""

    def __init__(self, error: HostError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class SessionTimeouts:
    connection: float
    read: float
    operation: int


def endpoint_of(host: Host) -> str:
    addr = f"[{host.address}]" if ":" in host.address else host.address
    return f"{addr}:{host.transport.effective_port}"


def spn_of(host: Host) -> str | None:
    """The SPN pypsrp asks the KDC for (``HTTP/fs01.corp.example.com``); None without Kerberos."""
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


def _timeouts(host: Host, remaining: float) -> SessionTimeouts:
    t = host.transport
    remaining = max(remaining, 1.0)
    operation = int(max(1, min(t.operation_timeout, remaining - 1)))
    read = max(float(operation) + 1.0, min(t.read_timeout, remaining))
    return SessionTimeouts(
        connection=max(0.5, min(t.connection_timeout, remaining)), read=read, operation=operation
    )


def build_wsman(host: Host, credential: CredentialLike | None, *, remaining: float) -> WSMan:
    t = host.transport
    to = _timeouts(host, remaining)
    cert_validation: bool | str = t.cert_validation
    if t.cert_validation and t.ca_file:
        cert_validation = t.ca_file
    kwargs: dict[str, Any] = {
        "port": t.effective_port,
        "ssl": t.scheme == "https",
        "path": t.path,
        "auth": t.auth,
        "cert_validation": cert_validation,
        "connection_timeout": to.connection,
        "read_timeout": to.read,
        "operation_timeout": to.operation,
        "reconnection_retries": 0,
        "negotiate_service": t.negotiate_service,
        "negotiate_delegate": t.negotiate_delegate,
    }
    if t.negotiate_hostname_override:
        kwargs["negotiate_hostname_override"] = t.negotiate_hostname_override
    if t.auth in ("basic", "certificate") and t.scheme == "http":
        kwargs["encryption"] = "never"
    if t.auth == "certificate":
        kwargs["certificate_pem"] = t.certificate_pem
        kwargs["certificate_key_pem"] = t.certificate_key_pem
    elif credential is not None:
        kwargs["username"] = credential.username
        kwargs["password"] = credential.password
    return WSMan(host.address, **kwargs)


#: .NET type names a :class:`PSValue` parameter may carry -> pypsrp serializer tags.
_WIRE_TAGS = {"Int32": "I32", "Int64": "I64", "UInt32": "U32", "UInt64": "U64", "Boolean": "B", "String": "S"}


def wire_value(value: Any) -> Any:
    """A parameter value as pypsrp should serialize it. Plain Python values pass unchanged
    (int -> Int32, str -> String, list -> array); a :class:`PSValue` is sent as its .NET type
    (``PSValue("Int64", 0)`` -> ``<I64>``), so a caller can ask for a QWORD (DOMAIN 4.1)."""
    if isinstance(value, PSValue):
        tag = _WIRE_TAGS.get(value.type)
        if tag is None:
            raise ValueError(f"cannot send a {value.type} parameter value")
        return TaggedValue(tag, value.value)
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value]
    return value


class SessionBase:
    """What both WinRM clients (this module's and :mod:`toolkit.transport.lean`) share: the
    host's deadline, whether a pipeline may have been sent, and one way to turn an exception
    into a :class:`TransportError`. Subclasses implement ``open``, ``run`` and ``close``."""

    def __init__(self, host: Host, *, deadline: float | None = None) -> None:
        self.host = host
        self.deadline = deadline if deadline is not None else time.monotonic() + 3600.0
        self.endpoint = endpoint_of(host)
        self.sent = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def timeouts(self) -> SessionTimeouts:
        """Socket and WS-Man timeouts for the next request, capped by the deadline."""
        return _timeouts(self.host, self.remaining())

    def _fail(self, exc: BaseException) -> TransportError:
        err = classify(exc, endpoint=self.endpoint, sent=self.sent, spn=spn_of(self.host))
        if self.remaining() <= 0 and err.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT, ErrorKind.ERROR):
            err = HostError(
                ErrorKind.TIMEOUT, f"{self.endpoint} did not finish within the deadline", self.sent
            )
        log.debug("%s: %s (%s)", self.host.name, err.message, type(exc).__name__)
        return TransportError(err)

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostSession(SessionBase):
    """A runspace pool on one host. Use as a context manager; :meth:`run` may be called
    several times. Every failure is raised as :class:`TransportError` (already classified)."""

    def __init__(
        self, host: Host, credential: CredentialLike | None, *, deadline: float | None = None
    ) -> None:
        super().__init__(host, deadline=deadline)
        self.credential = credential
        self._wsman: WSMan | None = None
        self._pool: RunspacePool | None = None

    def open(self) -> None:
        reason = refuse_reason(self.host)
        if reason is not None:
            raise TransportError(HostError(ErrorKind.ERROR, f"refused: {reason}", False))
        try:
            self._wsman = build_wsman(self.host, self.credential, remaining=self.remaining())
            pool = RunspacePool(self._wsman)
            typed = TypedSerializer()
            pool._serializer = typed
            pool._fragmenter.serializer = typed
            self._pool = pool
            pool.open()
        except Exception as exc:
            self._discard()
            raise self._fail(exc) from None

    def run(self, statements: Sequence[Statement]) -> InvocationResult:
        """Run statements as one pipeline (one round trip). Errors in the error stream are
        data (``InvocationResult.errors``), not exceptions."""
        if self._pool is None:
            raise RuntimeError("session is not open")
        ps = PowerShell(self._pool)
        for statement in statements:
            for command in statement:
                ps.add_cmdlet(command.name)
                for p in command.params:
                    if p.name is None:
                        ps.add_argument(wire_value(p.value))
                    elif p.switch:
                        ps.add_parameter(p.name)
                    else:
                        ps.add_parameter(p.name, wire_value(p.value))
            ps.add_statement()
        return self._invoke(ps)

    def run_script(self, text: str) -> InvocationResult:
        """Run ``text`` as PowerShell script (pypsrp ``add_script``), one round trip.

        The one deliberate place where text becomes PowerShell: it exists for ``psfleet run``,
        whose user types the command line. Never pass inventory data or anything built from
        it (STYLE 5); use :meth:`run` with cmdlets and parameters instead.
        """
        if self._pool is None:
            raise RuntimeError("session is not open")
        ps = PowerShell(self._pool)
        ps.add_script(text)
        return self._invoke(ps)

    def _invoke(self, ps: PowerShell) -> InvocationResult:
        try:
            self.sent = True
            output = ps.invoke()
        except Exception as exc:
            self._discard()
            raise self._fail(exc) from None
        try:
            ps.close()
        except Exception as exc:  # closing a finished pipeline failing is not worth failing the host
            log.debug("%s: closing pipeline failed: %s", self.host.name, exc)
        errors = tuple(error_from_pypsrp(e) for e in ps.streams.error)
        values = tuple(convert(o) for o in output)
        state_error = None
        if getattr(ps, "state", None) == 5:  # PSInvocationState.FAILED: terminating error
            state_error = "pipeline failed"
        return InvocationResult(
            output=values,
            errors=errors,
            had_errors=bool(ps.had_errors or errors),
            extra={"failed": state_error} if state_error else {},
        )

    def _discard(self) -> None:
        """Drop the pool without a polite close (after a timeout it is unusable)."""
        if self._wsman is not None:
            try:
                self._wsman.close()
            except Exception as exc:
                log.debug("closing transport failed: %s", exc)
        self._pool = None
        self._wsman = None

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                pool.close()
            except Exception as exc:
                log.debug("%s: closing pool failed: %s", self.host.name, exc)
        self._discard()
