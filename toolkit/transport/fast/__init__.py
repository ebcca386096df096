"""A lean WinRM client for the audit's hot path (see :mod:`toolkit.transport.fast.session`).

:func:`open_session` picks it when the host's transport allows (NTLM over HTTP with message
encryption) and falls back to pypsrp's :class:`toolkit.transport.session.HostSession`
otherwise; both have the same contract (``open``/``run``/``close``, classified errors).
"""

from __future__ import annotations

from toolkit.inventory.model import Host
from toolkit.transport.fast.session import FastSession, supports
from toolkit.transport.session import CredentialLike, HostSession

__all__ = ["FastSession", "open_session", "supports"]


def open_session(
    host: Host, credential: CredentialLike | None, *, deadline: float | None = None
) -> FastSession | HostSession:
    """An unopened session for ``host``: the fast client when it supports the transport."""
    if supports(host, credential):
        return FastSession(host, credential, deadline=deadline)
    return HostSession(host, credential, deadline=deadline)
