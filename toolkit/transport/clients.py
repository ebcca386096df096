"""Which WinRM client speaks what, without importing either: the lean client's auth matrix
(:func:`lean_speaks`, for :mod:`toolkit.transport.select` and :mod:`toolkit.transport.lean`)
and the module of each client, for a run to import before its first host
(:func:`client_modules`, see :func:`toolkit.fanout.executors.warm_up`).
"""

from __future__ import annotations

from collections.abc import Iterable

from toolkit.inventory.model import Host
from toolkit.transport.protocol import TransportName

#: Auth kinds the lean client speaks over HTTP (with message encryption) and over HTTPS;
#: CredSSP and certificates go through pypsrp.
LEAN_AUTH = {
    "http": frozenset({"negotiate", "kerberos", "ntlm"}),
    "https": frozenset({"negotiate", "kerberos", "ntlm", "basic"}),
}

#: The module of each client, imported by a worker before its first host (see
#: :func:`client_modules`).
CLIENT_MODULES: dict[TransportName, str] = {
    "lean": "toolkit.transport.lean",
    "pypsrp": "toolkit.transport.pypsrp_session",
}


def lean_speaks(host: Host) -> bool:
    """Whether the lean client speaks ``host``'s auth over its scheme (credentials aside:
    :func:`toolkit.transport.select.lean_supports` also asks NTLM and Basic for a username and a password)."""
    t = host.transport
    return t.auth in LEAN_AUTH.get(t.scheme, frozenset())


def client_modules(hosts: Iterable[Host]) -> tuple[str, ...]:
    """The modules of the clients that serve ``hosts`` before any fallback: the lean client's
    for ``auto`` and ``lean`` hosts it speaks, pypsrp's for hosts pinned to pypsrp or with an
    auth the lean client does not speak (``--transport`` is already in the hosts' settings;
    a host pinned to the lean client it does not speak is refused without a client).

    A host that falls back to pypsrp (or an NTLM host without a password) imports pypsrp's
    module when it gets there, within its own deadline."""
    wanted: set[TransportName] = set()
    for host in hosts:
        choice, speaks = host.transport.transport, lean_speaks(host)
        if choice == "pypsrp" or (choice == "auto" and not speaks):
            wanted.add("pypsrp")
        elif choice in ("auto", "lean") and speaks:
            wanted.add("lean")
        if len(wanted) == len(CLIENT_MODULES):
            break
    return tuple(module for name, module in CLIENT_MODULES.items() if name in wanted)
