"""HTTP authentication and WinRM message encryption for lab connections.

Negotiate (SPNEGO-wrapped or raw NTLM, and Kerberos when a keytab is configured) goes through
pyspnego's acceptor; users come from the file named by ``NTLM_USER_FILE`` (docs/windows-facts.md#pyspnego-acceptor). Basic
is offered only on HTTPS, as Windows does with AllowUnencrypted=false. A context belongs to
one TCP connection: NTLM is connection-bound.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import struct
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spnego

from toolkit.compat.spnego import lm_nt_hashes
from toolkit.lab.host import LabUser
from toolkit.lab.kerberos import AcceptorProtocol, KerberosAcceptor, encryption_protocol

BOUNDARY = "Encrypted Boundary"

#: pyspnego's NTLM acceptor reads the user file named by the process-wide NTLM_USER_FILE on
#: every handshake. Each lab has its own file (two labs in one process may give the same user
#: different passwords), so the variable is pointed at the right file, under this lock, around
#: each acceptor call, and restored afterwards: a client in the same process (pyspnego's
#: Negotiate falls back to NTLM credentials from that file) must not log on with the lab's users.
_user_file_lock = threading.Lock()


def split_user(name: str) -> tuple[str, str]:
    """``DOMAIN\\user`` or ``user@domain`` -> (domain, user); domain may be ""."""
    if "\\" in name:
        domain, user = name.split("\\", 1)
        return domain, user
    if "@" in name:
        user, domain = name.split("@", 1)
        return domain, user
    return "", name


#: smbpasswd account flags of a normal user account, padded as Samba writes them (pyspnego
#: ignores the field).
_NORMAL_ACCOUNT = "[U          ]"


def _hash_line(domain: str, user: str, password: str) -> str:
    """An smbpasswd-format line (``DOMAIN\\USER:UID:LM:NT:FLAGS:LCT``): pyspnego reads the file
    on every handshake and would otherwise derive both hashes (DES and MD4 in Python) each
    time, a tenth of the lab's CPU under a 1,000-host audit."""
    lm, nt = (base64.b16encode(h).decode() for h in lm_nt_hashes(password))
    name = f"{domain}\\{user}" if domain else user
    return f"{name}:0:{lm}:{nt}:{_NORMAL_ACCOUNT}:LCT-00000000"


