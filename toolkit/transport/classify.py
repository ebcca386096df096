"""Errors classified once, where transport meets the rest (STYLE 4).

Everything pypsrp, requests, urllib3, spnego, the lean client or the socket layer can raise
becomes a :class:`~toolkit.results.HostError` with a short message such as
"connection refused on 10.0.0.5:5985". Nothing above this module sees those exceptions.

:data:`CASES` is the one table, for both transports: the first case that matches wins, so
specific cases come before the general ones they contain. The exceptions both transports
raise for what psfleet refuses (a redirect, an oversized response, a downgraded NTLM
challenge, a passed deadline) are defined in :mod:`toolkit.errors` (the compat shims raise
them too, and compat must not import transport) and re-exported here.
"""

from __future__ import annotations

import re
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass

import urllib3.exceptions
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError

from toolkit.errors import (
    DeadlineExceeded,
    NTLMDowngradeRefused,
    ProtocolViolation,
    RedirectRefused,
    ResponseTooLarge,
)
from toolkit.results import ErrorKind, HostError

ACCESS_DENIED_CODES = {5, 0x80070005}
#: What a WinRM "Access is denied" needs on the host (the account logged on, but is not allowed
#: to use the WinRM endpoint).
ACCESS_DENIED_FIX = "add the account to Remote Management Users or Administrators"


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


def _requests_errors(*names: str) -> tuple[type[BaseException], ...]:
    """requests' exception classes ``names``, when requests is loaded (only the pypsrp path
    loads it; the lean client's worker processes never pay for importing it): an exception of
    a module that was never imported cannot be in hand). Another thread may be importing
    requests right now (a host falling back to pypsrp): a class its module has not defined
    yet cannot be in hand either, so a missing one is skipped, never an AttributeError."""
    module = sys.modules.get("requests.exceptions")
    found = (getattr(module, name, None) for name in names)
    return tuple(cls for cls in found if isinstance(cls, type) and issubclass(cls, BaseException))


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


_KERBEROS_MODULES = ("spnego", "gssapi", "krb5")
_MINOR = re.compile(r"Minor \(\d+\): (.*?)(?:, Context: |$)")

_SPN_FIX = (
    "set negotiate_hostname_override to the host's FQDN and negotiate_service to HTTP or host "
    "(setspn -L <computer> lists its SPNs)"
)

#: Kerberos failure texts -> the reason and its fix (``{0}``: the pattern's group); the first
#: match wins, so specific texts come before the general ones they contain.
_KERBEROS_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason)
    for pattern, reason in (
        (
            r"No Kerberos credentials available \(default cache: ([^)]*)\)",
            "no Kerberos ticket (run kinit); the cache {0} has none",
        ),
        (
            r"Bad format in credentials cache \(filename: ([^)]*)\)",
            "the Kerberos ticket cache {0} is damaged; run kdestroy; kinit",
        ),
        (r"No Kerberos credentials available", "no Kerberos ticket (run kinit)"),
        (
            r"Can't find client principal (\S+) in cache",
            "no Kerberos ticket for {0} (run kinit {0}, or leave username unset to use the cache's "
            "principal; write it as user@REALM, not DOMAIN\\user)",
        ),
        (
            r"credential cache did not exist or contained no credentials",
            "no Kerberos ticket for the inventory's username (run kinit user@REALM, or leave "
            "username unset to use the cache's principal)",
        ),
        (r"Ticket expired", "the Kerberos ticket has expired; run kinit (or kinit -R while it is renewable)"),
        (r"Server (\S+) not found in Kerberos database", "the KDC has no service principal {0}; " + _SPN_FIX),
        (
            r"Clock skew too great|Ticket not yet valid",
            "clock skew too great between this machine and the KDC; fix NTP here, or run kinit again",
        ),
        (
            r"Cannot (?:contact any KDC|find KDC) for (?:requested )?realm \W?([\w.-]+)",
            "cannot reach a KDC for realm {0}; check krb5.conf ([realms], dns_lookup_kdc) and the network",
        ),
        (
            r"Client '?(\S+?)'? not found in Kerberos database",
            "the KDC does not know the user {0}; check the username (user@REALM)",
        ),
        (
            r"Preauthentication failed|Password incorrect",
            "the KDC rejected the password (or the account is locked)",
        ),
    )
)


