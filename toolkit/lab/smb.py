"""The lab's SMB responder: each lab host answers an SMB2 or SMB1 NEGOTIATE and the first
SESSION_SETUP of an anonymous NTLM logon on its own address, as its Windows version and its
registry say a Windows SMB server would.

- Dialects: from 2.0.2 up to the highest the OS build speaks (2.0.2 before build 7600, 2.1
  on 7600/7601, 3.0 on 9200, 3.0.2 on 9600, 3.1.1 from 10240); the highest offered is chosen.
  SMB2 off (LanmanServer ``SMB2`` = 0) refuses every SMB2 NEGOTIATE.
- Signing: SIGNING_ENABLED always (SMB2 servers always sign when asked), SIGNING_REQUIRED from
  LanmanServer ``RequireSecuritySignature`` read live (a DWORD: non-zero is required;
  absent or another kind: the profile's default), as :mod:`toolkit.smb.compare` reads it.
- SMB1: accepted (NT LM 0.12) when LanmanServer ``SMB1`` is a non-zero DWORD, or absent on a
  build before 16299, the same rule as the lab's ``Get-SmbServerConfiguration``
  ``EnableSMB1Protocol``; otherwise an SMB1-only NEGOTIATE gets the connection closed, as
  Windows does. SMB1 signing bits come from ``EnableSecuritySignature`` /
  ``RequireSecuritySignature``.
- Who answered: the NTLM CHALLENGE names the host (NetBIOS name = host name upper-cased, at
  most 15 characters) in the lab's domain, with the OS version of its build.

Anything else (an AUTHENTICATE, a TREE_CONNECT, garbage) ends the connection: the lab models
what an unauthenticated probe sees, not a file server. Bounded like the probe: a message's
4-byte header is checked before its body is waited for (at most 64 KiB), a connection idle
for :data:`IDLE_TIMEOUT` is closed, a connection carries at most :data:`MAX_MESSAGES` messages, and a host
holds at most :data:`MAX_CONNECTIONS` connections at once. Listens on 127.x only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from toolkit.lab.host import SimHost
from toolkit.lab.profiles import SERVER_KEY
from toolkit.lab.registry import ValueKind, parse_path
from toolkit.smb.frames import (
    SMB1_DIALECT,
    SMB1_MAGIC,
    SMB1_SIGNATURES_ENABLED,
    SMB1_SIGNATURES_REQUIRED,
    SMB2_MAGIC,
    SMB2_NEGOTIATE,
    SMB2_SESSION_SETUP,
    STATUS_ACCESS_DENIED,
    STATUS_MORE_PROCESSING_REQUIRED,
    STATUS_NOT_SUPPORTED,
    FrameError,
    error_response,
    negotiate_request_dialects,
    negotiate_response,
    parse_smb2_header,
    session_setup_request_blob,
    session_setup_response,
    smb1_negotiate_response,
    smb1_request_dialects,
)
from toolkit.smb.ntlm import NTLMSSP, ServerIdentity, ntlm_challenge, spnego_challenge
from toolkit.smb.stream import MAX_MESSAGE

IDLE_TIMEOUT = 10.0
MAX_MESSAGES = 16
MAX_CONNECTIONS = 128
#: The lab fleet's domain, as its hosts name it in their NTLM CHALLENGE.
LAB_NETBIOS_DOMAIN = "LAB"
LAB_DNS_DOMAIN = "lab.psfleet.test"

_SMB1_BUILD_LIMIT = 16299
_SMB2_WILDCARD = 0x02FF


def default_port(addressing: str) -> int:
    """445 when each host has its own address and this process may bind it (root), else 0
    (an ephemeral port per host, written to the inventory as ``smb_port``)."""
    return 445 if addressing == "ip" and hasattr(os, "geteuid") and os.geteuid() == 0 else 0


def max_dialect(build: int) -> int:
    """The highest SMB2 dialect a Windows build's server speaks."""
    if build >= 10240:
        return 0x0311
    if build >= 9600:
        return 0x0302
    if build >= 9200:
        return 0x0300
    if build >= 7600:
        return 0x0210
    return 0x0202


def os_version(build: int) -> tuple[int, int]:
    """The (major, minor) NTLM VERSION a build reports."""
    if build >= 10240:
        return 10, 0
    if build >= 9600:
        return 6, 3
    if build >= 9200:
        return 6, 2
    if build >= 7600:
        return 6, 1
    return 6, 0


#: LanmanServer\Parameters, parsed once (a registry path is parsed on every lookup by name).
_SERVER_PATH = parse_path(SERVER_KEY)
_WATCHED = ("smb2", "requiresecuritysignature", "enablesecuritysignature", "smb1")


