"""The names of pyspnego's loggers (its package's and its private per-protocol modules'), on
which :mod:`toolkit.transport.redact` puts its token filter.

Apart from :mod:`toolkit.compat.spnego` so that naming them does not import pyspnego (and
``cryptography`` under it): the CLI's process installs the filter at start-up and never
authenticates to a host itself when worker processes do (a fifth of a second of CPU per run).
"""

from __future__ import annotations

#: pyspnego's loggers: the package's and its per-protocol (private) modules'.
LOGGERS: tuple[str, ...] = (
    "spnego",
    "spnego._ntlm",
    "spnego._negotiate",
    "spnego._gss",
    "spnego._sspi",
    "spnego._credssp",
    "spnego._kerberos",
    "spnego._context",
    "spnego.auth",
)