def _kerberos_reason(exc: BaseException, chain: list[BaseException], spn: str | None) -> str | None:
    """The Kerberos failure in words, with its fix (docs/kerberos.md has the same table), or None.

    The texts come from MIT krb5 through GSSAPI and pyspnego (they escape pypsrp unwrapped);
    a ticket the host refuses comes back as pypsrp's ``AuthenticationError`` for user ``None``
    (the ticket cache, not a password) or for ``auth=kerberos``.
    """
    if isinstance(exc, AuthenticationError):
        text = str(exc)
        if text.endswith(" with kerberos") or "the user None with negotiate" in text:
            name = spn or "the host's SPN"
            return (
                f"the host refused the Kerberos ticket for {name}; check the host's clock and that no "
                f"other computer holds that SPN (setspn -Q {name}), then kdestroy; kinit"
            )
        return None
    if not any(type(e).__module__.split(".")[0] in _KERBEROS_MODULES for e in chain):
        return None
    text = " ".join(" | ".join(str(e) for e in chain).split())
    for pattern, reason in _KERBEROS_REASONS:
        if m := pattern.search(text):
            return reason.format(*m.groups())
    minor = _MINOR.search(text)
    if minor and "kerberos" in text.lower():
        return f"Kerberos failed: {minor.group(1)[:160]}"
    return None


