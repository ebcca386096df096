"""Errors classified once, where transport meets the rest (STYLE 4).

Everything pypsrp, requests, urllib3, spnego or the socket layer can raise becomes a
:class:`~toolkit.results.HostError` with a short message such as
"connection refused on 10.0.0.5:5985". Nothing above this module sees those exceptions.
"""

from __future__ import annotations

import re
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


def classify(exc: BaseException, *, endpoint: str, sent: bool, spn: str | None = None) -> HostError:
    """Map an exception from a WinRM exchange with ``endpoint`` (``host:port``) to a HostError.

    ``sent`` says whether a pipeline may have reached the host; it is kept on the error so
    that the fan-out retries only what is safe to retry. ``spn`` is the service principal the
    client asked for (Kerberos and Negotiate), named when the host refuses the ticket.
    """
    chain = _chain(exc)
    texts = " | ".join(_text(e) for e in chain).lower()

    kerberos = _kerberos_reason(exc, chain, spn)
    if kerberos is not None:
        return HostError(ErrorKind.AUTH_FAILED, f"authentication failed on {endpoint}: {kerberos}", sent)
    if isinstance(exc, AuthenticationError):
        return HostError(
            ErrorKind.AUTH_FAILED, f"authentication failed on {endpoint}: credentials rejected", sent
        )
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
    if (
        "name or service not known" in texts
        or "nodename nor servname" in texts
        or "failed to resolve" in texts
        or (any(isinstance(e, socket.gaierror) for e in chain))
    ):
        return HostError(ErrorKind.UNREACHABLE, f"cannot resolve {endpoint.rsplit(':', 1)[0]}", False)
    if "connection refused" in texts or any(isinstance(e, ConnectionRefusedError) for e in chain):
        return HostError(ErrorKind.UNREACHABLE, f"connection refused on {endpoint}", False)
    if (
        any(isinstance(e, ConnectionResetError) for e in chain)
        or "connection reset" in texts
        or ("connection aborted" in texts or "remotedisconnected" in texts or "remote end closed" in texts)
    ):
        return HostError(ErrorKind.UNREACHABLE, f"connection reset by {endpoint}", sent)
    if any(isinstance(e, OSError) and getattr(e, "errno", None) in (101, 113) for e in chain):
        return HostError(ErrorKind.UNREACHABLE, f"no route to {endpoint}", False)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return HostError(ErrorKind.UNREACHABLE, f"connection to {endpoint} failed: {_text(exc)[:120]}", sent)
    if type(exc).__module__.startswith("spnego"):
        return HostError(
            ErrorKind.AUTH_FAILED, f"authentication failed on {endpoint}: {_text(exc)[:160]}", sent
        )
    if isinstance(exc, WinRMError):
        return HostError(ErrorKind.PROTOCOL_ERROR, f"WinRM error from {endpoint}: {_text(exc)[:160]}", sent)
    return HostError(ErrorKind.ERROR, f"{type(exc).__name__} talking to {endpoint}: {_text(exc)[:160]}", sent)
