"""The worker's side: run one batch of a site's hosts with psfleet's own fan-out and stream
each host's result back through Redis as soon as it is known.

A batch is acknowledged after it ran (``acks_late``) and handed back if the worker process
dies (``reject_on_worker_lost``, and Redis' visibility timeout when the whole worker is
killed), so another worker of the site runs it again; the controller keeps the first result
per host. On SIGTERM Celery stops taking batches and finishes the ones in flight.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic

from toolkit.engine.app import results_key
from toolkit.engine.wire import host_from_wire, worker_credential
from toolkit.fanout.task import Failure, FailureFn, R
from toolkit.inventory.credentials import Credential
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError

log = logging.getLogger(__name__)

#: How long a worker keeps trying to hand a result to Redis (a restart, a network blip).
PUSH_PATIENCE = 60.0
#: Results of a run stay this long in Redis if the controller never collects them.
RESULTS_TTL = 86400

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def register(app: Any) -> None:
    """Give a site worker's Celery app the batch task's body (:func:`run_batch`)."""
    from toolkit.engine.app import BATCH_TASK

    app.task(name=BATCH_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)(run_batch)


def _client(broker: str) -> Any:
    with _clients_lock:
        if broker not in _clients:
            from toolkit.engine.app import redis_client

            _clients[broker] = redis_client(broker)
        return _clients[broker]


def push(client: Any, key: str, records: list[dict[str, Any]]) -> None:
    """RPUSH ``records`` (JSON) to ``key``, retried while Redis is away (up to PUSH_PATIENCE)."""
    import redis

    payload = [json.dumps(r, separators=(",", ":"), default=str) for r in records]
    give_up = time.monotonic() + PUSH_PATIENCE
    while True:
        try:
            pipe = client.pipeline(transaction=False)
            pipe.rpush(key, *payload)
            pipe.expire(key, RESULTS_TTL)
            pipe.execute()
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            if time.monotonic() >= give_up:
                raise
            time.sleep(0.5)


@dataclass(frozen=True)
class Kind(Generic[R]):
    """A batch kind's result on the wire: ``fail`` turns a host the worker cannot run (or the
    fan-out gave up on) into the command's result, ``to_wire`` makes that result JSON (what
    the controller's ``decode`` reads back)."""

    fail: FailureFn[R]
    to_wire: Callable[[R], dict[str, Any]]

    def record(self, index: int, site: str, result: R) -> dict[str, Any]:
        return {"index": index, "site": site, "result": self.to_wire(result)}


def kind_of(kind: str) -> Kind[Any]:
    """The wire of batch ``kind`` (audit, run, remediate, rollback)."""
    if kind == "audit":
        from toolkit.engine.wire import result_to_wire
        from toolkit.fanout.runner import audit_failure

        return Kind(audit_failure, result_to_wire)
    if kind == "run":
        from toolkit.engine.run_command import answer_to_wire
        from toolkit.run_command.runner import run_failure

        return Kind(run_failure, answer_to_wire)
    if kind in ("remediate", "rollback"):
        from toolkit.engine.remediation import remediation_failure, remediation_to_wire

        return Kind(remediation_failure, remediation_to_wire)
    raise ValueError(f"unknown batch kind {kind!r}")