@dataclass(frozen=True)
class Failure:
    """What the cases look at: the exception, its chain (causes, wrapped errors) and texts."""

    exc: BaseException
    chain: list[BaseException]
    texts: str  # every text of the chain, lower case
    sent: bool
    spn: str | None

    def find(self, kind: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException | None:
        return next((e for e in self.chain if isinstance(e, kind)), None)


@dataclass(frozen=True)
class Case:
    """One row of the table. ``match`` returns the detail (a string, maybe empty) when the case
    applies, None otherwise; ``message`` is formatted with ``endpoint``, ``host`` and ``detail``;
    ``fix`` (when set) is appended. ``unsent``: the failure proves nothing reached the host."""

    name: str
    kind: ErrorKind
    match: Callable[[Failure], str | None]
    message: str
    fix: str = ""
    unsent: bool = False


def _wsman_fault(f: Failure) -> WSManFaultError | None:
    return f.exc if isinstance(f.exc, WSManFaultError) else None


def _fault_reason(fault: WSManFaultError) -> str:
    return " ".join(str(fault.reason or fault.message or "").split())[:200]


def _access_denied_fault(f: Failure) -> str | None:
    fault = _wsman_fault(f)
    if fault is None:
        return None
    reason = _fault_reason(fault)
    if (fault.code or 0) in ACCESS_DENIED_CODES or "access is denied" in reason.lower():
        return reason or "Access is denied."
    return None


def _other_fault(f: Failure) -> str | None:
    fault = _wsman_fault(f)
    return None if fault is None else f"{fault.code or 0}: {_fault_reason(fault)}"


def _http_status(*codes: int) -> Callable[[Failure], str | None]:
    def match(f: Failure) -> str | None:
        if isinstance(f.exc, WinRMTransportError) and getattr(f.exc, "code", None) in codes:
            return ""
        return None

    return match


def _http_other(f: Failure) -> str | None:
    return str(getattr(f.exc, "code", None)) if isinstance(f.exc, WinRMTransportError) else None


def _instance(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Callable[[Failure], str | None]:
    def match(f: Failure) -> str | None:
        found = f.find(kind)
        return None if found is None else _text(found)

    return match


def _redirect(f: Failure) -> str | None:
    found = f.find(RedirectRefused)
    if not isinstance(found, RedirectRefused):
        return None
    return f"HTTP {found.status} to {found.location[:200] or '(no Location)'}"


def _too_large(f: Failure) -> str | None:
    found = f.find(ResponseTooLarge)
    return None if not isinstance(found, ResponseTooLarge) else str(found.limit)


def _kerberos(f: Failure) -> str | None:
    return _kerberos_reason(f.exc, f.chain, f.spn)


def _tls_untrusted(f: Failure) -> str | None:
    for e in f.chain:
        if isinstance(e, ssl.SSLCertVerificationError) or "certificate verify failed" in _text(e).lower():
            return str(getattr(e, "verify_message", "") or "certificate verify failed")
    return None


def _connect_timeout(f: Failure) -> str | None:
    t = f.texts
    connect_timeout = f.find((*_requests_errors("ConnectTimeout"), urllib3.exceptions.ConnectTimeoutError))
    if connect_timeout is not None and not isinstance(connect_timeout, urllib3.exceptions.NewConnectionError):
        return ""
    if "connect timeout" in t or ("connection to" in t and "timed out" in t and not f.sent):
        return ""
    return None


def _read_timeout(f: Failure) -> str | None:
    kinds = (
        *_requests_errors("ReadTimeout"),
        urllib3.exceptions.ReadTimeoutError,
        TimeoutError,
        socket.timeout,
    )
    return "" if f.find(kinds) is not None else None


def _unresolved(f: Failure) -> str | None:
    t = f.texts
    if (
        "name or service not known" in t
        or "nodename nor servname" in t
        or "failed to resolve" in t
        or f.find((socket.gaierror, urllib3.exceptions.NameResolutionError)) is not None
    ):
        return ""
    return None


def _refused(f: Failure) -> str | None:
    return "" if "connection refused" in f.texts or f.find(ConnectionRefusedError) else None


def _reset(f: Failure) -> str | None:
    t = f.texts
    if f.find(ConnectionResetError) is not None or any(
        s in t for s in ("connection reset", "connection aborted", "remotedisconnected", "remote end closed")
    ):
        return ""
    return None


def _no_route(f: Failure) -> str | None:
    routes = (e for e in f.chain if isinstance(e, OSError) and getattr(e, "errno", None) in (101, 113))
    return "" if next(routes, None) is not None else None


def _connection_failed(f: Failure) -> str | None:
    kinds = (*_requests_errors("ConnectionError"), urllib3.exceptions.NewConnectionError)
    return _text(f.exc)[:120] if isinstance(f.exc, kinds) else None


def _spnego(f: Failure) -> str | None:
    return _text(f.exc)[:160] if type(f.exc).__module__.startswith("spnego") else None


def _http_protocol(f: Failure) -> str | None:
    kinds = (urllib3.exceptions.ProtocolError, urllib3.exceptions.HTTPError)
    return _text(f.exc)[:160] if isinstance(f.exc, kinds) else None


def _winrm(f: Failure) -> str | None:
    return _text(f.exc)[:160] if isinstance(f.exc, WinRMError) else None


AUTH, DENIED, PROTOCOL = ErrorKind.AUTH_FAILED, ErrorKind.ACCESS_DENIED, ErrorKind.PROTOCOL_ERROR
UNREACHABLE, TIMEOUT = ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT

#: The table, first match wins (see the module docstring).
CASES: tuple[Case, ...] = (
    Case("protocol-violation", PROTOCOL, _instance(ProtocolViolation), "{endpoint} answered {detail}"),
    Case("kerberos", AUTH, _kerberos, "authentication failed on {endpoint}: {detail}"),
    Case(
        "ntlm-downgrade",
        AUTH,
        _instance(NTLMDowngradeRefused),
        "authentication refused on {endpoint}: {detail}",
        fix="the host or a device on the path offers a weakened NTLM; use Kerberos or HTTPS, and find "
        "what rewrites the challenge",
    ),
    Case(
        "redirect",
        PROTOCOL,
        _redirect,
        "{endpoint} answered with a redirect ({detail}); psfleet never follows redirects",
        fix="put the final address, port and path in the inventory",
    ),
    Case(
        "response-too-large",
        PROTOCOL,
        _too_large,
        "a response from {endpoint} exceeded the {detail}-byte cap",
        fix="raise the transport setting max_response if the host is trusted",
    ),
    Case(
        "deadline",
        TIMEOUT,
        _instance(DeadlineExceeded),
        "{endpoint} did not finish within the deadline",
    ),
    Case(
        "credentials",
        AUTH,
        _instance(AuthenticationError),
        "authentication failed on {endpoint}: credentials rejected",
    ),
    Case(
        "wsman-access-denied",
        DENIED,
        _access_denied_fault,
        "access denied on {endpoint}: {detail}",
        fix=ACCESS_DENIED_FIX,
    ),
    Case("wsman-fault", PROTOCOL, _other_fault, "WS-Man fault from {endpoint}: {detail}"),
    Case("http-401", AUTH, _http_status(401), "authentication failed on {endpoint} (HTTP 401)"),
    Case(
        "http-403", DENIED, _http_status(403), "access denied on {endpoint} (HTTP 403)", fix=ACCESS_DENIED_FIX
    ),
    Case("http-status", PROTOCOL, _http_other, "HTTP {detail} from {endpoint}"),
    Case(
        "tls-untrusted",
        AUTH,
        _tls_untrusted,
        "TLS certificate of {endpoint} not trusted ({detail}); set ca_file or fix the certificate",
        unsent=True,
    ),
    Case("connect-timeout", UNREACHABLE, _connect_timeout, "connect timeout on {endpoint}", unsent=True),
    Case("read-timeout", TIMEOUT, _read_timeout, "no answer from {endpoint} within the read timeout"),
    Case("unresolved", UNREACHABLE, _unresolved, "cannot resolve {host}", unsent=True),
    Case("refused", UNREACHABLE, _refused, "connection refused on {endpoint}", unsent=True),
    Case("reset", UNREACHABLE, _reset, "connection reset by {endpoint}"),
    Case("no-route", UNREACHABLE, _no_route, "no route to {endpoint}", unsent=True),
    Case("connection-failed", UNREACHABLE, _connection_failed, "connection to {endpoint} failed: {detail}"),
    Case("spnego", AUTH, _spnego, "authentication failed on {endpoint}: {detail}"),
    Case("http-protocol", PROTOCOL, _http_protocol, "HTTP protocol error from {endpoint}: {detail}"),
    Case("winrm", PROTOCOL, _winrm, "WinRM error from {endpoint}: {detail}"),
)


def classify(exc: BaseException, *, endpoint: str, sent: bool, spn: str | None = None) -> HostError:
    """Map an exception from a WinRM exchange with ``endpoint`` (``host:port``) to a HostError.

    ``sent`` says whether a pipeline may have reached the host; it is kept on the error so
    that the fan-out retries only what is safe to retry. ``spn`` is the service principal the
    client asked for (Kerberos and Negotiate), named when the host refuses the ticket.
    """
    chain = _chain(exc)
    failure = Failure(exc, chain, " | ".join(_text(e) for e in chain).lower(), sent, spn)
    host = endpoint.rsplit(":", 1)[0]
    for case in CASES:
        detail = case.match(failure)
        if detail is None:
            continue
        message = case.message.format(endpoint=endpoint, host=host, detail=detail)
        if case.fix:
            message = f"{message} (fix: {case.fix})"
        return HostError(case.kind, message, False if case.unsent else sent)
    return HostError(ErrorKind.ERROR, f"{type(exc).__name__} talking to {endpoint}: {_text(exc)[:160]}", sent)
