"""Inventory data: hosts with their transport, credentials source and desired state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Scheme = Literal["http", "https"]
AuthKind = Literal["negotiate", "ntlm", "kerberos", "credssp", "basic", "certificate"]
SigningPolicy = Literal["required", "any"]
NegotiatePolicy = Literal["required", "disabled", "any"]

AUTH_KINDS: tuple[str, ...] = ("negotiate", "ntlm", "kerberos", "credssp", "basic", "certificate")
#: Which WinRM client serves a host (toolkit/transport/select.py): ``auto`` (the lean client
#: where it speaks the host's settings, pypsrp otherwise and after a protocol failure).
TransportKind = Literal["auto", "lean", "pypsrp"]
TRANSPORT_KINDS: tuple[str, ...] = ("auto", "lean", "pypsrp")


@dataclass(frozen=True)
class Policy:
    """Desired state. The default is the secure baseline."""

    client_signing: SigningPolicy = "required"
    server_signing: SigningPolicy = "required"
    secure_negotiate: NegotiatePolicy = "required"
    #: Desired state of every other baseline check, by check id (docs/baselines.md).
    checks: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PasswordSource:
    """Where a password comes from; never the password itself (except ``inventory``).

    kind ``env``: ``ref`` is an environment variable name; ``keyring``: ``ref`` is the keyring
    service name (the username is the keyring user); ``prompt``: ask on the terminal once per
    (username); ``file``: ``ref`` is a file readable only by its owner (mode 0600) holding the
    password, for labs and mounted secrets; ``inventory``: an Ansible ``ansible_password``
    (plain or vaulted), ``ref`` is where it was written (``file:line``) and ``secret`` the
    password, never shown by ``repr()`` nor compared; ``none``: no password (Kerberos ticket,
    certificate).
    """

    kind: Literal["env", "keyring", "prompt", "file", "inventory", "none"] = "none"
    ref: str = ""
    secret: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Transport:
    scheme: Scheme = "http"
    port: int | None = None
    auth: AuthKind = "negotiate"
    ca_file: str | None = None
    cert_validation: bool = True
    #: Allow Basic/certificate auth over plain HTTP (refused otherwise).
    allow_unencrypted: bool = False
    connection_timeout: float = 30.0
    operation_timeout: float = 20.0
    read_timeout: float = 30.0
    path: str = "wsman"
    certificate_pem: str | None = None
    certificate_key_pem: str | None = None
    negotiate_service: str = "host"
    negotiate_delegate: bool = False
    negotiate_hostname_override: str | None = None
    #: The WinRM client: auto, lean or pypsrp (``--transport`` overrides it).
    transport: TransportKind = "auto"
    #: The largest HTTP response read from the host, in bytes (a longer one: protocol_error).
    max_response: int = 4 * 1024 * 1024
    #: The local address connections to the host leave from (a site worker's own 127.x, a
    #: multi-homed jump host's inside interface); None: the system's choice.
    source_address: str | None = None

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 5986 if self.scheme == "https" else 5985


@dataclass(frozen=True)
class SourceRef:
    file: str
    line: int | None = None


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    transport: Transport = field(default_factory=Transport)
    policy: Policy = field(default_factory=Policy)
    username: str | None = None
    password: PasswordSource = field(default_factory=PasswordSource)
    groups: tuple[str, ...] = ()
    smb_port: int = 445
    source: SourceRef | None = None
    #: The site whose engine worker runs this host (``--engine celery``); None: the controller.
    site: str | None = None
    #: Baselines judged on this host (shipped names or absolute file paths); () = the
    #: default, smb-validate-negotiate (``--baseline`` overrides it).
    baselines: tuple[str, ...] = ()
    #: Any other variables, kept for Ansible round trips and --retry-file.
    vars: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[Host, ...]
    groups: Mapping[str, tuple[str, ...]]  # group name -> host names (children flattened)
    source: str
    #: Ansible inventories: every group's hosts (skipped ones included) in Ansible's order,
    #: so that ``--limit group[0]`` picks what Ansible picks. None for native inventories.
    ansible_groups: Mapping[str, tuple[str, ...]] | None = None

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)
