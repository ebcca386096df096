"""Keep authentication tokens out of logs, at every verbosity.

pyspnego logs each NTLM, SPNEGO, Kerberos and CredSSP token it reads or writes at DEBUG
(``NTLM step output: TlRMTVNTUAAD...``), and a logged HTTP header can carry a whole
``Authorization: Negotiate ...``. An NTLM AUTHENTICATE with its challenge is enough to crack
the password offline, so ``psfleet -vvv`` must never show one.

:func:`install` puts :class:`TokenFilter` on the loggers of the libraries that talk to hosts
(logger filters see only records created on that very logger, so each module's logger is
named) and returns the filter so a handler can carry it too (the CLI adds it to its
handlers, which catches any library logger not listed here).
"""

from __future__ import annotations

import logging
import re

from toolkit.compat.spnego_loggers import LOGGERS as SPNEGO_LOGGERS

#: Loggers that log tokens or headers (pyspnego's per-protocol modules, pypsrp, requests and
#: urllib3, requests-credssp, and psfleet's own transport).
LOGGERS: tuple[str, ...] = (
    *SPNEGO_LOGGERS,
    "pypsrp",
    "pypsrp.negotiate",
    "pypsrp.wsman",
    "pypsrp.encryption",
    "pypsrp.powershell",
    "requests_credssp",
    "requests",
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "toolkit.transport",
    "toolkit.transport.lean",
)

REDACTED = "<redacted>"

#: An auth header value (``Negotiate <b64>``, ``NTLM <b64>``, ``Kerberos <b64>``,
#: ``CredSSP <b64>``, ``Basic <b64>``), a "step input/output" or TSRequest token of pyspnego,
#: and any long base64 run that decodes to an NTLMSSP or SPNEGO/Kerberos message.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"((?:step|TSRequest) (?:input|output):?\s*)[A-Za-z0-9+/=]+", re.IGNORECASE),
    re.compile(
        r"\b(Negotiate|NTLM|Kerberos|CredSSP|Basic|Bearer)(\s+)(?=[A-Za-z_-]*[0-9+/=])[A-Za-z0-9+/=_-]{12,}",
        re.IGNORECASE,
    ),
    re.compile(r"TlRMTVNT[A-Za-z0-9+/=]*"),  # base64 of "NTLMSSP\0"
    re.compile(r"\b(?:YII|oY[GI]|oXcw|oX[MQ])[A-Za-z0-9+/]{20,}={0,2}"),  # SPNEGO/GSS DER
)


def redact(text: str) -> str:
    """``text`` with every authentication token replaced by ``<redacted>``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: "".join(g or "" for g in m.groups()[:2]) + REDACTED, text)
    return text


class TokenFilter(logging.Filter):
    """Rewrites a record whose message carries an authentication token (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg = clean
            record.args = None
        return True


_FILTER = TokenFilter()


def install() -> TokenFilter:
    """Put the token filter on every logger in :data:`LOGGERS` (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
