"""A lean WinRM client for the audit's hot path (see :mod:`toolkit.transport.lean.session`).

:func:`open_session` picks it when the host's transport allows (NTLM over HTTP with message
encryption) and falls back to pypsrp's :class:`toolkit.transport.session.HostSession`
otherwise; both have the same contract (``open``/``run``/``close``, classified errors).
"""

from __future__ import annotations

from toolkit.inventory.model import Host
from toolkit.transport.lean.session import LeanSession, supports
from toolkit.transport.session import CredentialLike, HostSession

__all__ = ["LeanSession", "open_session", "supports"]


def open_session(
    host: Host, credential: CredentialLike | None, *, deadline: float | None = None
) -> LeanSession | HostSession:
    """An unopened session for ``host``: the lean client when it supports the transport."""
    if supports(host, credential):
        return LeanSession(host, credential, deadline=deadline)
    return HostSession(host, credential, deadline=deadline)