def write_user_file(users: Iterable[LabUser]) -> Path:
    """A 0600 NTLM credential file (one line per user, with its hashes) for ``users``."""
    entries: dict[tuple[str, str], str] = {}
    for u in users:
        domain, user = split_user(u.name)
        entries[(domain.upper(), user.lower())] = _hash_line(domain, user, u.password)
        if not domain:
            # Clients that send a domain (e.g. the lab's NetBIOS name) still match.
            entries[("LAB", user.lower())] = _hash_line("LAB", user, u.password)
    fd, name = tempfile.mkstemp(prefix="psfleet-lab-users-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(entries.values()) + "\n")
    return Path(name)


@dataclass
class AuthResult:
    status: int  # 200 = authenticated (process the body), 401 = challenge/refuse
    headers: list[tuple[str, str]]
    user: LabUser | None = None


class Authenticator:
    """Per-lab authentication policy; per-connection state lives in :class:`ConnAuth`."""

    def __init__(self, users: Iterable[LabUser]) -> None:
        self.users = list(users)
        self.user_file = write_user_file(self.users)
        #: Logons refused (wrong password, unknown user, auth_fail fault), as Windows counts
        #: them towards an account lockout; tests of the fan-out's lockout guard read it.
        self.failed_logons = 0
        weakref.finalize(self, _unlink, self.user_file)

    def lookup(self, principal: str) -> LabUser | None:
        domain, user = split_user(principal)
        for u in self.users:
            udomain, uname = split_user(u.name)
            if uname.lower() == user.lower() and (
                not udomain or not domain or udomain.upper() == domain.upper()
            ):
                return u
        return None

    def lookup_kerberos(self, principal: str) -> LabUser | None:
        """``user@REALM`` (already vouched for by the host's keytab) -> the lab user of the same
        short name, whatever domain the lab user is written with (``LAB\\admin`` or ``admin``)."""
        _, user = split_user(principal)
        return next((u for u in self.users if split_user(u.name)[1].lower() == user.lower()), None)

    def check_basic(self, token: str) -> LabUser | None:
        try:
            data = base64.b64decode(token, validate=True)
        except ValueError:
            return None
        # RFC 7617 leaves the charset open: requests (pypsrp) sends Latin-1, Windows decodes
        # with the system code page; accept UTF-8 and Latin-1 so non-ASCII passwords work.
        for encoding in ("utf-8", "latin-1"):
            try:
                name, _, password = data.decode(encoding).partition(":")
            except UnicodeDecodeError:
                continue
            user = self.lookup(name)
            if user is not None and user.password == password:
                return user
        return None


class ConnAuth:
    """Authentication state of one TCP connection."""

    def __init__(
        self,
        auth: Authenticator,
        *,
        https: bool,
        methods: tuple[str, ...],
        fail_all: bool,
        kerberos: KerberosAcceptor | None = None,
    ) -> None:
        self.auth = auth
        self.kerberos = kerberos  # this host's keytab-backed acceptor, when it accepts Kerberos
        self.https = https
        self.methods = methods  # subset of negotiate, ntlm, kerberos, basic
        self.fail_all = fail_all
        self.ctx: Any = None
        self.user: LabUser | None = None
        self.encrypt = False
        self.protocol = encryption_protocol("negotiate")

    def challenge_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        if any(m in self.methods for m in ("negotiate", "ntlm", "kerberos")):
            headers.append(("WWW-Authenticate", "Negotiate"))
            if self.kerberos is not None:
                headers.append(("WWW-Authenticate", "Kerberos"))
        if "basic" in self.methods and self.https:
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return headers

    def handle(self, authorization: str | None) -> AuthResult:
        """Process an Authorization header. 200 means the request body may be processed."""
        if not authorization:
            if self.user is not None:
                return AuthResult(200, [], self.user)
            return AuthResult(401, self.challenge_headers())
        scheme, _, token = authorization.strip().partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic" and "basic" in self.methods and self.https:
            user = None if self.fail_all else self.auth.check_basic(token.strip())
            if user is None:
                self.auth.failed_logons += 1
                return AuthResult(401, self.challenge_headers())
            self.user, self.encrypt = user, False
            return AuthResult(200, [], user)
        if scheme_l in ("negotiate", "kerberos") and any(
            m in self.methods for m in ("negotiate", "ntlm", "kerberos")
        ):
            return self._negotiate(scheme, token.strip())
        return AuthResult(401, self.challenge_headers())

    def _negotiate(self, scheme: str, token: str) -> AuthResult:
        try:
            in_token = base64.b64decode(token, validate=True)
        except ValueError:
            return AuthResult(401, self.challenge_headers())
        if self.ctx is None or self.ctx.complete:
            protocol: AcceptorProtocol = "kerberos" if scheme.lower() == "kerberos" else "negotiate"
            with self._user_file():
                if self.kerberos is not None:
                    self.ctx = self.kerberos.new_context(protocol, allow_ntlm="ntlm" in self.methods)
                else:
                    self.ctx = spnego.server(
                        protocol=protocol, options=spnego.NegotiateOptions.wrapping_winrm
                    )
            self.user = None
        try:
            with self._user_file():
                out = self.ctx.step(in_token)
        except Exception:  # any acceptor failure is a failed logon, as on Windows
            self.ctx = None
            self.auth.failed_logons += 1
            return AuthResult(401, self.challenge_headers())
        headers = [("WWW-Authenticate", f"{scheme} {base64.b64encode(out).decode()}")] if out else []
        if not self.ctx.complete:
            return AuthResult(401, headers)
        principal = str(getattr(self.ctx, "client_principal", "") or "")
        kerberos = getattr(self.ctx, "negotiated_protocol", None) == "kerberos"
        lookup = self.auth.lookup_kerberos if kerberos else self.auth.lookup
        user = None if self.fail_all else lookup(principal)
        if user is None:
            self.ctx = None
            self.auth.failed_logons += 1
            return AuthResult(401, self.challenge_headers())
        self.user = user
        self.encrypt = not self.https
        self.protocol = encryption_protocol(scheme)
        return AuthResult(200, headers, user)

    @contextlib.contextmanager
    def _user_file(self) -> Iterator[None]:
        with _user_file_lock:
            previous = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = str(self.auth.user_file)
            try:
                yield
            finally:
                if previous is None:
                    del os.environ["NTLM_USER_FILE"]
                else:
                    os.environ["NTLM_USER_FILE"] = previous

    # -- message encryption ---------------------------------------------------------------
    def unwrap(self, body: bytes, content_type: str) -> bytes:
        """Decrypt a multipart/encrypted body. Raises ValueError on anything malformed."""
        if self.ctx is None:
            raise ValueError("encrypted message on a connection that is not authenticated")
        m = re.search(r'boundary="?([^";]+)"?', content_type)
        if not m:
            raise ValueError("multipart message without a boundary")
        boundary = m.group(1).encode()
        parts = [p for p in re.split(rb"--\s*" + re.escape(boundary) + rb"\r\n", body) if p]
        out = b""
        for i in range(0, len(parts) - 1, 2):
            header, payload = parts[i].strip(), parts[i + 1]
            if b"Length=" not in header:
                raise ValueError("multipart header without Length")
            expected = int(header.split(b"Length=")[1].split(b"\r\n")[0])
            payload = re.sub(rb"--\s*" + re.escape(boundary) + rb"--\r\n$", b"", payload)
            payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"")
            if len(payload) < 4:
                raise ValueError("encrypted payload too short")
            hlen = struct.unpack("<i", payload[:4])[0]
            if hlen < 0 or hlen > len(payload) - 4:
                raise ValueError("bad encrypted header length")
            data = self.ctx.unwrap_winrm(payload[4 : 4 + hlen], payload[4 + hlen :])
            if len(data) != expected:
                raise ValueError("decrypted length does not match")
            out += data
        if not parts or len(parts) % 2:
            raise ValueError("malformed multipart/encrypted body")
        return out

    def wrap(self, data: bytes) -> tuple[str, bytes]:
        header, wrapped, padding = self.ctx.wrap_winrm(data)
        length = len(data) + padding
        head = (
            f"--{BOUNDARY}\r\n\tContent-Type: {self.protocol}\r\n"
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={length}\r\n"
            f"--{BOUNDARY}\r\n\tContent-Type: application/octet-stream\r\n"
        ).encode()
        body = head + struct.pack("<i", len(header)) + header + wrapped + f"--{BOUNDARY}--\r\n".encode()
        ctype = f'multipart/encrypted;protocol="{self.protocol}";boundary="{BOUNDARY}"'
        return ctype, body


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
