"""``psfleet run`` through the engine: the command and each host's answer as JSON, with the
.NET types of every value kept (tagged), so a site worker's answer renders exactly as a
local one. A command is never sent twice to a host: a redelivered batch (its worker died)
skips the hosts the dead worker had started (Redis set per run) and reports them as
``error`` "not run again".
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from typing import Any

from toolkit import __version__
from toolkit.engine.controller import EngineOptions, run_engine
from toolkit.fanout.runner import Failure, FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Inventory
from toolkit.results import ErrorKind, HostError, utc_now
from toolkit.run_command.command import RunCommand
from toolkit.run_command.results import CommandRun, HostRunResult, OutputObject, RunStatus
from toolkit.run_command.runner import RunHooks, run_failure, run_on_host
from toolkit.transport.model import ErrorRecordData, Param, PSObj, PSValue
from toolkit.transport.protocol import CredentialLike


def encode(value: Any) -> Any:
    """Tagged JSON for PSValue/PSObj trees and parameter values."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, PSObj):
        return {
            "$o": list(value.type_names),
            "p": [[k, encode(v)] for k, v in value.properties.items()],
            "s": value.to_string,
        }
    if isinstance(value, PSValue):
        return {"$v": value.type, "d": encode(value.value)}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return {"$l": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$d": [[encode(k), encode(v)] for k, v in value.items()]}
    return {"$s": str(value)}  # dates, GUIDs...: rendered as their text either way


def decode(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    if "$o" in data:
        props = {str(k): decode(v) for k, v in data["p"]}
        return PSObj(tuple(data["$o"]), props, data.get("s"))
    if "$v" in data:
        return PSValue(str(data["$v"]), decode(data["d"]))
    if "$b" in data:
        return base64.b64decode(data["$b"])
    if "$l" in data:
        return [decode(v) for v in data["$l"]]
    if "$d" in data:
        return {decode(k): decode(v) for k, v in data["$d"]}
    if "$s" in data:
        return str(data["$s"])
    raise ValueError("unknown tagged value")


def command_to_wire(command: RunCommand) -> dict[str, Any]:
    return {
        "form": command.form,
        "text": command.text,
        "cmdlet": command.cmdlet_name,
        "params": [[p.name, encode(p.value), p.switch] for p in command.params],
    }


def command_from_wire(data: Mapping[str, Any]) -> RunCommand:
    if data["form"] == "script":
        return RunCommand.script(str(data["text"]))
    params = [Param(name, decode(value), bool(switch)) for name, value, switch in data["params"]]
    return RunCommand.cmdlet(str(data["cmdlet"]), params)


def answer_to_wire(result: HostRunResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "address": result.address,
        "status": result.status.value,
        "output": [
            {"t": o.type_name, "p": [[n, encode(v)] for n, v in o.properties], "prim": o.primitive}
            for o in result.output
        ],
        "errors": [
            [e.message, e.fully_qualified_error_id, e.category, e.reason, e.target, e.activity]
            for e in result.errors
        ],
        "error": result.error.to_dict() if result.error else None,
        "duration_s": result.duration_s,
        "groups": list(result.groups),
        "transport": result.transport,
        "transport_fallback": result.transport_fallback,
    }


def answer_from_wire(data: Mapping[str, Any]) -> HostRunResult:
    error = data.get("error")
    return HostRunResult(
        name=str(data["name"]),
        address=str(data["address"]),
        status=RunStatus(data["status"]),
        output=tuple(
            OutputObject(str(o["t"]), tuple((str(n), decode(v)) for n, v in o["p"]), bool(o["prim"]))
            for o in data.get("output") or ()
        ),
        errors=tuple(ErrorRecordData(*e) for e in data.get("errors") or ()),
        error=HostError(ErrorKind(error["kind"]), str(error["message"])) if error else None,
        duration_s=float(data.get("duration_s") or 0.0),
        groups=tuple(data.get("groups") or ()),
        transport=data.get("transport"),
        transport_fallback=data.get("transport_fallback"),
    )


class RunTask:
    """The per-host task of ``run`` (worker and controller alike). ``first_send`` (on a
    worker: a Redis SADD per run) says whether this host was not started before."""

    def __init__(
        self,
        command: RunCommand,
        credentials: Mapping[str, CredentialLike | None],
        first_send: Any = None,
    ) -> None:
        self.command = command
        self.credentials = credentials
        self.first_send = first_send

    def __call__(self, host: Host, deadline: float) -> HostRunResult:
        if self.first_send is not None and not self.first_send(host.name):
            err = HostError(
                ErrorKind.ERROR,
                "not run again: the worker that started it died and a command is never sent twice",
                sent=True,
            )
            return run_failure(Failure(host, err))
        return run_on_host(self.command, host, self.credentials.get(host.name), deadline)


def run(
    inventory: Inventory,
    command: RunCommand,
    *,
    credentials: Mapping[str, CredentialLike | None],
    options: FanoutOptions,
    engine: EngineOptions,
    on_result: Callable[[HostRunResult], None] | None = None,
    stop: threading.Event | None = None,
) -> CommandRun:
    """:func:`toolkit.run_command.run` through the engine (writes already confirmed by the
    caller); ``on_result`` gets each host's answer as it arrives, from any site."""
    started = utc_now()
    task = RunTask(command, dict(credentials))

    def local(
        hosts: list[Host], local_hooks: RunHooks, local_stop: threading.Event
    ) -> tuple[list[HostRunResult], bool]:
        return run_hosts(hosts, task, fail=run_failure, options=options, hooks=local_hooks, stop=local_stop)

    results, interrupted = run_engine(
        list(inventory.hosts),
        kind="run",
        params={"command": command_to_wire(command)},
        options=options,
        engine=engine,
        local=local,
        decode=answer_from_wire,
        fail=run_failure,
        hooks=RunHooks(on_result=on_result),
        stop=stop,
    )
    return CommandRun(
        command=command,
        hosts=tuple(results),
        started=started,
        finished=utc_now(),
        inventory=inventory.source,
        version=__version__,
        interrupted=interrupted,
    )
