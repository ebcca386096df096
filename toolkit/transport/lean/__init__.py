"""The lean WinRM client (see :mod:`toolkit.transport.lean.session`): negotiate, kerberos and
ntlm over HTTP with message encryption, the same plus basic over HTTPS, at a few ms of client
CPU per host. :func:`toolkit.transport.select.open_session` picks it (``transport: auto`` or
``lean``) where :func:`supports` says it speaks the host's settings.
"""

from __future__ import annotations

from toolkit.transport.lean.session import LeanSession, supports

__all__ = ["LeanSession", "supports"]
