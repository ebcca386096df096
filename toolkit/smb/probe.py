"""What a server does on the wire, unauthenticated: SMB2 NEGOTIATE (all dialects, then one per
dialect), the NTLM CHALLENGE of an anonymous session setup (who answered), and an SMB1
NEGOTIATE offering only NT LM 0.12 (does the server still accept SMB1).

The registry says what a host is configured to do; this says what its SMB server answers.
Like nmap's smb2-security-mode and smb-protocols and NetExec's banner, it sees only the server
side and needs no credentials. The messages are built and parsed in :mod:`toolkit.smb.frames`
and :mod:`toolkit.smb.ntlm`, and read through :class:`toolkit.smb.stream.SmbStream`, which
checks each message's 4-byte header and caps its size before reading: what a host sends
never decides how much memory the probe uses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.results import ErrorKind, HostError
from toolkit.smb.frames import (
    STATUS_MORE_PROCESSING_REQUIRED,
    FrameError,
    NegotiateRefused,
    Smb2Negotiate,
    negotiate_request,
    parse_negotiate_response,
    parse_session_setup_response,
    parse_smb1_negotiate_response,
    session_setup_request,
    smb1_negotiate_request,
)
from toolkit.smb.ntlm import ChallengeError, ServerIdentity, ntlm_negotiate, parse_challenge, spnego_init
from toolkit.smb.stream import SmbStream, StreamError
from toolkit.smb.wire import (
    ALL_DIALECTS,
    SIGNING_ENABLED,
    SIGNING_REQUIRED,
    capability_names,
    dialect_name,
    dialect_value,
    signing_text,
    smb1_signing_text,
)

#: Time a caller inside the fan-out keeps back from the host's deadline when it sizes a probe's
#: ``timeout``, so the worker returns before the fan-out gives up on the host.
DEADLINE_MARGIN = 0.25


@dataclass(frozen=True)
class NegotiateInfo:
    """The four fields validate negotiate protects (MS-SMB2 2.2.32.6), as one side saw them."""

    dialect: str | None
    capabilities: int
    security_mode: int
    server_guid: str

    @property
    def signing_enabled(self) -> bool:
        return bool(self.security_mode & SIGNING_ENABLED)

    @property
    def signing_required(self) -> bool:
        return bool(self.security_mode & SIGNING_REQUIRED)

    @classmethod
    def from_response(cls, response: Smb2Negotiate) -> NegotiateInfo:
        return cls(
            dialect_name(response.dialect),
            response.capabilities,
            response.security_mode,
            response.server_guid,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "capabilities": self.capabilities,
            "capability_names": list(capability_names(self.capabilities)),
            "security_mode": self.security_mode,
            "server_guid": self.server_guid,
        }


@dataclass(frozen=True)
class DialectSigning:
    """The server's answer to a NEGOTIATE offering only ``dialect``."""

    dialect: str
    supported: bool
    signing_enabled: bool | None = None
    signing_required: bool | None = None
    #: Why the dialect is not reported as supported (error status, time budget used...).
    note: str = ""

    @property
    def text(self) -> str:
        if self.supported and self.signing_enabled is not None and self.signing_required is not None:
            return signing_text(enabled=self.signing_enabled, required=self.signing_required)
        return self.note or "not supported"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "supported": self.supported,
            "signing_enabled": self.signing_enabled,
            "signing_required": self.signing_required,
            "text": self.text,
        }


@dataclass(frozen=True)
class Smb1Support:
    """The server's answer to an SMB1 NEGOTIATE offering only NT LM 0.12."""

    #: True: the server chose NT LM 0.12. False: it refused (no dialect chosen, an error
    #: status, an SMB2 answer or a closed connection, as Windows does with SMB1 off). None:
    #: not known (not probed, timeout).
    accepted: bool | None
    signing_enabled: bool | None = None
    signing_required: bool | None = None
    note: str = ""

    @property
    def text(self) -> str:
        """nmap smb-protocols' line for SMB1, with smb-security-mode's message_signing words."""
        if self.accepted:
            words = smb1_signing_text(enabled=self.signing_enabled, required=self.signing_required)
            return f"NT LM 0.12 (SMBv1) [dangerous, but default]; message_signing: {words}"
        if self.accepted is False:
            return "SMB1 not accepted"
        return self.note or "not probed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "signing_enabled": self.signing_enabled,
            "signing_required": self.signing_required,
            "text": self.text,
            "note": self.note,
        }


