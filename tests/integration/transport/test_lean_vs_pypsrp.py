"""The lean client and the pypsrp client against the same lab hosts: the same facts, the same
error classification, and the fan-out through worker processes gives the same audit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from toolkit.api import audit
from toolkit.checks.probe import AUDIT_STATEMENTS, parse_facts
from toolkit.fanout import executors
from toolkit.fanout.runner import FanoutHooks, FanoutOptions
from toolkit.inventory.credentials import Credential, resolve_credentials
from toolkit.inventory.loader import load_inventory
from toolkit.inventory.model import Host, Inventory
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec
from toolkit.results import HostResult
from toolkit.transport.lean import LeanSession, supports
from toolkit.transport.model import Command
from toolkit.transport.pypsrp_session import HostSession, TransportError
from toolkit.transport.select import AutoSession, open_session

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"

SPEC = f"""
users:
  - {{name: admin, password: 'Adm1n-Lab!', admin: true}}
hosts:
  - name: mixed
    profile: mixed
    count: 13
  - name: trap
    profile: win81
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: '0'}}, Odd: {{kind: QWord, value: 5}}}}
  - name: refused
    profile: server2019
    fault: refuse
  - name: denied
    profile: server2019
    fault: auth_fail
  - name: broken
    profile: server2019
    fault: http500
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(loads_spec(SPEC, "lean.yml"), addressing="port", workdir=tmp_path_factory.mktemp("lab")) as f:
        yield f


@pytest.fixture(scope="module")
def inventory(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("inv") / "lab.yml"
    fleet.write_inventory(path)
    return load_inventory(path)


@pytest.fixture(scope="module")
def credentials(inventory: Inventory) -> dict[str, Credential]:
    return resolve_credentials(inventory.hosts, interactive=False)


def healthy(inventory: Inventory) -> list[str]:
    return [h.name for h in inventory.hosts if h.name.startswith(("mixed", "trap"))]


def test_lab_inventories_keep_negotiate_and_take_the_lean_path(
    inventory: Inventory, credentials: dict[str, Credential]
) -> None:
    for host in inventory.hosts:
        assert host.transport.auth == "negotiate"  # as a real domain's inventory says
        assert supports(host, credentials[host.name])
        assert isinstance(open_session(host, credentials[host.name]), AutoSession)
        assert isinstance(open_session(host, credentials[host.name], transport="lean"), LeanSession)
        assert isinstance(open_session(host, credentials[host.name], transport="pypsrp"), HostSession)
    host = inventory.hosts[0]
    pinned = replace(host, transport=replace(host.transport, transport="pypsrp"))
    assert isinstance(open_session(pinned, credentials[host.name]), HostSession)


def test_both_clients_read_identical_answers_and_facts(
    inventory: Inventory, credentials: dict[str, Credential]
) -> None:
    names = healthy(inventory)
    assert len(names) == 14
    for name in names:
        host = inventory.host(name)
        with LeanSession(host, credentials[name]) as fast:
            fast_answer = fast.run(AUDIT_STATEMENTS)
        with HostSession(host, credentials[name]) as slow:
            slow_answer = slow.run(AUDIT_STATEMENTS)
        assert fast_answer == slow_answer, name
        assert parse_facts(fast_answer) == parse_facts(slow_answer)


def test_error_records_and_several_pipelines_per_session(
    inventory: Inventory, credentials: dict[str, Credential]
) -> None:
    host = inventory.host("trap")
    missing = ((Command.of("Get-ItemProperty", Path=r"HKLM:\SOFTWARE\psfleet\missing"),),)
    with LeanSession(host, credentials["trap"]) as fast:
        first = fast.run(missing)
        second = fast.run(AUDIT_STATEMENTS)
    with HostSession(host, credentials["trap"]) as slow:
        expected = slow.run(missing)
    assert first == expected
    assert first.errors and first.errors[0].fully_qualified_error_id.startswith("PathNotFound")
    assert parse_facts(second).workstation.value("RequireSecureNegotiate").kind == "String"
    assert parse_facts(second).workstation.value("Odd").kind == "QWord"


@pytest.mark.parametrize("name", ["refused", "denied", "broken"])
def test_failures_are_classified_as_on_the_pypsrp_path(
    name: str, inventory: Inventory, credentials: dict[str, Credential]
) -> None:
    host = inventory.host(name)
    errors = []
    for session in (LeanSession(host, credentials[name]), HostSession(host, credentials[name])):
        with pytest.raises(TransportError) as info, session as s:
            s.run(AUDIT_STATEMENTS)
        errors.append(info.value.error)
    fast, slow = errors
    assert (fast.kind, fast.message) == (slow.kind, slow.message)


def comparable(result: HostResult) -> tuple[object, ...]:
    return (result.name, result.status, result.os, result.checks, result.error)


def test_worker_processes_give_the_same_audit_and_fire_hooks_here(
    inventory: Inventory, credentials: dict[str, Credential], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fan-out quietly falls back to threads when the task does not pickle: make sure the
    # second audit really ran in two worker processes, or this test compares threads with threads.
    spawned: list[int] = []

    class CountingProcessExecutor(executors.ProcessExecutor):
        def __init__(self, task: Any, options: Any, hosts: list[Host], processes: int, **kw: Any) -> None:
            spawned.append(processes)
            super().__init__(task, options, hosts, processes, **kw)

    monkeypatch.setattr(executors, "ProcessExecutor", CountingProcessExecutor)
    started: list[str] = []
    finished: list[str] = []
    hooks = FanoutHooks(
        on_start=lambda h: started.append(h.name), on_result=lambda r: finished.append(r.name)
    )
    options = FanoutOptions(forks=8, timeout=30, retries=0)
    threaded = audit(inventory, credentials=credentials, options=replace(options, processes=1))
    spread = audit(inventory, credentials=credentials, options=replace(options, processes=2), hooks=hooks)
    assert spawned == [2]
    assert [comparable(r) for r in spread.hosts] == [comparable(r) for r in threaded.hosts]
    assert sorted(started) == sorted(finished) == sorted(h.name for h in inventory.hosts)
    statuses = {r.name: r.status.value for r in spread.hosts}
    assert statuses["refused"] == "unreachable"
    assert statuses["denied"] == "auth_failed"
    assert statuses["broken"] == "protocol_error"
    assert statuses["trap"] == "drift"


def test_a_task_that_does_not_pickle_stays_on_threads(
    inventory: Inventory, credentials: dict[str, Credential]
) -> None:
    seen: list[str] = []

    def extra(host: object, result: HostResult) -> HostResult:  # a closure: cannot travel
        seen.append(result.name)
        return result

    options = FanoutOptions(forks=4, timeout=30, retries=0, processes=2)
    run = audit(inventory, credentials=credentials, options=options, extra=extra)
    # ``extra`` ran here (a worker process could not have appended to ``seen``) for every
    # host that was read.
    assert sorted(seen) == sorted(healthy(inventory))
    assert len(run.hosts) == len(inventory.hosts)
