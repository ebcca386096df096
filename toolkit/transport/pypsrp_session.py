"""One WinRM session to one host through pypsrp: the :class:`~toolkit.transport.protocol.Session`
protocol's pypsrp implementation (``transport: pypsrp``, and where ``auto`` falls back).

Caveats (docs/windows-facts.md#pypsrp-thread-safety, pypsrp-timeouts): a pypsrp pool is not
thread-safe, so a session belongs to one worker;
pypsrp has no wall-clock limit per operation, so its HTTP session is hardened
(:mod:`toolkit.compat.pypsrp`): every request's timeouts are capped by the host's deadline,
a body is read at most :data:`~toolkit.transport.protocol.MAX_RESPONSE_BYTES` and never past
the deadline (the socket is closed then), and no redirect is followed. A pool is discarded
after any timeout; writes are never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import TaggedValue
from pypsrp.wsman import WSMan

from toolkit.compat.pypsrp import harden_wsman, use_serializer
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError
from toolkit.transport import redact
from toolkit.transport.model import InvocationResult, PSValue, Statement
from toolkit.transport.protocol import (
    CredentialLike,
    SessionBase,
    SessionTimeouts,
    TransportError,
    TransportName,
    endpoint_of,
    max_response,
    refuse_reason,
    session_timeouts,
    spn_of,
)
from toolkit.transport.values import TypedArray, TypedSerializer, convert, error_from_pypsrp

__all__ = [
    "CredentialLike",
    "HostSession",
    "SessionBase",
    "SessionTimeouts",
    "TransportError",
    "build_wsman",
    "endpoint_of",
    "refuse_reason",
    "spn_of",
    "wire_value",
]

log = logging.getLogger(__name__)
redact.install()


def _mechanism(auth: str, credential: CredentialLike | None) -> str:
    """pypsrp's auth for ``auth``: Negotiate without a Kerberos ticket but with a password is
    NTLM up front, as Windows' own client does (and the lean client): pyspnego's Negotiate
    would first ask GSSAPI for a ticket with the password and stall ~5 s on an unreachable
    default realm. The token still goes in a ``Negotiate`` header, which Windows accepts."""
    if auth != "negotiate" or credential is None:
        return auth
    from toolkit.transport.lean.auth import mechanism

    return mechanism(auth, credential.username, credential.password)


def build_wsman(host: Host, credential: CredentialLike | None, *, remaining: float) -> WSMan:
    t = host.transport
    to = session_timeouts(host, remaining)
    cert_validation: bool | str = t.cert_validation
    if t.cert_validation and t.ca_file:
        cert_validation = t.ca_file
    kwargs: dict[str, Any] = {
        "port": t.effective_port,
        "ssl": t.scheme == "https",
        "path": t.path,
        "auth": _mechanism(t.auth, credential),
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
    (``PSValue("Int64", 0)`` -> ``<I64>``), so a caller can ask for a QWORD
    (docs/windows-facts.md#registry-write-kind); an
    array type (``PSValue("String[]", [...])``) as that typed array, not ``Object[]``."""
    if isinstance(value, PSValue):
        element = value.type.removesuffix("[]")
        if element != value.type and element in _WIRE_TAGS:  # String[]: as PowerShell sends one
            items = [wire_value(PSValue(element, v)) for v in value.value]
            return TypedArray(f"System.{value.type}", items)
        tag = _WIRE_TAGS.get(value.type)
        if tag is None:
            raise ValueError(f"cannot send a {value.type} parameter value")
        return TaggedValue(tag, value.value)
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value]
    return value


class HostSession(SessionBase):
    """A runspace pool on one host through pypsrp. Use as a context manager; :meth:`run` may
    be called several times. Every failure is raised as :class:`TransportError` (already
    classified)."""

    transport: TransportName = "pypsrp"

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
            raise TransportError(
                HostError(ErrorKind.ERROR, f"refused: {reason}", False), transport=self.transport
            )
        try:
            self._wsman = build_wsman(self.host, self.credential, remaining=self.remaining())
            harden_wsman(
                self._wsman,
                deadline=self.deadline,
                max_bytes=max_response(self.host),
                source_address=self.host.transport.source_address,
            )
            pool = RunspacePool(self._wsman)
            use_serializer(pool, TypedSerializer())
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
