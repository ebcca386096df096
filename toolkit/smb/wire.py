"""SMB2 vocabulary shared by the probe and the diagnosis: dialect names, capability and
security-mode flags, and the one place where smbprotocol's exceptions become an
:class:`~toolkit.results.ErrorKind`.

smbprotocol has no per-call wall-clock timeout (session setup and tree connect wait without
limit), so :class:`Deadline` closes the socket when time is up: the blocked call then fails with
``SMBConnectionClosed`` and :func:`classify_error` reports it as a timeout.
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import Any

from toolkit.results import ErrorKind, HostError

#: MS-SMB2 2.2.3 dialect revisions, by the names Windows and nmap use.
DIALECTS: dict[str, int] = {
    "2.0.2": 0x0202,
    "2.1": 0x0210,
    "3.0": 0x0300,
    "3.0.2": 0x0302,
    "3.1.1": 0x0311,
}
ALL_DIALECTS: tuple[str, ...] = tuple(DIALECTS)

#: MS-SMB2 2.2.4 NEGOTIATE response Capabilities.
CAPABILITIES: dict[int, str] = {
    0x01: "DFS",
    0x02: "LEASING",
    0x04: "LARGE_MTU",
    0x08: "MULTI_CHANNEL",
    0x10: "PERSISTENT_HANDLES",
    0x20: "DIRECTORY_LEASING",
    0x40: "ENCRYPTION",
    0x80: "NOTIFICATIONS",
}

SIGNING_ENABLED = 0x0001
SIGNING_REQUIRED = 0x0002


def dialect_name(value: int | None) -> str | None:
    """``0x0302`` -> ``"3.0.2"``; unknown revisions keep their hex form."""
    if value is None:
        return None
    for name, number in DIALECTS.items():
        if number == value:
            return name
    return f"0x{value:04x}"


def dialect_value(name: str) -> int:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SMB2 dialect {name!r} (known: {', '.join(DIALECTS)})") from None


def capability_names(value: int) -> tuple[str, ...]:
    names = [name for bit, name in CAPABILITIES.items() if value & bit]
    unknown = value & ~sum(CAPABILITIES)
    if unknown:
        names.append(f"0x{unknown:08x}")
    return tuple(names)


def describe_capabilities(value: int) -> str:
    return f"0x{value:08x} ({'|'.join(capability_names(value)) or 'none'})"


def describe_security_mode(value: int) -> str:
    flags = [
        n
        for bit, n in ((SIGNING_ENABLED, "SIGNING_ENABLED"), (SIGNING_REQUIRED, "SIGNING_REQUIRED"))
        if value & bit
    ]
    return f"0x{value:04x} ({'|'.join(flags) or 'none'})"


def signing_text(*, enabled: bool, required: bool) -> str:
    """The server's SMB2 signing flags in nmap smb2-security-mode's exact words.

    nmap maps the four combinations of SIGNING_ENABLED / SIGNING_REQUIRED as below; the last
    one (required without enabled) reads "disabled" in nmap, although a server that sets
    SIGNING_REQUIRED does require signing (MS-SMB2 2.2.4): psfleet keeps nmap's phrase in the
    text and reports ``signing_required: true`` in the fields (docs/smb.md, "nmap's words").
    """
    if enabled and required:
        return "Message signing enabled and required"
    if enabled:
        return "Message signing enabled but not required"
    if not required:
        return "Message signing is disabled and not required!"
    return "Message signing is disabled!"


def smb1_signing_text(*, enabled: bool | None, required: bool | None) -> str:
    """SMB1 signing in nmap smb-security-mode's ``message_signing`` words."""
    if required:
        return "required"
    if enabled:
        return "supported"
    return "disabled (dangerous, but default)"


class Deadline:
    """Closes an smbprotocol ``Connection``'s socket once ``seconds`` have passed.

    Use as a context manager around every blocking smbprotocol call for one connection.
    ``expired`` tells afterwards whether the deadline (not the peer) ended the connection.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.expired = False
        self._connection: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.0, self.seconds - (time.monotonic() - self.started))

    def watch(self, connection: Any) -> None:
        """The connection whose socket is closed on expiry (set before ``connect``)."""
        with self._lock:
            self._connection = connection

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connection = self._connection
        transport = getattr(connection, "transport", None)
        if transport is not None:
            # Closing the socket wakes smbprotocol's receive worker, which then releases every
            # waiting receive() with SMBConnectionClosed.
            with contextlib.suppress(OSError):
                transport.close()

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()


def disconnect_quietly(connection: Any) -> None:
    """Drop the TCP connection without logging off (a logoff could wait on a dead peer)."""
    if connection is None or getattr(connection, "transport", None) is None:
        return
    # Best effort: the result is already decided, a failing close changes nothing.
    with contextlib.suppress(Exception):
        connection.disconnect(False)


def classify_error(
    exc: BaseException, *, deadline: Deadline | None, target: str, timeout: float
) -> HostError:
    """One smbprotocol failure as a :class:`HostError` (kind + one-line message).

    - TCP connect refused / no route / name not resolved / connect timed out: ``unreachable``
      (a filtered port looks like a connect timeout; no SMB server answered at all).
    - Connected, but no answer before the deadline: ``timeout``.
    - Anything else the peer did (error status, garbage, closed socket): ``protocol_error``.
      Authentication failures are classified by the caller, which knows the stage.
    """
    from smbprotocol.exceptions import SMBConnectionClosed, SMBException

    cause = exc.__cause__
    if isinstance(exc, ValueError) and str(exc).startswith("Failed to connect to"):
        # smbprotocol's Tcp.connect wraps every socket error in ValueError("Failed to connect ...").
        if isinstance(cause, TimeoutError):
            return HostError(
                ErrorKind.UNREACHABLE, f"{target}: TCP connect timed out after {timeout:g}s", sent=False
            )
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause or exc)
        return HostError(ErrorKind.UNREACHABLE, f"{target}: TCP connect failed: {reason}", sent=False)
    if deadline is not None and deadline.expired:
        return HostError(ErrorKind.TIMEOUT, f"{target}: no answer within {timeout:g}s")
    if isinstance(exc, SMBException) and str(exc).startswith("Connection timeout of"):
        return HostError(ErrorKind.TIMEOUT, f"{target}: no answer within {timeout:g}s")
    if isinstance(exc, SMBConnectionClosed):
        return HostError(ErrorKind.PROTOCOL_ERROR, f"{target}: the server closed the connection")
    return HostError(ErrorKind.PROTOCOL_ERROR, f"{target}: {exception_text(exc)}")


def exception_text(exc: BaseException) -> str:
    """An smbprotocol exception as one line of at most 300 characters (its class name when it
    has no message): its messages can span lines and carry whole packet dumps."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__
