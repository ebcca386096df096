"""What a server does on the wire: one unauthenticated SMB2 NEGOTIATE (and one per dialect).

The registry says what a host is configured to do; this says what its SMB server answers.
Like nmap's smb2-security-mode (DOMAIN 7.1) and NetExec's banner (DOMAIN 7.2), it sees only
the server side and needs no credentials. smbprotocol's ``Connection.connect`` does the
negotiate; no packet is built by hand here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.results import HostError
from toolkit.smb.wire import (
    ALL_DIALECTS,
    SIGNING_ENABLED,
    SIGNING_REQUIRED,
    Deadline,
    capability_names,
    classify_error,
    dialect_name,
    dialect_value,
    disconnect_quietly,
    signing_text,
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
class SmbProbeResult:
    """One server's NEGOTIATE answer. ``error`` set means nothing else is reliable."""

    address: str
    port: int
    dialects_offered: tuple[str, ...] = ()
    negotiated: NegotiateInfo | None = None
    per_dialect: tuple[DialectSigning, ...] = ()
    error: HostError | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.negotiated is not None

    @property
    def dialect(self) -> str | None:
        return self.negotiated.dialect if self.negotiated else None

    @property
    def signing_enabled(self) -> bool | None:
        return self.negotiated.signing_enabled if self.negotiated else None

    @property
    def signing_required(self) -> bool | None:
        return self.negotiated.signing_required if self.negotiated else None

    @property
    def signing_text(self) -> str | None:
        if self.negotiated is None:
            return None
        return signing_text(
            enabled=self.negotiated.signing_enabled, required=self.negotiated.signing_required
        )

    def to_dict(self) -> dict[str, Any]:
        n = self.negotiated
        return {
            "address": self.address,
            "port": self.port,
            "dialects_offered": list(self.dialects_offered),
            "dialect": self.dialect,
            "signing_enabled": self.signing_enabled,
            "signing_required": self.signing_required,
            "signing": self.signing_text,
            "security_mode": n.security_mode if n else None,
            "server_guid": n.server_guid if n else None,
            "capabilities": n.capabilities if n else None,
            "capability_names": list(capability_names(n.capabilities)) if n else [],
            "per_dialect": [d.to_dict() for d in self.per_dialect],
            "error": self.error.to_dict() if self.error else None,
            "duration_s": round(self.duration_s, 3),
        }


def negotiate_info(connection: Any) -> NegotiateInfo:
    """Read what the client saw in the NEGOTIATE response from a connected smbprotocol
    ``Connection``."""
    capabilities = connection.server_capabilities
    return NegotiateInfo(
        dialect=dialect_name(connection.dialect),
        capabilities=int(capabilities.get_value()) if capabilities is not None else 0,
        security_mode=int(connection.server_security_mode or 0),
        server_guid=str(connection.server_guid),
    )


def open_negotiated(
    address: str, port: int, *, dialect: str | None, deadline: Deadline, require_signing: bool
) -> Any:
    """A connected smbprotocol ``Connection`` after NEGOTIATE (caller disconnects it).

    ``dialect`` None offers every dialect smbprotocol knows (2.0.2 to 3.1.1) and lets the
    server choose; a name offers only that one.
    """
    from smbprotocol.connection import Connection

    connection = Connection(uuid.uuid4(), address, port, require_signing=require_signing)
    deadline.watch(connection)
    # connect()'s timeout bounds the TCP connect; smbprotocol truncates the elapsed-adjusted
    # value to whole seconds for the negotiate receive (2 -> 1), so add a second and let the
    # deadline, which closes the socket on time, be the exact bound.
    timeout = deadline.remaining() + 1
    try:
        connection.connect(dialect=dialect_value(dialect) if dialect else None, timeout=timeout)
    except BaseException:
        disconnect_quietly(connection)
        raise
    return connection


def probe_smb(
    address: str,
    port: int = 445,
    *,
    timeout: float = 10.0,
    per_dialect: Sequence[str] | None = ALL_DIALECTS,
) -> SmbProbeResult:
    """Send an unauthenticated SMB2 NEGOTIATE to ``address:port`` and report the answer.

    The first NEGOTIATE offers every dialect and reports the server's choice. Then, unless
    ``per_dialect`` is empty or None, one NEGOTIATE per listed dialect reports whether the
    server speaks it and its signing flags there (as nmap smb2-security-mode does). Each
    NEGOTIATE is its own TCP connection.

    ``timeout`` bounds the whole probe (all connections together); dialects not reached in
    time are reported as not probed. Never raises for network or protocol trouble: the
    result's ``error`` says ``unreachable`` (no TCP connection), ``timeout`` (connected, no
    answer in time) or ``protocol_error`` (something that is not a sane SMB2 answer).
    Thread-safe: it shares nothing between calls.
    """
    from smbprotocol.exceptions import NotSupported

    wanted = tuple(per_dialect or ())
    for name in wanted:
        dialect_value(name)  # reject unknown names before any traffic
    started = time.monotonic()
    target = f"{address}:{port}"

    def elapsed() -> float:
        return time.monotonic() - started

    def remaining() -> float:
        return timeout - elapsed()

    connection: Any = None
    with Deadline(timeout) as deadline:
        try:
            connection = open_negotiated(
                address, port, dialect=None, deadline=deadline, require_signing=False
            )
            offered = tuple(dialect_name(d) or "" for d in connection.negotiated_dialects)
            negotiated = negotiate_info(connection)
        except Exception as exc:
            error = classify_error(exc, deadline=deadline, target=target, timeout=timeout)
            return SmbProbeResult(address, port, error=error, duration_s=elapsed())
        finally:
            disconnect_quietly(connection)

    results: list[DialectSigning] = []
    for name in wanted:
        if remaining() <= 0:
            results.append(
                DialectSigning(name, supported=False, note=f"not probed: {timeout:g}s budget used")
            )
            continue
        connection = None
        with Deadline(remaining()) as deadline:
            try:
                connection = open_negotiated(
                    address, port, dialect=name, deadline=deadline, require_signing=False
                )
                info = negotiate_info(connection)
            except NotSupported:
                results.append(DialectSigning(name, supported=False, note="not supported"))
                continue
            except Exception as exc:
                error = classify_error(exc, deadline=deadline, target=target, timeout=timeout)
                results.append(
                    DialectSigning(name, supported=False, note=f"{error.kind.value}: {error.message}")
                )
                continue
            finally:
                disconnect_quietly(connection)
        if info.dialect != name:
            note = f"server answered with dialect {info.dialect}"
            results.append(DialectSigning(name, supported=False, note=note))
            continue
        results.append(DialectSigning(name, True, info.signing_enabled, info.signing_required))

    return SmbProbeResult(
        address,
        port,
        dialects_offered=offered,
        negotiated=negotiated,
        per_dialect=tuple(results),
        duration_s=elapsed(),
    )
