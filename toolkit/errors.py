"""One root for every error psfleet raises on purpose.

Input errors carry the file, line and field they came from so that the CLI can print one
line that points at the problem (exit code 2). Transport failures never surface as
exceptions above :mod:`toolkit.transport`: they become a :class:`toolkit.results.HostError`
with an :class:`toolkit.results.ErrorKind`.
"""

from __future__ import annotations

from pathlib import Path


class PsfleetError(Exception):
    """Root of psfleet's own exceptions."""

    exit_code: int = 1


class InputError(PsfleetError, ValueError):
    """Bad input (inventory, lab spec, option, journal). Exit code 2.

    ``str()`` gives one line: ``FILE:LINE: FIELD: MESSAGE`` (parts left out when unknown).
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.file is not None:
            where = _escaped(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        field = f"{_escaped(self.field)}: " if self.field else ""
        text = _escaped(" ".join(self.message.split()))
        return f"{where}{field}{text}"


def _escaped(text: str) -> str:
    """Non-printable characters (a raw key's U+001E, a newline in a file name) shown escaped,
    so that one error stays one line: ``splitlines`` and terminals break on more than \\n."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class InventoryError(InputError):
    """The inventory (native or Ansible) is not valid."""


class LabSpecError(InputError):
    """A lab spec file is not valid."""


class UsageError(InputError):
    """A command-line option or combination of options is not valid."""


class CredentialError(InputError):
    """A credential could not be found (missing variable, no keyring entry, no terminal)."""


class JournalError(InputError):
    """A remediation journal cannot be used (missing, unreadable, refuses overwrite)."""


class Aborted(PsfleetError):
    """The user declined a confirmation or interrupted the run."""

    exit_code = 130


# -- what the transports refuse -------------------------------------------------------------
# Raised by both clients and by their compat shims (toolkit.compat.pypsrp), classified by
# toolkit.transport.classify (which re-exports them). Builtin bases, so that code catching
# ConnectionError/TimeoutError around a socket treats them alike.


class RedirectRefused(ConnectionError):
    """The endpoint answered with an HTTP redirect; psfleet never follows one (nothing, not
    the body nor a token, is sent to the Location)."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"HTTP {status} redirect to {location or '(no Location)'} refused")
        self.status = status
        self.location = location


class ResponseTooLarge(ConnectionError):
    """One HTTP response was larger than the transport's ``max_response`` cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response larger than {limit} bytes")
        self.limit = limit


class DeadlineExceeded(TimeoutError):
    """The host's deadline passed while a response was being read; the socket was closed."""


class ProtocolViolation(ConnectionError):
    """The peer answered something a client cannot understand (HTTP framing, encryption,
    PSRP); a ``protocol_error``, the one kind ``transport: auto`` falls back to pypsrp for."""


class NTLMDowngradeRefused(ConnectionError):
    """The server's NTLM CHALLENGE lacks extended session security or 128-bit keys; refused
    before any AUTHENTICATE (with the account's response) was sent."""
