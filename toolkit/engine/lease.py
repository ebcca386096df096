"""The per-host lease of remediation and rollback, across the engine: one Redis key per host.

A local run takes a lock per host on its own box (:class:`toolkit.remediate.lease.LocalLock`)
and the lease on the host itself. Through the engine, hosts are written from several boxes
(the site workers, the controller for hosts without a site), so the controller also takes,
for every host of a batch before any is sent, the key ``psfleet:lease:<host>`` with ``SET NX``
and an expiry (:data:`LEASE_TTL`), renewed while the batch runs and removed when it ends.
A host whose key another run holds is ``busy``, with that run's id and the key's expiry, as
locally; a controller that dies leaves its keys to expire. The value names the run and the
controller (``box:pid``); only the run that set a key renews or removes it (compare and
delete, in one Lua script).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkit.remediate.lease import Busy, holder_id

log = logging.getLogger(__name__)

LEASE_PREFIX = "psfleet:lease:"
#: Seconds a lease outlives its last renewal (a controller that died frees its hosts then).
LEASE_TTL = 60.0
#: Where the busy message says the lease is.
WHERE = "engine lease in Redis"

_RENEW = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]) end
end
return 1
"""
_SETTLE = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('SET', key, ARGV[2], 'PX', ARGV[3]) end
end
return 1
"""
_RELEASE = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""


class EngineLeases:
    """The leases one run holds in Redis (``client``: a redis-py client on the broker);
    ``prefix`` other than :data:`LEASE_PREFIX`: other keys of the same kind (a worker's
    claims on the hosts of a batch it runs)."""

    def __init__(self, client: Any, run_id: str, ttl: float = LEASE_TTL, prefix: str = LEASE_PREFIX) -> None:
        self.client = client
        self.run_id = run_id
        self.prefix = prefix
        self.ttl_ms = int(ttl * 1000)
        self.value = json.dumps({"run_id": run_id, "holder": holder_id()}, separators=(",", ":"))
        self.held: list[str] = []
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def take(self, hosts: Sequence[str]) -> dict[str, Busy]:
        """Take every host's lease; the hosts another run holds, with its :class:`Busy`."""
        if not hosts:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for name in hosts:
            pipe.set(self.prefix + name, self.value, nx=True, px=self.ttl_ms)
        answers = pipe.execute()
        busy: dict[str, Busy] = {}
        for name, taken in zip(hosts, answers, strict=True):
            if taken:
                self.held.append(self.prefix + name)
                continue
            pipe = self.client.pipeline(transaction=False)
            pipe.get(self.prefix + name)
            pipe.pttl(self.prefix + name)
            raw, ttl = pipe.execute()
            other = _run_of(raw)
            if other == self.run_id:  # ours already (a batch taken again)
                self.held.append(self.prefix + name)
                continue
            expires = ""
            if isinstance(ttl, int) and ttl > 0:
                until = datetime.now(UTC) + timedelta(milliseconds=ttl)
                expires = until.replace(microsecond=0).isoformat()
            busy[name] = Busy(other or "unknown", WHERE, expires)
        if self.held and self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="psfleet-lease", daemon=True)
            self._renewer.start()
        return busy

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                keys = list(self.held)
                if keys:
                    self.client.eval(_RENEW, len(keys), *keys, self.value, self.ttl_ms)
            except Exception as exc:  # Redis away: the run goes on, the leases may expire
                log.warning("cannot renew the engine leases: %s", type(exc).__name__)

    def settle(self, names: Sequence[str], value: str, ttl: float) -> None:
        """Replace the keys of ``names`` this run holds by ``value`` for ``ttl`` seconds
        (no longer renewed): a worker's claim on a host it finished becomes "done"."""
        keys = [self.prefix + n for n in names if self.prefix + n in self.held]
        self.held = [k for k in self.held if k not in keys]
        if keys:
            self.client.eval(_SETTLE, len(keys), *keys, self.value, value, int(ttl * 1000))

    def release(self, names: Sequence[str] | None = None) -> None:
        """Remove the keys this run holds (``names``: only theirs; else all, and stop
        renewing). Best effort: they expire."""
        if names is not None:
            keys = [self.prefix + n for n in names if self.prefix + n in self.held]
            self.held = [k for k in self.held if k not in keys]
        else:
            self._stop.set()
            if self._renewer is not None:
                self._renewer.join(timeout=5)
                self._renewer = None
            keys, self.held = self.held, []
            self._stop = threading.Event()
        if keys:
            try:
                self.client.eval(_RELEASE, len(keys), *keys, self.value)
            except Exception as exc:
                log.warning("cannot release the engine leases (they expire): %s", type(exc).__name__)


def _run_of(raw: Any) -> str:
    try:
        data = json.loads(raw or b"{}")
        return re.sub(r"[^\w.:@+-]", "?", str(data.get("run_id", ""))[:80])
    except (ValueError, AttributeError):
        return ""
