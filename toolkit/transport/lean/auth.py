"""Authentication for the lean client: which mechanism, its pyspnego context, and the checks
psfleet makes on what the server sends before answering it.

The auth matrix (``transport.auth`` x ``scheme``):

- ``negotiate`` (the default), ``kerberos``, ``ntlm``: over HTTP with WinRM message encryption
  (pyspnego's ``wrap_winrm``/``unwrap_winrm``), over HTTPS with TLS only;
- ``basic``: HTTPS only.

The Negotiate rule: Kerberos is tried only when the ticket cache holds a usable ticket
(:func:`kerberos_ticket`); otherwise the lean client goes straight to NTLM. Asked for
Negotiate with a username and a password but no ticket, pyspnego's Negotiate first asks GSSAPI
for a Kerberos credential *from the password*: an AS exchange with the KDC of the user's realm
(or of krb5.conf's ``default_realm``; Debian's default file names ATHENA.MIT.EDU), which on an
unreachable realm waits out krb5's KDC timeouts (about 5 s per host) before falling back to
NTLM. Windows' own client does not do that either: without a TGT it uses NTLM. With a ticket,
Negotiate offers Kerberos from the cache and keeps NTLM as its fallback (when a password is
known); the ticket is looked up once per principal and process every minute.
"""

from __future__ import annotations

import base64
import logging
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

import spnego

from toolkit.compat.spnego import nt_hash
from toolkit.errors import NTLMDowngradeRefused

log = logging.getLogger(__name__)

#: Header scheme and the multipart ``protocol`` of encrypted messages, per mechanism.
SCHEMES = {"negotiate": "Negotiate", "ntlm": "Negotiate", "kerberos": "Kerberos"}
ENCRYPTION_PROTOCOLS = {
    "Negotiate": "application/HTTP-SPNEGO-session-encrypted",
    "Kerberos": "application/HTTP-Kerberos-session-encrypted",
}

# MS-NLMP 2.2.2.5 NEGOTIATE flags.
NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NTLMSSP_NEGOTIATE_128 = 0x20000000
NTLM_SIGNATURE = b"NTLMSSP\x00"
NTLM_CHALLENGE = 2

_TICKET_TTL = 60.0
_ticket_lock = threading.Lock()
_tickets: dict[str, tuple[float, bool]] = {}


def _gss_ticket(principal: str | None) -> bool:
    try:
        import gssapi
    except ImportError:  # pyspnego[kerberos] not installed: no Kerberos at all
        return False
    try:
        name = gssapi.Name(principal, gssapi.NameType.user) if principal else None
        creds = gssapi.Credentials(name=name, usage="initiate")
        return bool(creds.lifetime and creds.lifetime > 0)
    except Exception:  # no cache, no ticket for that principal, expired: all mean "none"
        return False


def kerberos_ticket(principal: str | None) -> bool:
    """Whether the Kerberos ticket cache holds a usable ticket for ``principal`` (the cache's
    own principal when None). Reads the cache only (no KDC traffic); cached for a minute."""
    key = principal or ""
    now = time.monotonic()
    with _ticket_lock:
        hit = _tickets.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    found = _gss_ticket(principal if principal and "@" in principal else None)
    with _ticket_lock:
        _tickets[key] = (now + _TICKET_TTL, found)
    return found


def forget_tickets() -> None:
    """Drop the ticket look-ups (after kinit/kdestroy in the same process, e.g. in tests)."""
    with _ticket_lock:
        _tickets.clear()


def mechanism(auth: str, username: str | None, password: str | None) -> str:
    """The pyspnego protocol for ``auth``: ``negotiate`` only when a ticket is there (see the
    module docstring), ``ntlm`` for Negotiate without one, else ``auth`` itself."""
    if auth != "negotiate":
        return auth
    if kerberos_ticket(username):
        return "negotiate"
    if username and password is not None:
        return "ntlm"
    return "negotiate"  # no ticket and no password: let Kerberos say why it cannot go on


