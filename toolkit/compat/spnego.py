"""The private pieces of pyspnego psfleet uses (pyspnego is bounded in pyproject.toml).

``nt_hash``: the NT one-way function (MD4 of the UTF-16LE password, MS-NLMP 3.3.1). The lean
client hands pyspnego an :class:`spnego.NTLMHash` so the hash is derived once per process, not
in pure Python for every host's context; OpenSSL 3 builds of hashlib have no MD4, and
pyspnego's own MD4 lives in a private module. When that module moves, the function returns
None and the caller passes the password instead (slower, same result).

For the lab's acceptor side (:mod:`toolkit.lab.auth`, :mod:`toolkit.lab.kerberos`):
``lm_nt_hashes`` (pyspnego's LMOWFv1/NTOWFv1, for the NTLM user file it reads), and
``kerberos_acceptor`` / ``negotiate_acceptor`` / ``gssapi_protocols``: pyspnego has no public
way to hand an acceptor a GSSAPI credential or the inner contexts of its SPNEGO wrapper, so
they go through its private ``_gssapi_credential`` / ``_negotiate_contexts`` keywords (stable
from 0.1 through 0.12; tests/integration/kerberos fails loudly if an upgrade changes them).

``LOGGERS``: the names of pyspnego's per-protocol loggers (its private modules), on which
:mod:`toolkit.transport.redact` puts its token filter (kept in
:mod:`toolkit.compat.spnego_loggers`, which does not import pyspnego).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

import spnego
from spnego import ContextProxy
from spnego._context import GSSMech  # private: see the module docstring
from spnego._gss import GSSAPIProxy  # private: see the module docstring
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1  # private: see the module docstring

from toolkit.compat.spnego_loggers import LOGGERS as LOGGERS  # re-exported (the names moved there)


@functools.lru_cache(maxsize=256)
def nt_hash(password: str) -> str | None:
    """The NT hash of ``password`` as upper-case hex, or None when no MD4 is available."""
    data = password.encode("utf-16-le", errors="surrogatepass")
    try:
        digest = hashlib.new("md4", data).digest()
    except ValueError:
        try:
            from spnego._ntlm_raw.md4 import md4  # private: see the module docstring
        except ImportError:
            return None
        digest = md4(data)
    return base64.b16encode(digest).decode()


def lm_nt_hashes(password: str) -> tuple[bytes, bytes]:
    """The LM and NT one-way functions of ``password`` (MS-NLMP 3.3.1), as pyspnego's NTLM
    acceptor computes them from a user file."""
    return lmowfv1(password), ntowfv1(password)


def gssapi_protocols(options: spnego.NegotiateOptions) -> list[str]:
    """The protocols this interpreter's GSSAPI offers with ``options`` (e.g. "kerberos")."""
    return list(GSSAPIProxy.available_protocols(options))


def kerberos_acceptor(credential: Any, *, options: spnego.NegotiateOptions, **names: Any) -> ContextProxy:
    """A raw Kerberos acceptor context using an already acquired GSSAPI ``credential``
    (``names``: ``hostname``, ``service``)."""
    return spnego.server(protocol="kerberos", options=options, _gssapi_credential=credential, **names)


def negotiate_acceptor(
    kerberos: ContextProxy, ntlm: ContextProxy | None, *, options: spnego.NegotiateOptions, **names: Any
) -> ContextProxy:
    """A SPNEGO acceptor around the given inner Kerberos (and optional NTLM) contexts, marked
    as pyspnego's own SPNEGO wrapper marks its inner contexts."""
    kerberos._is_wrapped = True
    inner: dict[GSSMech, ContextProxy] = {GSSMech.kerberos: kerberos}
    if ntlm is not None:
        ntlm._is_wrapped = True
        inner[GSSMech.ntlm] = ntlm
    return spnego.server(protocol="negotiate", options=options, _negotiate_contexts=inner, **names)