@dataclass(frozen=True)
class SmbProbeResult:
    """One server's answers. ``error`` set means the first NEGOTIATE failed and nothing else is
    reliable; failures of the later steps are reported in their own fields."""

    address: str
    port: int
    #: The dialects psfleet offered in its first NEGOTIATE (what the client sent, not what the
    #: server accepts: see ``server_dialects``).
    dialects_offered_by_psfleet: tuple[str, ...] = ()
    #: What the client saw in the answer to that NEGOTIATE (the dialect the server chose...).
    negotiated: NegotiateInfo | None = None
    #: One NEGOTIATE per dialect, each offering that dialect alone.
    per_dialect: tuple[DialectSigning, ...] = ()
    #: Who answered: the NTLM CHALLENGE of an anonymous session setup (None if none came).
    identity: ServerIdentity | None = None
    #: Why ``identity`` is missing (empty when it is there, or when not asked for).
    identity_note: str = ""
    #: The SMB1 NEGOTIATE (None when not asked for).
    smb1: Smb1Support | None = None
    error: HostError | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.negotiated is not None

    @property
    def dialect(self) -> str | None:
        """The dialect the server chose when offered every dialect."""
        return self.negotiated.dialect if self.negotiated else None

    @property
    def server_dialects(self) -> tuple[str, ...] | None:
        """The dialects the server accepted when offered alone (None without per-dialect probes)."""
        if not self.per_dialect:
            return None
        return tuple(d.dialect for d in self.per_dialect if d.supported)

    @property
    def signing_enabled(self) -> bool | None:
        return self.negotiated.signing_enabled if self.negotiated else None

    @property
    def signing_required(self) -> bool | None:
        return self.negotiated.signing_required if self.negotiated else None

    @property
    def signing_text(self) -> str | None:
        """nmap smb2-security-mode's line for the dialect the server chose."""
        if self.negotiated is None:
            return None
        return signing_text(
            enabled=self.negotiated.signing_enabled, required=self.negotiated.signing_required
        )

    @property
    def relay_target(self) -> bool:
        """A host an NTLM relay can target: it answered, and signing is not required on the
        dialect it chose, on some dialect it accepts, or on SMB1."""
        if not self.ok:
            return False
        if self.signing_required is False:
            return True
        if any(d.supported and d.signing_required is False for d in self.per_dialect):
            return True
        return bool(self.smb1 and self.smb1.accepted and self.smb1.signing_required is False)

    def to_dict(self) -> dict[str, Any]:
        n = self.negotiated
        server_dialects = self.server_dialects
        return {
            "address": self.address,
            "port": self.port,
            "dialects_offered_by_psfleet": list(self.dialects_offered_by_psfleet),
            "dialect": self.dialect,
            "server_dialects": list(server_dialects) if server_dialects is not None else None,
            "signing_enabled": self.signing_enabled,
            "signing_required": self.signing_required,
            "signing": self.signing_text,
            "security_mode": n.security_mode if n else None,
            "server_guid": n.server_guid if n else None,
            "capabilities": n.capabilities if n else None,
            "capability_names": list(capability_names(n.capabilities)) if n else [],
            "per_dialect": [d.to_dict() for d in self.per_dialect],
            "smb1_accepted": self.smb1.accepted if self.smb1 else None,
            "smb1": self.smb1.to_dict() if self.smb1 else None,
            "identity": self.identity.to_dict() if self.identity else None,
            "identity_note": self.identity_note,
            "relay_target": self.relay_target,
            "error": self.error.to_dict() if self.error else None,
            "duration_s": round(self.duration_s, 3),
        }


