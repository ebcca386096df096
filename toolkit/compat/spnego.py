"""The one private piece of pyspnego psfleet uses (pyspnego is bounded in pyproject.toml).

``nt_hash``: the NT one-way function (MD4 of the UTF-16LE password, MS-NLMP 3.3.1). The lean
client hands pyspnego an :class:`spnego.NTLMHash` so the hash is derived once per process, not
in pure Python for every host's context; OpenSSL 3 builds of hashlib have no MD4, and
pyspnego's own MD4 lives in a private module. When that module moves, the function returns
None and the caller passes the password instead (slower, same result).
"""

from __future__ import annotations

import base64
import functools
import hashlib


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
