"""The engine speaks each command's own result type, as the local fan-out does: what the
controller returns for hosts without a site, and what a worker sends for a host it cannot
run, are the command's results (no audit result carrying them)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from toolkit.engine.controller import EngineOptions, run_engine
from toolkit.engine.remediation import remediation_from_wire
from toolkit.engine.run_command import answer_from_wire
from toolkit.engine.tasks import _refused, kind_of
from toolkit.engine.wire import result_from_wire
from toolkit.fanout.hooks import Hooks
from toolkit.fanout.task import Failure, FanoutOptions
from toolkit.inventory.model import Host
from toolkit.remediate.model import HostRemediation, RemediateStatus
from toolkit.results import ErrorKind, HostError, HostResult, HostStatus
from toolkit.run_command.results import HostRunResult, RunStatus


@dataclass(frozen=True)
class Answer:
    """A command's own result type, known to nothing in toolkit."""

    name: str
    text: str
    error: HostError | None = None


def failed(failure: Failure) -> Answer:
    return Answer(failure.host.name, f"failed: {failure.error.message}", failure.error)


HOSTS = [Host(name=f"h{i}", address=f"10.0.0.{i}") for i in range(4)]
ENGINE = EngineOptions(broker="redis://127.0.0.1:1/0")  # never contacted: no host has a site


def test_hosts_without_a_site_come_back_as_the_commands_own_results_in_order() -> None:
    seen: list[Answer] = []
    done: list[tuple[list[Answer], bool]] = []

    def local(hosts: list[Host], hooks: Hooks[Answer], stop: threading.Event) -> tuple[list[Answer], bool]:
        out = [Answer(h.name, f"ran {h.name}") for h in reversed(hosts)]  # any order
        for answer in out:
            hooks.finished(answer)
        return out, False

    results, interrupted = run_engine(
        HOSTS,
        kind="run",
        params={},
        options=FanoutOptions(),
        engine=ENGINE,
        local=local,
        decode=lambda data: Answer(str(data["name"]), "decoded"),
        fail=failed,
        hooks=Hooks(on_result=seen.append, on_done=lambda r, i: done.append((list(r), i))),
    )
    assert interrupted is False
    assert [r.text for r in results] == ["ran h0", "ran h1", "ran h2", "ran h3"]
    assert sorted(a.name for a in seen) == ["h0", "h1", "h2", "h3"]
    assert done == [(results, False)]


def test_a_host_the_local_run_never_reached_is_the_callers_failure() -> None:
    # The local run stopped after one host and returned only what its hooks saw.
    def local(hosts: list[Host], hooks: Hooks[Answer], stop: threading.Event) -> tuple[list[Answer], bool]:
        first = Answer(hosts[0].name, "ran")
        hooks.finished(first)
        return [first], True

    results, interrupted = run_engine(
        HOSTS,
        kind="run",
        params={},
        options=FanoutOptions(),
        engine=ENGINE,
        local=local,
        decode=lambda data: Answer("?", "decoded"),
        fail=failed,
    )
    assert interrupted is True
    assert results[0] == Answer("h0", "ran")
    assert [r.text for r in results[1:]] == ["failed: not run: interrupted"] * 3
    assert all(r.error is not None and r.error.kind is ErrorKind.ERROR for r in results[1:])


def _through_json(record: dict[str, object]) -> dict[str, object]:
    return json.loads(json.dumps(record))  # type: ignore[no-any-return]


def test_a_worker_sends_each_kinds_own_failure_for_a_host_it_cannot_run() -> None:
    host = Host(name="a1", address="10.0.1.1", groups=("branch",))
    error = HostError(ErrorKind.AUTH_FAILED, "site a worker: environment variable P is not set", sent=False)

    audit = kind_of("audit")
    record = _through_json(audit.record(3, "a", audit.fail(Failure(host, error))))
    assert record["index"] == 3 and record["site"] == "a"
    result = result_from_wire(record["result"])  # type: ignore[arg-type]
    assert isinstance(result, HostResult)
    assert (result.name, result.status) == ("a1", HostStatus.AUTH_FAILED)
    assert result.error is not None and result.error.to_dict() == error.to_dict()

    run = kind_of("run")
    answer = answer_from_wire(run.record(3, "a", run.fail(Failure(host, error)))["result"])
    assert isinstance(answer, HostRunResult)
    assert (answer.status, answer.groups) == (RunStatus.AUTH_FAILED, ("branch",))
    assert answer.error is not None and answer.error.to_dict() == error.to_dict()

    for name in ("remediate", "rollback"):
        kind = kind_of(name)
        item = remediation_from_wire(kind.record(3, "a", kind.fail(Failure(host, error)))["result"])
        assert isinstance(item, HostRemediation)
        assert (item.status, item.error) == (RemediateStatus.AUTH_FAILED, error)


def test_a_host_the_worker_refuses_is_reported_in_the_kinds_own_shape() -> None:
    record = _refused(kind_of("run"), 0, "a", {"name": "x1", "address": "10.0.0.9"}, "bad transport")
    answer = answer_from_wire(record["result"])
    assert (answer.name, answer.address, answer.status) == ("x1", "10.0.0.9", RunStatus.ERROR)
    assert (
        answer.error is not None and answer.error.message == "site a worker refused the host: bad transport"
    )
