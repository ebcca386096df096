"""Which WinRM client serves a host: ``transport: auto | lean | pypsrp``.

``--transport`` on the command line wins over the inventory's ``transport`` (host > group >
defaults); the default is ``auto``:

- ``lean``: the lean client (:mod:`toolkit.transport.lean`), refused for a host whose
  settings it does not speak;
- ``pypsrp``: pypsrp (:class:`toolkit.transport.pypsrp_session.HostSession`);
- ``auto``: the lean client where it speaks the host's settings, else pypsrp. When the lean
  client fails for a protocol reason (``protocol_error``: an answer it cannot parse, a fault
  it does not expect), the host is served by pypsrp instead, once, and the result says why
  (``transport_fallback``). Never for ``unreachable``, ``auth_failed``, ``timeout`` or
  ``access_denied`` (pypsrp would meet the same wall, and a second failed logon counts
  towards the account's lockout), and never by re-sending a pipeline that may have written:
  only the pool open and pipelines of read-only cmdlets are tried again. Nor for what every
  client refuses by policy (a redirect, an oversized response, a downgraded NTLM
  challenge): pypsrp would refuse it too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, Self, cast

from toolkit.errors import UsageError
from toolkit.inventory.model import Host, Inventory
from toolkit.results import ErrorKind, HostError
from toolkit.transport.model import InvocationResult, Statement
from toolkit.transport.protocol import CredentialLike, Session, TransportError, TransportName

log = logging.getLogger(__name__)

TransportChoice = Literal["auto", "lean", "pypsrp"]
TRANSPORT_CHOICES: tuple[str, ...] = ("auto", "lean", "pypsrp")

#: Cmdlet verbs that only read: a pipeline made of these alone may be sent again to pypsrp
#: after the lean client failed on it.
READ_VERBS = frozenset(
    {"get", "test", "select", "where", "measure", "sort", "format", "resolve", "convertto", "out"}
)


def reads_only(statements: Sequence[Statement]) -> bool:
    """Whether every command of ``statements`` is a read (by its verb)."""
    return all(
        command.name.split("-", 1)[0].lower() in READ_VERBS
        for statement in statements
        for command in statement
    )


def choice_for(host: Host, transport: str | None = None) -> TransportChoice:
    """The client choice for ``host``: ``transport`` (the command line) or the inventory's."""
    chosen = transport or host.transport.transport
    if chosen not in TRANSPORT_CHOICES:
        raise ValueError(f"unknown transport {chosen!r}; choose one of: {', '.join(TRANSPORT_CHOICES)}")
    return cast(TransportChoice, chosen)


def with_transport(inventory: Inventory, transport: str | None) -> Inventory:
    """``inventory`` with every host's ``transport`` set to ``transport`` (``--transport``;
    None leaves the inventory's choices). A bad value is a usage error (exit 2)."""
    if transport is None:
        return inventory
    if transport not in TRANSPORT_CHOICES:
        raise UsageError(
            f"unknown transport {transport!r}; choose one of: {', '.join(TRANSPORT_CHOICES)}",
            field="--transport",
        )
    choice = cast(TransportChoice, transport)
    hosts = tuple(replace(h, transport=replace(h.transport, transport=choice)) for h in inventory.hosts)
    return replace(inventory, hosts=hosts)


def lean_supports(host: Host, credential: CredentialLike | None) -> bool:
    """Whether the lean client speaks ``host``'s settings with ``credential``."""
    from toolkit.transport import lean

    return bool(lean.supports(host, credential))


def open_session(
    host: Host,
    credential: CredentialLike | None,
    *,
    deadline: float | None = None,
    transport: str | None = None,
) -> Session:
    """An unopened :class:`~toolkit.transport.protocol.Session` for ``host`` (see the module
    docstring); use it as a context manager. ``transport`` overrides the inventory's choice.
    Raises :class:`TransportError` (kind ``error``, nothing sent) for ``transport: lean`` on a
    host the lean client does not speak."""
    choice = choice_for(host, transport)
    if choice == "pypsrp":
        return _pypsrp(host, credential, deadline)
    if not lean_supports(host, credential):
        if choice == "lean":
            t = host.transport
            raise TransportError(
                HostError(
                    ErrorKind.ERROR,
                    f"refused: the lean client does not speak auth {t.auth} over {t.scheme} with these "
                    "credentials; set transport: auto or pypsrp",
                    False,
                ),
                transport="lean",
            )
        return _pypsrp(host, credential, deadline)
    if choice == "lean":
        return _lean(host, credential, deadline)
    return AutoSession(host, credential, deadline=deadline)


def _pypsrp(host: Host, credential: CredentialLike | None, deadline: float | None) -> Session:
    from toolkit.transport.pypsrp_session import HostSession

    return HostSession(host, credential, deadline=deadline)


def _lean(host: Host, credential: CredentialLike | None, deadline: float | None) -> Session:
    from toolkit.transport.lean import LeanSession

    session: Session = LeanSession(host, credential, deadline=deadline)
    return session


class AutoSession:
    """The lean client with one fallback to pypsrp (``transport: auto``), as one Session."""

    def __init__(
        self, host: Host, credential: CredentialLike | None, *, deadline: float | None = None
    ) -> None:
        self.host = host
        self.credential = credential
        self.deadline = deadline
        self._active: Session = _lean(host, credential, deadline)
        self._fallback: str | None = None
        self._wrote = False

    @property
    def transport(self) -> TransportName:
        return self._active.transport

    @property
    def fallback(self) -> str | None:
        return self._fallback

    def _may_fall_back(self, exc: TransportError, *, resend: bool) -> bool:
        return (
            self._fallback is None
            and self._active.transport == "lean"
            and exc.error.kind is ErrorKind.PROTOCOL_ERROR
            and not exc.refused
            and not self._wrote
            and resend
        )

    def _fall_back(self, reason: HostError) -> None:
        """Leave the lean client for pypsrp and open a pool there (raises its TransportError)."""
        self._fallback = f"lean client: {reason.message}"
        log.info("%s: falling back to pypsrp: %s", self.host.name, reason.message)
        try:
            self._active.close()
        except Exception as exc:  # the lean pool is already discarded after a failure
            log.debug("%s: closing the lean session failed: %s", self.host.name, exc)
        self._active = _pypsrp(self.host, self.credential, self.deadline)
        try:
            self._active.open()
        except TransportError as exc:
            raise self._tag(exc) from None

    def _tag(self, exc: TransportError) -> TransportError:
        exc.transport = self._active.transport
        exc.fallback = self._fallback
        return exc

    def open(self) -> None:
        try:
            self._active.open()
            return
        except TransportError as exc:
            if not self._may_fall_back(exc, resend=True):
                raise self._tag(exc) from None
            reason = exc.error
        # Outside the handler: pypsrp's own failure must not carry the lean one as context.
        self._fall_back(reason)

    def run(self, statements: Sequence[Statement]) -> InvocationResult:
        read = reads_only(statements)
        try:
            return self._active.run(statements)
        except TransportError as exc:
            if not self._may_fall_back(exc, resend=read):
                raise self._tag(exc) from None
            reason = exc.error
        finally:
            self._wrote = self._wrote or not read
        self._fall_back(reason)
        try:
            return self._active.run(statements)
        except TransportError as exc:
            raise self._tag(exc) from None

    def run_script(self, text: str) -> InvocationResult:
        """Script text may write: it is never sent twice (no fallback once it was sent)."""
        try:
            return self._active.run_script(text)
        except TransportError as exc:
            raise self._tag(exc) from None
        finally:
            self._wrote = True

    def close(self) -> None:
        self._active.close()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