IDENTIFY_BLOB = spnego_init(ntlm_negotiate())


def identity_from(message: bytes) -> tuple[ServerIdentity | None, str]:
    """Who answered, from the SESSION_SETUP answer to the anonymous NTLM NEGOTIATE."""
    try:
        status, answer = parse_session_setup_response(message)
    except FrameError as exc:
        return None, f"session setup: {exc}"
    if status != STATUS_MORE_PROCESSING_REQUIRED:
        return None, f"session setup: the server answered status 0x{status:08x} instead of an NTLM challenge"
    try:
        return parse_challenge(answer), ""
    except ChallengeError as exc:
        return None, f"session setup: {exc}"


def identity_failure(exc: StreamError) -> tuple[ServerIdentity | None, str]:
    return None, f"session setup: {exc.error.kind.value}: {exc.error.message}"


def identify_deadline(deadline: float, now: float) -> float:
    """A server that answers the NEGOTIATE but stalls the session setup may use half of what
    is left, so the per-dialect and SMB1 NEGOTIATEs still get their turn."""
    return min(deadline, now + (deadline - now) / 2)


def _identify(stream: SmbStream, dialect: int) -> tuple[ServerIdentity | None, str]:
    """Send the first SESSION_SETUP of an anonymous NTLM logon and read the CHALLENGE."""
    try:
        message = stream.exchange(session_setup_request(IDENTIFY_BLOB, dialect=dialect))
    except StreamError as exc:
        return identity_failure(exc)
    return identity_from(message)


def first_failure(target: str, exc: StreamError | FrameError) -> HostError:
    """Why the first NEGOTIATE (every dialect offered) got no usable answer: the host's error."""
    if isinstance(exc, StreamError):
        return exc.error
    return HostError(ErrorKind.PROTOCOL_ERROR, f"{target}: {exc}")


def not_probed(timeout: float) -> str:
    return f"not probed: {timeout:g}s budget used"


def dialect_answer(name: str, response: Smb2Negotiate) -> DialectSigning:
    """The answer to a NEGOTIATE offering only ``name``."""
    info = NegotiateInfo.from_response(response)
    if info.dialect != name:
        return DialectSigning(name, supported=False, note=f"server answered with dialect {info.dialect}")
    return DialectSigning(name, True, info.signing_enabled, info.signing_required)


def dialect_failure(name: str, exc: StreamError | FrameError) -> DialectSigning:
    """A NEGOTIATE offering only ``name`` that got no answer (refused, closed, garbage...)."""
    if isinstance(exc, NegotiateRefused):
        return DialectSigning(name, supported=False, note="not supported")
    if isinstance(exc, FrameError):
        return DialectSigning(name, supported=False, note=f"protocol_error: {exc}")
    if exc.error.kind is ErrorKind.PROTOCOL_ERROR and "closed" in exc.error.message:
        return DialectSigning(name, supported=False, note="not supported (connection closed)")
    return DialectSigning(name, supported=False, note=f"{exc.error.kind.value}: {exc.error.message}")


def smb1_answer(message: bytes) -> Smb1Support:
    """The answer to the SMB1 NEGOTIATE offering only NT LM 0.12."""
    try:
        answer = parse_smb1_negotiate_response(message)
    except FrameError as exc:
        return Smb1Support(False, note=str(exc))
    if answer.dialect_index != 0:
        note = "no dialect chosen" if answer.status == 0 else f"status 0x{answer.status:08x}"
        return Smb1Support(False, note=note)
    return Smb1Support(True, answer.signing_enabled, answer.signing_required)


def smb1_failure(exc: StreamError) -> Smb1Support:
    if exc.error.kind in (ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE):
        return Smb1Support(None, note=f"{exc.error.kind.value}: {exc.error.message}")
    # Windows with SMB1 off resets or closes the connection on an SMB1-only NEGOTIATE.
    return Smb1Support(False, note=exc.error.message)