def run_batch(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Celery task body (bound): ``payload`` is what :mod:`toolkit.engine.controller` sends."""
    from toolkit.fanout.hooks import Hooks
    from toolkit.fanout.runner import FanoutOptions, run_hosts

    site = str(payload["site"])
    kind = str(payload["kind"])
    wire = kind_of(kind)
    key = results_key(str(payload["run_id"]))
    client = _client(task.app.conf.broker_url)
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    source_address = getattr(task.app.conf, "psfleet_source_address", None)
    indices: dict[str, int] = {}
    hosts: list[Host] = []
    credentials: dict[str, Credential] = {}
    early: list[dict[str, Any]] = []
    for item in payload["hosts"]:
        try:
            host = host_from_wire(item["host"])
        except (KeyError, TypeError, ValueError) as exc:
            log.error("site %s: host %s refused: %s", site, item.get("index"), exc)
            early.append(_refused(wire, int(item["index"]), site, item.get("host") or {}, str(exc)))
            continue
        if source_address and not host.transport.source_address:
            host = replace(host, transport=replace(host.transport, source_address=source_address))
        indices[host.name] = int(item["index"])
        credential = worker_credential(host, site, os.environ)
        if isinstance(credential, HostError):
            early.append(wire.record(indices[host.name], site, wire.fail(Failure(host, credential))))
            continue
        credentials[host.name] = credential
        hosts.append(host)
    if early:
        push(client, key, early)
    pending: list[dict[str, Any]] = []
    last_push = [time.monotonic()]
    pending_lock = threading.Lock()

    def send(record: dict[str, Any]) -> None:
        # Results go out in small bursts (one round trip per burst, at most 50 ms late), so a
        # batch costs Redis few calls without holding progress back.
        with pending_lock:
            pending.append(record)
            now = time.monotonic()
            if len(pending) >= 32 or now - last_push[0] >= 0.05:
                push(client, key, pending[:])
                pending.clear()
                last_push[0] = now

    def on_result(result: Any) -> None:
        send(wire.record(indices[result.name], site, result))

    options = FanoutOptions(**payload["options"])
    processes = getattr(task.app.conf, "psfleet_processes", None)
    if processes:  # the worker's --processes wins over the controller's choice
        options = replace(options, processes=int(processes))
    if kind in ("remediate", "rollback"):
        from toolkit.engine.remediation import run_writes

        def send_journal(records: list[dict[str, Any]]) -> None:
            # At once, not in a burst: the write waits for its intent to be in Redis.
            push(client, key, [{"site": site, "journal": records}])

        run_writes(
            kind,
            payload,
            hosts,
            credentials,
            options,
            site=site,
            client=client,
            # At once: a host's claim is dropped once its result is in Redis.
            on_item=lambda item: push(client, key, [wire.record(indices[item.name], site, item)]),
            send_journal=send_journal,
        )
    else:
        body = _body(kind, payload, credentials, client)
        run_hosts(hosts, body, fail=wire.fail, options=options, hooks=Hooks(on_result=on_result))
    with pending_lock:
        if pending:
            push(client, key, pending)
    log.info("site %s: batch of %d hosts done (redelivered: %s)", site, len(payload["hosts"]), redelivered)
    return {"site": site, "hosts": len(payload["hosts"]), "redelivered": redelivered}


def _refused(wire: Kind[Any], index: int, site: str, data: dict[str, Any], why: str) -> dict[str, Any]:
    error = HostError(ErrorKind.ERROR, f"site {site} worker refused the host: {why}", sent=False)
    host = Host(name=str(data.get("name", "?")), address=str(data.get("address", "?")))
    return wire.record(index, site, wire.fail(Failure(host, error)))


def _body(kind: str, payload: dict[str, Any], credentials: dict[str, Credential], client: Any) -> Any:
    """The per-host task of the command (the same objects a local run uses)."""
    if kind == "audit":
        from toolkit.api import AuditTask
        from toolkit.smb.audit_sections import smb_extensions

        params = payload.get("audit") or {}
        workarounds = {
            name: {k: datetime.fromisoformat(v) for k, v in table.items()} if table else None
            for name, table in (params.get("workarounds") or {}).items()
        }
        return AuditTask(
            credentials=credentials,
            now=datetime.fromisoformat(str(payload["now"])),
            workarounds=workarounds,
            extensions=smb_extensions(
                with_probe=bool(params.get("with_probe")), events_days=params.get("events_days")
            ),
        )
    if kind == "run":
        from toolkit.engine.run_command import RunTask, command_from_wire

        sent_key = f"psfleet:run:{payload['run_id']}:sent"

        def first_send(name: str) -> bool:
            """SADD before the command goes out: False if a worker already started this host."""
            pipe = client.pipeline(transaction=False)
            pipe.sadd(sent_key, name)
            pipe.expire(sent_key, RESULTS_TTL)
            added, _ = pipe.execute()
            return bool(added)

        command = command_from_wire((payload.get("run") or {})["command"])
        return RunTask(command, credentials, first_send)
    raise ValueError(f"unknown batch kind {kind!r}")
