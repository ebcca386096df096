"""Kerberos for the lab's WinRM listener: the acceptor side, backed by a keytab.

A lab host accepts Kerberos the way a Windows WinRM listener does: the client sends
``Authorization: Negotiate <token>`` (or ``Kerberos <token>``), the server answers with the
AP-REP in ``WWW-Authenticate``, and from then on every body is wrapped with the session key
(``multipart/encrypted``, see :data:`ENCRYPTION_PROTOCOLS`).

The key material comes from a keytab given explicitly (GSSAPI's credential store), not from
the process-wide ``KRB5_KTNAME``, so one lab process can serve several hosts, each from its own
keytab. The acceptor accepts a ticket for *any* principal whose key is in that keytab, as a
Windows host accepts both ``HTTP/name`` and ``host/name``: give each lab host a keytab holding
only its own principals. Clock-skew allowance and the replay cache still come from the process's
krb5 configuration (``KRB5_CONFIG``, ``KRB5RCACHEDIR``).

Needs ``pyspnego[kerberos]`` (python-gssapi and pykrb5, built against MIT krb5); without it
:func:`kerberos_unavailable_reason` says why and the lab can still offer NTLM.

Caveat: pyspnego has no public way to hand an acceptor a credential; :mod:`toolkit.compat.spnego`
passes it through pyspnego's private keyword arguments (stable from 0.1 through 0.12). The
integration tests in ``tests/integration/kerberos`` fail loudly if a pyspnego upgrade changes that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import spnego
from spnego import ContextProxy

from toolkit.compat.spnego import gssapi_protocols, kerberos_acceptor, negotiate_acceptor
from toolkit.errors import PsfleetError

AcceptorProtocol = Literal["negotiate", "kerberos"]

#: HTTP auth scheme (as sent in ``Authorization``) -> the ``protocol=`` parameter of the
#: ``multipart/encrypted`` Content-Type that pypsrp uses for bodies after that scheme.
ENCRYPTION_PROTOCOLS: Final[dict[str, str]] = {
    "negotiate": "application/HTTP-SPNEGO-session-encrypted",
    "kerberos": "application/HTTP-Kerberos-session-encrypted",
}

#: Default services a lab host holds keys for: pypsrp's default SPN service is ``host``,
#: ``negotiate_service="HTTP"`` gives WinRM's own ``HTTP/name``; Windows accepts both.
DEFAULT_SERVICES: Final[tuple[str, ...]] = ("HTTP", "host")

_KERBEROS_OID: Final[str] = "1.2.840.113554.1.2.2"


class KerberosSetupError(PsfleetError, RuntimeError):
    """The lab cannot accept Kerberos: library missing, keytab unreadable or missing a key."""


def kerberos_unavailable_reason() -> str | None:
    """Why this interpreter cannot accept Kerberos, or None when it can."""
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError as exc:
        return f"pyspnego[kerberos] is not installed ({exc}): pip install 'pyspnego[kerberos]'"
    if "kerberos" not in gssapi_protocols(spnego.NegotiateOptions.wrapping_winrm):
        return "this GSSAPI library has no IOV wrapping, so WinRM message encryption is impossible"
    return None


@dataclass(frozen=True)
class KerberosAcceptorConfig:
    """Where one lab host's Kerberos keys are and which SPNs it must hold.

    ``hostname`` is the SPN host part clients ask for (``lab-01.psfleet.test``), not the
    127.0.0.x address they connect to. ``services`` are checked against the keytab when the
    acceptor is built, so a missing ``ktadd`` fails at lab start, not at a client's first login.
    """

    keytab: Path
    hostname: str
    services: tuple[str, ...] = DEFAULT_SERVICES

    def principals(self) -> list[str]:
        """The SPNs (without realm) this host must have keys for, e.g. ``HTTP/lab-01.psfleet.test``."""
        return [f"{service}/{self.hostname}" for service in self.services]


class KerberosAcceptor:
    """Builds pyspnego acceptor contexts for one lab host, one context per HTTP connection.

    The GSSAPI credential is acquired once (MIT's credential handle is internally locked, so
    sharing it between connection threads is safe); each context it builds is not thread-safe
    and belongs to one connection, exactly like the NTLM contexts the lab already uses.
    """

    def __init__(self, config: KerberosAcceptorConfig) -> None:
        reason = kerberos_unavailable_reason()
        if reason:
            raise KerberosSetupError(reason)
        self.config = config
        self._credential = _acquire_acceptor_credential(config)

    def new_context(
        self, protocol: AcceptorProtocol = "negotiate", *, allow_ntlm: bool = False
    ) -> ContextProxy:
        """A fresh acceptor context for one connection.

        ``protocol="negotiate"`` takes what pypsrp sends under the ``Negotiate`` scheme: raw
        Kerberos (``auth="kerberos"``) or SPNEGO (``auth="negotiate"``). ``allow_ntlm`` lets the
        same context fall back to NTLM (users from the file named by ``NTLM_USER_FILE``).
        ``protocol="kerberos"`` takes raw Kerberos only (the ``Kerberos`` scheme).

        After ``complete``, ``wrap_winrm``/``unwrap_winrm`` on the returned context give WinRM
        message encryption.
        """
        options = spnego.NegotiateOptions.wrapping_winrm
        common: dict[str, Any] = {"hostname": self.config.hostname, "service": self.config.services[0]}
        kerberos_context = kerberos_acceptor(self._credential, options=options, **common)
        if protocol == "kerberos":
            return kerberos_context
        ntlm_context = spnego.server(protocol="ntlm", options=options, **common) if allow_ntlm else None
        return negotiate_acceptor(kerberos_context, ntlm_context, options=options, **common)


@dataclass(frozen=True)
class KerberosLabConfig:
    """Which lab hosts accept Kerberos, with which keys and under which names.

    Picklable (plain paths and strings), so lab worker processes build their own acceptors.
    A host accepts Kerberos when it is named in ``hostnames`` or its spec says
    ``auth: kerberos``; its SPN host part is ``hostnames[name]``, else ``name.<domain>``
    (``domain`` defaults to the realm in lower case). Its keys come from ``keytabs[name]``,
    else ``keytab``: one keytab holding every host's keys is simplest, one per host (only its
    own ``HTTP/`` and ``host/`` keys) makes a ticket for another host fail as on Windows.

    ``client_service`` is what the fleet's inventory asks clients to use as
    ``negotiate_service``: ``HTTP`` (WinRM's own SPN) rather than pypsrp's default ``host``.
    """

    realm: str
    keytab: Path | None = None
    hostnames: Mapping[str, str] = field(default_factory=dict)
    keytabs: Mapping[str, Path] = field(default_factory=dict)
    domain: str | None = None
    services: tuple[str, ...] = DEFAULT_SERVICES
    client_service: str = "HTTP"

    def hostname_for(self, name: str) -> str:
        """The SPN host part for lab host ``name`` (``lab-01`` -> ``lab-01.psfleet.test``)."""
        return self.hostnames.get(name) or f"{name}.{self.domain or self.realm.lower()}"

    def acceptor_config(self, name: str) -> KerberosAcceptorConfig:
        keytab = self.keytabs.get(name) or self.keytab
        if keytab is None:
            raise KerberosSetupError(f"lab host {name} accepts Kerberos but no keytab is configured for it")
        return KerberosAcceptorConfig(
            keytab=Path(keytab), hostname=self.hostname_for(name), services=self.services
        )


def _acquire_acceptor_credential(config: KerberosAcceptorConfig) -> Any:
    import gssapi
    from gssapi.raw import GSSError

    keytab = config.keytab
    if not keytab.is_file():
        raise KerberosSetupError(f"keytab {keytab} does not exist")
    store: dict[bytes | str, bytes | str] = {"keytab": f"FILE:{keytab.resolve()}"}
    mech = gssapi.OID.from_int_seq(_KERBEROS_OID)
    for principal in config.principals():
        service, hostname = principal.split("/", 1)
        name = gssapi.Name(f"{service}@{hostname}", name_type=gssapi.NameType.hostbased_service)
        try:
            gssapi.Credentials(name=name, usage="accept", mechs=[mech], store=store)
        except GSSError as exc:
            raise KerberosSetupError(f"keytab {keytab} has no usable key for {principal}: {exc}") from exc
    # No name: accept a ticket for any principal in the keytab (HTTP/ and host/ alike).
    return gssapi.Credentials(usage="accept", mechs=[mech], store=store)


def encryption_protocol(auth_scheme: str) -> str:
    """The ``multipart/encrypted`` protocol for bodies after authenticating with ``auth_scheme``.

    pypsrp sends ``HTTP-Kerberos-session-encrypted`` only when the server's 401 offered
    ``Kerberos`` and not ``Negotiate``; otherwise ``HTTP-SPNEGO-session-encrypted``, even for
    ``auth="kerberos"``. The lab should answer with the same protocol the client used.
    """
    try:
        return ENCRYPTION_PROTOCOLS[auth_scheme.lower()]
    except KeyError:
        raise ValueError(f"no WinRM message encryption for auth scheme {auth_scheme!r}") from None
