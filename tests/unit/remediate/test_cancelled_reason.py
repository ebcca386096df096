"""A host whose worker the run itself stops (a second Ctrl-C, a journal that failed on another
host) or its deadline stops is reported with that reason and with whether a lease or write may
have gone out, for remediation and rollback alike. It used to be "error: no result", marked as
possibly sent, whatever had happened: the operator could not tell why, and a host that was sent
nothing looked like one that might have been changed. Against fake hosts
(tests/unit/remediate/fakehost). Also: a host whose answer psfleet cannot read reports the time
it took (it said 0 s)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.remediate.fakehost import FakeFleet, FakeWindows
from toolkit.checks.facts import RegValue
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate import RemediateOptions, interrupt, remediate
from toolkit.remediate import apply as apply_module
from toolkit.remediate.journal import JournalWriter, intent_record
from toolkit.remediate.lease import Cancelled, HostGuard
from toolkit.remediate.model import SETTINGS
from toolkit.remediate.rollback import rollback
from toolkit.results import ErrorKind

HOST = Host(name="fs01", address="192.0.2.5")
INVENTORY = Inventory((HOST,), {}, "inline")
OPTIONS = FanoutOptions(forks=1, timeout=30, retries=0)
rollback_module = sys.modules["toolkit.remediate.rollback"]


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def drifted() -> FakeWindows:
    return FakeWindows("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))


def ctrl_c_while_connecting(fleet: FakeFleet) -> Any:
    def open_session(host: Host, credential: Any, **kw: Any) -> Any:
        session = fleet(host, credential, **kw)
        for cancel in list(interrupt._CANCELLERS):  # the second Ctrl-C
            cancel("interrupted")
        return session

    return open_session


def remediate_fs01(tmp_path: Path) -> Any:
    return remediate(
        INVENTORY,
        credentials={"fs01": None},
        journal=tmp_path / "j.jsonl",
        options=RemediateOptions(fanout=OPTIONS),
        lock_dir=tmp_path / "l",
    )


def test_a_remediation_host_stopped_by_a_second_ctrl_c_says_so_and_that_nothing_was_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", ctrl_c_while_connecting(FakeFleet(fs01=box)))
    run = remediate_fs01(tmp_path)
    (host,) = run.hosts
    assert box.commands == []
    assert host.error is not None
    assert host.error.message == "interrupted; no change was sent"
    assert host.error.sent is False
    assert host.to_dict()["error"] == {"kind": "error", "message": "interrupted; no change was sent"}


def test_a_rollback_host_stopped_by_a_second_ctrl_c_says_so_and_that_nothing_was_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = FakeWindows("17763", client_signing=("DWord", 1), server_signing=("DWord", 1))
    journal = tmp_path / "j.jsonl"
    s = SETTINGS["client_signing"]
    writer = JournalWriter.create(journal, {"run_id": "r1", "command": "remediate", "inventory": "inline"})
    writer.append(
        intent_record(
            run_id="r1",
            host="fs01",
            address="192.0.2.5",
            endpoint="192.0.2.5:5985",
            setting="client_signing",
            path=s.path,
            name=s.name,
            before=RegValue("DWord", 0),
            after=RegValue("DWord", 1),
            command="Set-ItemProperty ...",
        ),
        {"type": "end", "run_id": "r1"},
    )
    writer.close()
    monkeypatch.setattr(rollback_module, "open_session", ctrl_c_while_connecting(FakeFleet(fs01=box)))
    run = rollback(
        journal,
        inventory=INVENTORY,
        credentials={"fs01": None},
        options=OPTIONS,
        lock_dir=tmp_path / "locks",
        rollback_journal=tmp_path / "rollback.jsonl",
    )
    (host,) = run.hosts
    assert box.value(s.path, s.name) == ("DWord", 1)  # not restored
    assert host.error is not None
    assert host.error.message == "interrupted; no change was sent"
    assert host.error.sent is False


def test_the_guard_names_the_reason_the_deadline_and_what_went_out() -> None:
    guard = HostGuard(time.monotonic() + 60)
    guard.cancel("the journal could not be written")
    with pytest.raises(Cancelled):
        guard.check()
    stopped = guard.stopped()
    assert (stopped.kind, stopped.message, stopped.sent) == (
        ErrorKind.ERROR,
        "the journal could not be written; no change was sent",
        False,
    )

    sending = HostGuard(time.monotonic() + 60)
    sending.sending()
    sending.cancel("interrupted")
    assert (sending.stopped().message, sending.stopped().sent) == ("interrupted", True)

    late = HostGuard(time.monotonic() - 1)
    with pytest.raises(Cancelled):
        late.check()
    assert (late.stopped().kind, late.stopped().sent) == (ErrorKind.TIMEOUT, False)


class SlowGarbledFirstRead(FakeWindows):
    """Answers the first read, after a while, with something that is not registry keys."""

    def run(self, statements: Any, deadline: float) -> Any:
        from toolkit.transport.model import InvocationResult, PSValue

        time.sleep(0.05)
        super().run(statements, deadline)
        return InvocationResult(output=(PSValue("Int32", 42),))


def test_a_host_with_an_unexpected_answer_reports_the_time_it_took(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = SlowGarbledFirstRead("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = remediate_fs01(tmp_path)
    (host,) = run.hosts
    assert host.error is not None and host.error.message.startswith("unexpected answer: ")
    assert host.to_dict()["duration_s"] >= 0.05  # it used to say 0