def _ntlm_credential(username: str, password: str) -> Any:
    hashed = nt_hash(password)
    if hashed is None:
        return spnego.Password(username=username, password=password)
    return spnego.NTLMHash(username=username, nt_hash=hashed)


def client_context(
    protocol: str,
    username: str | None,
    password: str | None,
    *,
    hostname: str,
    service: str,
    channel_bindings: Any = None,
    encrypt: bool = True,
) -> Any:
    """A pyspnego client context for ``protocol`` (the result of :func:`mechanism`)."""
    options = spnego.NegotiateOptions.wrapping_winrm if encrypt else spnego.NegotiateOptions.none
    credentials: Any
    if protocol == "ntlm":
        if not username or password is None:
            raise ValueError("NTLM needs a username and a password")
        credentials = _ntlm_credential(username, password)
    elif protocol == "negotiate" and username and password is not None:
        # NTLM's credential first: pyspnego drops a credential whose protocols an earlier one
        # covers, and a CredentialCache covers NTLM too (from NTLM_USER_FILE), which left a host
        # without Kerberos (no SPN in the KDC) with no NTLM fallback. Kerberos still goes first.
        credentials = [_ntlm_credential(username, password), spnego.CredentialCache(username=username)]
    elif protocol in ("negotiate", "kerberos") and password is None:
        credentials = spnego.CredentialCache(username=username) if username else None
    else:
        credentials = spnego.Password(username=username or "", password=password or "")
    return spnego.client(
        credentials,
        hostname=hostname,
        service=service,
        protocol=protocol,
        options=options,
        channel_bindings=channel_bindings,
    )


# -- NTLM challenge check (MS-NLMP 2.2.1.2, 2.2.2.5) -------------------------------------------
def _der(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at ``offset``."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated DER value")
    return tag, offset, offset + length


def ntlm_message(token: bytes) -> bytes | None:
    """The raw NTLM message in ``token``: the token itself, or the responseToken of a SPNEGO
    NegTokenResp (RFC 4178 4.2.2); None when it carries no NTLM message (e.g. Kerberos)."""
    if token.startswith(NTLM_SIGNATURE):
        return token
    try:
        tag, start, end = _der(token, 0)
        if tag != 0xA1:  # NegTokenResp
            return None
        tag, start, end = _der(token, start)
        if tag != 0x30:
            return None
        offset = start
        while offset < end:
            tag, vstart, vend = _der(token, offset)
            if tag == 0xA2:  # [2] responseToken OCTET STRING
                inner, istart, iend = _der(token, vstart)
                if inner != 0x04:
                    return None
                blob = token[istart:iend]
                return blob if blob.startswith(NTLM_SIGNATURE) else None
            offset = vend
    except ValueError:
        return None
    return None


def check_ntlm_challenge(token: bytes) -> None:
    """Refuse an NTLM CHALLENGE without extended session security or 128-bit keys before the
    AUTHENTICATE is computed: a weakened challenge (a downgrade by a host or a device on the
    path) would expose the account's response to offline cracking."""
    message = ntlm_message(token)
    if message is None:
        return
    if len(message) < 24:
        raise NTLMDowngradeRefused("truncated NTLM CHALLENGE")
    (mtype,) = struct.unpack_from("<I", message, 8)
    if mtype != NTLM_CHALLENGE:
        return
    (flags,) = struct.unpack_from("<I", message, 20)
    missing = []
    if not flags & NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY:
        missing.append("extended session security")
    if not flags & NTLMSSP_NEGOTIATE_128:
        missing.append("128-bit keys")
    if missing:
        raise NTLMDowngradeRefused(f"the NTLM CHALLENGE lacks {' and '.join(missing)}")


@dataclass(frozen=True)
class Basic:
    """HTTP Basic (HTTPS only): the header, built once per connection."""

    header: str

    @classmethod
    def of(cls, username: str, password: str) -> Basic:
        raw = f"{username}:{password}".encode()
        return cls(f"Basic {base64.b64encode(raw).decode()}")