def _dwords(sim: SimHost) -> dict[str, int]:
    """The DWORD values among SMB2, RequireSecuritySignature, EnableSecuritySignature and
    SMB1 (lower-cased names), read live in one look at the key."""
    out: dict[str, int] = {}
    for value in sim.registry.values(_SERVER_PATH or SERVER_KEY):
        name = value.name.lower()
        if name in _WATCHED and value.kind is ValueKind.DWord and not isinstance(value.data, bool):
            out[name] = int(value.data)
    return out


@dataclass(frozen=True)
class SmbStance:
    """What one host's SMB server does right now (read from its registry on each connection)."""

    dialects: tuple[int, ...]
    #: RequireSecuritySignature: SMB2's SIGNING_REQUIRED and SMB1's SIGNATURES_REQUIRED alike.
    signing_required: bool
    smb1: bool
    smb1_signing_enabled: bool


def smb_stance(sim: SimHost) -> SmbStance:
    build = sim.profile.build
    highest = max_dialect(build)
    dwords = _dwords(sim)
    smb2 = dwords.get("smb2")
    dialects = () if smb2 == 0 else tuple(d for d in (0x0202, 0x0210, 0x0300, 0x0302, 0x0311) if d <= highest)
    require = dwords.get("requiresecuritysignature")
    enable = dwords.get("enablesecuritysignature")
    required = bool(require) if require is not None else bool(sim.profile.server_signing[1])
    enabled = bool(enable) if enable is not None else bool(sim.profile.server_signing[0])
    smb1 = dwords.get("smb1")
    return SmbStance(
        dialects=dialects,
        signing_required=required,
        smb1=bool(smb1) if smb1 is not None else build < _SMB1_BUILD_LIMIT,
        smb1_signing_enabled=enabled or required,
    )


def host_identity(sim: SimHost) -> ServerIdentity:
    name = sim.name
    major, minor = os_version(sim.profile.build)
    return ServerIdentity(
        netbios_computer=name.upper()[:15],
        netbios_domain=LAB_NETBIOS_DOMAIN,
        dns_computer=f"{name.lower()}.{LAB_DNS_DOMAIN}",
        dns_domain=LAB_DNS_DOMAIN,
        dns_tree=LAB_DNS_DOMAIN,
        os_major=major,
        os_minor=minor,
        os_build=sim.profile.build,
    )


def _filetime_now() -> int:
    return int((time.time() + 11_644_473_600) * 10_000_000)


class _Close(Exception):
    """End the connection (what Windows does for what the lab does not model)."""


def server_guid(sim: SimHost) -> bytes:
    """The host's SMB server GUID: the same on every answer (as a Windows server's)."""
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"{sim.name}.{LAB_DNS_DOMAIN}").bytes_le


def answer(sim: SimHost, message: bytes, *, guid: bytes | None = None) -> bytes:
    """The lab host's answer to one SMB message; raises _Close to end the connection.
    ``guid``: :func:`server_guid`, when the caller keeps it."""
    guid = guid or server_guid(sim)
    stance = smb_stance(sim)
    if message[:4] == SMB1_MAGIC:
        dialects = smb1_request_dialects(message)
        if stance.smb1 and SMB1_DIALECT in dialects:
            mode = 0x03
            mode |= SMB1_SIGNATURES_ENABLED if stance.smb1_signing_enabled else 0
            mode |= SMB1_SIGNATURES_REQUIRED if stance.signing_required else 0
            return smb1_negotiate_response(
                dialect_index=dialects.index(SMB1_DIALECT), security_mode=mode, server_guid=guid
            )
        if stance.dialects and any(d.startswith("SMB 2.") for d in dialects):
            # A multi-protocol NEGOTIATE: answer in SMB2 (MS-SMB2 3.3.5.3.1).
            chosen = _SMB2_WILDCARD if "SMB 2.???" in dialects and stance.dialects[-1] > 0x0202 else 0x0202
            return _negotiate(stance, chosen, guid, message_id=0)
        raise _Close
    if message[:4] != SMB2_MAGIC:
        raise _Close
    header = parse_smb2_header(message)
    if header.command == SMB2_NEGOTIATE:
        offered = set(negotiate_request_dialects(message))
        common = [d for d in stance.dialects if d in offered]
        if not common:
            if not stance.dialects:
                raise _Close
            return error_response(SMB2_NEGOTIATE, STATUS_NOT_SUPPORTED, message_id=header.message_id)
        return _negotiate(stance, common[-1], guid, message_id=header.message_id)
    if header.command == SMB2_SESSION_SETUP:
        blob = session_setup_request_blob(message)
        at = blob.find(NTLMSSP)
        if at >= 0 and blob[at + 8 : at + 12] == b"\x01\x00\x00\x00":
            challenge = ntlm_challenge(
                host_identity(sim), server_challenge=os.urandom(8), timestamp=_filetime_now()
            )
            return session_setup_response(
                spnego_challenge(challenge),
                status=STATUS_MORE_PROCESSING_REQUIRED,
                message_id=header.message_id,
                session_id=int.from_bytes(os.urandom(8), "little") | 1,
            )
        return error_response(SMB2_SESSION_SETUP, STATUS_ACCESS_DENIED, message_id=header.message_id)
    raise _Close