def _negotiate(
    address: str, port: int, dialects: tuple[int, ...], *, deadline: float, identify: bool
) -> tuple[Smb2Negotiate, ServerIdentity | None, str]:
    """One connection: NEGOTIATE offering ``dialects`` (and the anonymous session setup when
    ``identify``). Raises StreamError, NegotiateRefused or FrameError."""
    with SmbStream(address, port, deadline=deadline) as stream:
        response = parse_negotiate_response(stream.exchange(negotiate_request(dialects)))
        if not identify:
            return response, None, ""
        stream.deadline = identify_deadline(deadline, time.monotonic())
        identity, note = _identify(stream, response.dialect)
        return response, identity, note


def _probe_smb1(address: str, port: int, *, deadline: float) -> Smb1Support:
    try:
        with SmbStream(address, port, deadline=deadline) as stream:
            message = stream.exchange(smb1_negotiate_request())
    except StreamError as exc:
        return smb1_failure(exc)
    return smb1_answer(message)


def probe_smb(
    address: str,
    port: int = 445,
    *,
    timeout: float = 10.0,
    per_dialect: Sequence[str] | None = ALL_DIALECTS,
    smb1: bool = True,
    identify: bool = True,
) -> SmbProbeResult:
    """Probe ``address:port`` without credentials and report what it answers.

    The first connection sends a NEGOTIATE offering every dialect (the server's choice is
    ``dialect``) and, when ``identify``, the first SESSION_SETUP of an anonymous NTLM logon,
    whose CHALLENGE names the server (``identity``). Then, unless ``per_dialect`` is empty or
    None, one NEGOTIATE per listed dialect reports whether the server speaks it and its signing
    flags there; and, when ``smb1``, one SMB1 NEGOTIATE offering only NT LM 0.12 (``smb1``).
    Each NEGOTIATE is its own TCP connection.

    ``timeout`` bounds the whole probe (all connections together); steps not reached in time
    are reported as not probed. Every message is read through a header check and a 64 KiB cap
    (:data:`toolkit.smb.stream.MAX_MESSAGE`). Never raises for network or protocol trouble: the
    result's ``error`` says ``unreachable`` (no TCP connection), ``timeout`` (connected, no
    answer in time) or ``protocol_error`` (not a sane SMB2 answer: an HTTP server, garbage, an
    oversized length). Thread-safe: it shares nothing between calls.
    """
    wanted = tuple(per_dialect or ())
    for name in wanted:
        dialect_value(name)  # reject unknown names before any traffic
    started = time.monotonic()
    deadline = started + timeout
    target = f"{address}:{port}"
    offered = ALL_DIALECTS

    def elapsed() -> float:
        return time.monotonic() - started

    try:
        response, identity, identity_note = _negotiate(
            address, port, tuple(dialect_value(d) for d in offered), deadline=deadline, identify=identify
        )
    except (StreamError, FrameError) as exc:
        return SmbProbeResult(address, port, offered, error=first_failure(target, exc), duration_s=elapsed())
    negotiated = NegotiateInfo.from_response(response)

    results: list[DialectSigning] = []
    for name in wanted:
        if time.monotonic() >= deadline:
            results.append(DialectSigning(name, supported=False, note=not_probed(timeout)))
            continue
        try:
            alone, _, _ = _negotiate(address, port, (dialect_value(name),), deadline=deadline, identify=False)
        except (StreamError, FrameError) as exc:
            results.append(dialect_failure(name, exc))
            continue
        results.append(dialect_answer(name, alone))

    smb1_support: Smb1Support | None = None
    if smb1:
        if time.monotonic() >= deadline:
            smb1_support = Smb1Support(None, note=not_probed(timeout))
        else:
            smb1_support = _probe_smb1(address, port, deadline=deadline)

    return SmbProbeResult(
        address,
        port,
        offered,
        negotiated=negotiated,
        per_dialect=tuple(results),
        identity=identity,
        identity_note=identity_note if identify else "",
        smb1=smb1_support,
        duration_s=elapsed(),
    )
