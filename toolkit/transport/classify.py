"""Errors classified once, where transport meets the rest (STYLE 4).

Everything pypsrp, requests, urllib3, spnego or the socket layer can raise becomes a
:class:`~toolkit.results.HostError` with a short message such as
"connection refused on 10.0.0.5:5985". Nothing above this module sees those exceptions.
"""

from __future__ import annotations

import socket
import ssl

import requests
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError

from toolkit.results import ErrorKind, HostError

ACCESS_DENIED_CODES = {5, 0x80070005}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 12:
        seen.append(cur)
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        if nxt is None and len(cur.args) > 1 and isinstance(cur.args[1], BaseException):
            nxt = cur.args[1]
        reason = getattr(cur, "reason", None)
        if nxt is None and isinstance(reason, BaseException):
            nxt = reason
        cur = nxt
    return seen


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def classify(exc: BaseException, *, endpoint: str, sent: bool) -> HostError:
    """Map an exception from a WinRM exchange with ``endpoint`` (``host:port``) to a HostError.

    ``sent`` says whether a pipeline may have reached the host; it is kept on the error so
    that the fan-out retries only what is safe to retry.
    """
    chain = _chain(exc)
    texts = " | ".join(_text(e) for e in chain).lower()

    if isinstance(exc, AuthenticationError):
        return HostError(ErrorKind.AUTH_FAILED, f"authentication failed on {endpoint}: credentials rejected", sent)
    if isinstance(exc, WSManFaultError):
        code = exc.code or 0
        reason = " ".join(str(exc.reason or exc.message or "").split())[:200]
        if code in ACCESS_DENIED_CODES or "access is denied" in reason.lower():
            return HostError(ErrorKind.ACCESS_DENIED, f"access denied on {endpoint}: {reason}", sent)
        return HostError(ErrorKind.PROTOCOL_ERROR, f"WS-Man fault {code} from {endpoint}: {reason}", sent)
    if isinstance(exc, WinRMTransportError):
        code = getattr(exc, "code", None)
        if code == 401:
            return HostError(ErrorKind.AUTH_FAILED, f"authentication failed on {endpoint} (HTTP 401)", sent)
        if code == 403:
            return HostError(ErrorKind.ACCESS_DENIED, f"access denied on {endpoint} (HTTP 403)", sent)
        return HostError(ErrorKind.PROTOCOL_ERROR, f"HTTP {code} from {endpoint}", sent)

    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError) or "certificate verify failed" in _text(e).lower():
            detail = getattr(e, "verify_message", "") or "certificate verify failed"
            return HostError(
                ErrorKind.AUTH_FAILED,
                f"TLS certificate of {endpoint} not trusted ({detail}); set ca_file or fix the certificate",
                False,
            )
    if any(isinstance(e, requests.exceptions.ConnectTimeout) for e in chain) or (
        "connect timeout" in texts or ("connection to" in texts and "timed out" in texts and not sent)
    ):
        return HostError(ErrorKind.UNREACHABLE, f"connect timeout on {endpoint}", False)
    if any(isinstance(e, requests.exceptions.ReadTimeout | TimeoutError | socket.timeout) for e in chain):
        return HostError(ErrorKind.TIMEOUT, f"no answer from {endpoint} within the read timeout", sent)
    if "name or service not known" in texts or "nodename nor servname" in texts or "failed to resolve" in texts or (
        any(isinstance(e, socket.gaierror) for e in chain)
    ):
        return HostError(ErrorKind.UNREACHABLE, f"cannot resolve {endpoint.rsplit(':', 1)[0]}", False)
    if "connection refused" in texts or any(isinstance(e, ConnectionRefusedError) for e in chain):
        return HostError(ErrorKind.UNREACHABLE, f"connection refused on {endpoint}", False)
    if any(isinstance(e, ConnectionResetError) for e in chain) or "connection reset" in texts or (
        "connection aborted" in texts or "remotedisconnected" in texts or "remote end closed" in texts
    ):
        return HostError(ErrorKind.UNREACHABLE, f"connection reset by {endpoint}", sent)
    if any(isinstance(e, OSError) and getattr(e, "errno", None) in (101, 113) for e in chain):
        return HostError(ErrorKind.UNREACHABLE, f"no route to {endpoint}", False)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return HostError(ErrorKind.UNREACHABLE, f"connection to {endpoint} failed: {_text(exc)[:120]}", sent)
    if type(exc).__module__.startswith("spnego"):
        return HostError(ErrorKind.AUTH_FAILED, f"authentication failed on {endpoint}: {_text(exc)[:160]}", sent)
    if isinstance(exc, WinRMError):
        return HostError(ErrorKind.PROTOCOL_ERROR, f"WinRM error from {endpoint}: {_text(exc)[:160]}", sent)
    return HostError(ErrorKind.ERROR, f"{type(exc).__name__} talking to {endpoint}: {_text(exc)[:160]}", sent)