def _negotiate(stance: SmbStance, dialect: int, guid: bytes, *, message_id: int) -> bytes:
    if dialect >= 0x0300:
        capabilities = 0x2F  # DFS, LEASING, LARGE_MTU, MULTI_CHANNEL, DIRECTORY_LEASING
    elif dialect == 0x0202:
        capabilities = 0x01
    else:
        capabilities = 0x07
    return negotiate_response(
        dialect=dialect,
        security_mode=0x01 | (0x02 if stance.signing_required else 0),
        capabilities=capabilities,
        server_guid=guid,
        message_id=message_id,
        system_time=_filetime_now(),
    )


class SmbResponder:
    """The SMB listeners of a lab fleet: one per host, on the host's address.

    ``port`` 0 gives each host its own ephemeral port; a fixed port (445 in ``ip`` addressing,
    where each host has its own address) is shared by all, and a host whose address already
    has it bound falls back to an ephemeral port (``ports`` says which). Run on the lab's
    event loop.
    """

    def __init__(self, hosts: Sequence[tuple[SimHost, str]], *, port: int = 0) -> None:
        for _, address in hosts:
            if not ipaddress.ip_address(address).is_loopback:
                raise ValueError(f"the lab's SMB responder listens on loopback only, not {address}")
        self.hosts = list(hosts)
        self.port = port
        self.ports: list[int] = []
        self.connections = 0
        self._servers: list[asyncio.Server] = []

    async def start(self) -> list[int]:
        loop = asyncio.get_running_loop()
        for sim, address in self.hosts:
            factory = self._factory(sim)
            try:
                server = await loop.create_server(factory, address, self.port, reuse_address=True)
            except OSError:
                if not self.port:
                    raise
                # The fixed port is taken on this address (another fleet, a real smbd) or not
                # ours to bind: an ephemeral one, which the inventory's smb_port carries.
                server = await loop.create_server(factory, address, 0, reuse_address=True)
            self._servers.append(server)
            self.ports.append(int(server.sockets[0].getsockname()[1]))
        return self.ports

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()

    def _factory(self, sim: SimHost) -> Callable[[], asyncio.Protocol]:
        host = _HostState(sim, server_guid(sim))

        def factory() -> asyncio.Protocol:
            self.connections += 1
            return _SmbConnection(host)

        return factory


class _HostState:
    """What a host's connections share: the host, its server GUID, its open connections."""

    __slots__ = ("active", "guid", "sim")

    def __init__(self, sim: SimHost, guid: bytes) -> None:
        self.sim = sim
        self.guid = guid
        self.active = 0


class _SmbConnection(asyncio.Protocol):
    """One client connection: whole messages answered in order (no task, no stream objects:
    the lab serves a thousand probes a second on one core). Bounded as the module says: the
    header is checked before a body is waited for, at most one message and one read are
    buffered, the connection closes after :data:`MAX_MESSAGES` messages or
    :data:`IDLE_TIMEOUT` seconds without one."""

    __slots__ = ("buffer", "counted", "host", "idle", "last", "messages", "transport")

    def __init__(self, host: _HostState) -> None:
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.messages = 0
        self.counted = False
        self.idle: asyncio.TimerHandle | None = None
        self.last = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.host.active >= MAX_CONNECTIONS:
            transport.close()
            return
        self.host.active += 1
        self.counted = True
        loop = asyncio.get_running_loop()
        self.last = loop.time()
        self.idle = loop.call_at(self.last + IDLE_TIMEOUT, self._check_idle)

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        due = self.last + IDLE_TIMEOUT
        if loop.time() >= due:
            self.idle = None
            self._close()
        else:
            self.idle = loop.call_at(due, self._check_idle)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 4:
            length = int.from_bytes(buffer[1:4], "big")
            if buffer[0] != 0 or not 4 <= length <= MAX_MESSAGE:
                self._close()
                return
            if len(buffer) < 4 + length:
                break
            message = bytes(buffer[4 : 4 + length])
            del buffer[: 4 + length]
            try:
                reply = answer(self.host.sim, message, guid=self.host.guid)
            except (_Close, FrameError):
                self._close()
                return
            transport.write(len(reply).to_bytes(4, "big") + reply)
            self.messages += 1
            if self.messages >= MAX_MESSAGES:
                self._close()
                return
            self.last = asyncio.get_running_loop().time()
        if len(buffer) > 4 + MAX_MESSAGE:
            self._close()

    def eof_received(self) -> bool:
        return False

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        if self.counted:
            self.counted = False
            self.host.active -= 1
        self.buffer = bytearray()
