"""The Celery application: broker URL, JSON only, late acknowledgement, one queue per site.

The broker URL (``redis://`` or ``rediss://``) comes from ``--broker``, ``PSFLEET_BROKER`` or
the config file's ``broker`` key, in that order. A URL on the command line must not hold a
password (every local user can read a process's argv); the password goes in
``PSFLEET_BROKER`` / the config file, or in ``REDISCLI_AUTH`` (redis-cli's own variable),
which is added to a URL that has none. :func:`redact` is the only form ever printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from toolkit.errors import UsageError

ENV_BROKER = "PSFLEET_BROKER"
ENV_PASSWORD = "REDISCLI_AUTH"
#: The queue a site's hosts go to (``psfleet.site.<name>``).
QUEUE_PREFIX = "psfleet.site."
#: The one task every site worker runs: a batch of hosts for one command.
BATCH_TASK = "psfleet.batch"
#: Seconds an unacknowledged batch stays with a worker that stopped answering before Redis
#: hands it to another worker of the site (kombu's visibility timeout; Celery's default is
#: one hour). Longer than any batch may run: PSFLEET_ENGINE_VISIBILITY overrides it.
DEFAULT_VISIBILITY = 600.0
_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def queue_name(site: str) -> str:
    return QUEUE_PREFIX + site


def check_site(site: str) -> str:
    if not _SITE.fullmatch(site):
        raise UsageError(
            f"site {site!r}: letters, digits, '.', '_' and '-' only (at most 63)", field="--site"
        )
    return site


def redact(url: str) -> str:
    """``url`` without its password (``redis://:***@host:port/0``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def resolve_broker(
    option: str | None, *, config_value: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The broker URL to use, or a :class:`UsageError` (exit 2) naming the fix.

    ``option`` is ``--broker`` as typed (never with a password); then ``PSFLEET_BROKER``, then
    the config file. ``REDISCLI_AUTH`` supplies the password of a URL without one."""
    env = os.environ if env is None else env
    if option:
        if urlsplit(option).password is not None:
            raise UsageError(
                "--broker must not carry a password (other users can read command lines): "
                f"set {ENV_BROKER} to the URL, or the password in {ENV_PASSWORD}",
                field="--broker",
            )
        url = option
    else:
        url = env.get(ENV_BROKER) or config_value or ""
    if not url:
        raise UsageError(
            f'no broker: pass --broker redis://HOST:PORT/0, set {ENV_BROKER} or put broker = "..." '
            "in the config file",
            field="--broker",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise UsageError(f"broker {redact(url)}: only redis:// and rediss:// URLs", field="--broker")
    password = env.get(ENV_PASSWORD)
    if parts.password is None and password:
        host = parts.hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{quote(parts.username or '', safe='')}:{quote(password, safe='')}@{host}"
        netloc += f":{parts.port}" if parts.port else ""
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> Any:
    """Celery router: a batch goes to its site's queue (the payload names the site)."""
    if name == BATCH_TASK and args:
        return {"queue": queue_name(str(args[0]["site"]))}
    return None


def results_key(run_id: str) -> str:
    """The Redis list a run's per-host results (and journal records) are streamed through."""
    return f"psfleet:run:{run_id}:results"


def make_app(broker: str) -> Any:
    """A Celery app on ``broker`` (also the result backend), JSON only, batches acknowledged
    after they ran and handed back if the worker process dies (redelivered by Redis).

    The controller sends batches by name (:data:`BATCH_TASK`); a site worker registers the
    task's body on its app (:func:`toolkit.engine.tasks.register`)."""
    from celery import Celery

    visibility = float(os.environ.get("PSFLEET_ENGINE_VISIBILITY") or DEFAULT_VISIBILITY)
    app = Celery("psfleet", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_routes=(_route,),
        task_default_queue="psfleet.default",
        broker_connection_retry_on_startup=True,
        # kombu scans for batches to hand back every interval x throttle seconds (10 x 10 by
        # default: up to 100 s after the visibility timeout); every few seconds instead.
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1.0, min(10.0, visibility / 4)),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": visibility},
        result_expires=86400,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_pool_limit=4,
    )
    return app


def redis_client(broker: str) -> Any:
    """A redis-py client on the broker (the channel per-host results are streamed through)."""
    import redis

    return redis.Redis.from_url(broker, socket_timeout=10, socket_connect_timeout=5, health_check_interval=15)
