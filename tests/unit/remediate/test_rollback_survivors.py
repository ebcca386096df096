"""Rollback where session 4's mutation run left survivors, against fake hosts
(tests/unit/remediate/fakehost), mirroring what remediation's tests pin: a rollback ended by an
exception says so in its journal; a run elsewhere clears the workaround from the file it was
given; a host in flight when the journal failed takes no lease; a host cancelled while its session
opened is sent nothing; an unreadable answer is a classified error; an abandoned host whose
restore then fails is journaled unknown once, and one whose unknown cannot be journaled stops
the run; a failed restore keeps its workaround; an ``smb:`` value is restored only from a DWORD."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.unit.remediate.fakehost import FakeFleet, FakeWindows, WaitsToAnswer, full_disk_on, sent_error
from tests.unit.remediate.helpers import (
    FS02,
    HOST,
    ONE,
    ZERO,
    HeldWindows,
    intent,
    journal_of,
    rollback_module,
    run_rollback,
    second_ctrl_c,
)
from toolkit.checks.facts import WORKSTATION_KEY, RegValue
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate.apply import RemediateHooks
from toolkit.remediate.journal import read_journal
from toolkit.remediate.model import HostRemediation, Outcome, Setting
from toolkit.remediate.rollback import restore_command, rollback, rollback_here
from toolkit.remediate.workarounds import load_workarounds, record_workaround

pytestmark = pytest.mark.usefixtures("state_dir")


def remediated() -> FakeWindows:
    """A host where remediation wrote client signing 1 (the journal's prior: 0)."""
    return FakeWindows("17763", client_signing=("DWord", 1))


def roll(tmp_path: Path, journal: Path, *hosts: Host, timeout: float = 30, forks: int = 1, **kw: Any) -> Any:
    return rollback(
        journal,
        inventory=Inventory(hosts or (HOST,), {}, "inline"),
        credentials={h.name: None for h in hosts or (HOST,)},
        rollback_journal=tmp_path / "rollback.jsonl",
        options=FanoutOptions(forks=forks, timeout=timeout, retries=0),
        lock_dir=tmp_path / "locks",
        **kw,
    )


def with_workaround(path: Path) -> None:
    """fs01's secure-negotiate workaround, recorded by the remediation run r1."""
    record_workaround(
        "fs01",
        setting="secure_negotiate",
        expires=datetime.now(UTC) + timedelta(hours=12),
        run_id="r1",
        journal="j.jsonl",
        address="192.0.2.5",
        path=path,
    )


def test_a_rollback_ended_by_an_exception_says_so_in_its_journal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def second_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    path = journal_of(tmp_path / "j.jsonl", intent())
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=remediated()))
    monkeypatch.setattr(rollback_module, "run_hosts", second_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        roll(tmp_path, path)
    end = json.loads((tmp_path / "rollback.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert end["type"] == "end" and end["interrupted"] is True and end["exit_code"] == 130


def test_a_rollback_run_elsewhere_clears_the_workaround_in_the_file_it_was_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent(setting="secure_negotiate", before=ONE, after=ZERO))
    box = FakeWindows("9600", secure_negotiate=("DWord", 0))
    workarounds = tmp_path / "site" / "workarounds.json"
    with_workaround(workarounds)

    def runner(work: Any, ctx: Any) -> tuple[list[Any], bool]:
        got: list[Any] = []
        interrupted = rollback_here(ctx, work, on_item=got.append)
        return got, interrupted

    run = run_rollback(monkeypatch, tmp_path, path, fs01=box, runner=runner, workaround_file=workarounds)
    assert run.hosts[0].checks[0].outcome is Outcome.RESTORED
    assert box.value(WORKSTATION_KEY, "RequireSecureNegotiate") == ("DWord", 1)
    assert load_workarounds(workarounds) == {}  # the workaround ended where it was recorded


def test_a_host_in_flight_when_the_rollback_journal_failed_takes_no_lease(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(
        tmp_path / "j.jsonl", intent(), intent("fs02", address="192.0.2.6", endpoint="192.0.2.6:5985")
    )
    failed, slow_asked = threading.Event(), threading.Event()
    values = dict(client_signing=("DWord", 1))
    slow = WaitsToAnswer(failed, slow_asked, **values)  # in flight: asked, answers after the failure
    first = WaitsToAnswer(slow_asked, **values)  # fails its intent once the other host is in flight
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=first, fs02=slow))
    full_disk_on(monkeypatch, "intent")

    def then_answer(item: HostRemediation) -> None:  # fs01's result: the run has reacted to it
        if item.name == "fs01":
            failed.set()

    run = roll(tmp_path, path, HOST, FS02, forks=2, hooks=RemediateHooks(on_result=then_answer))
    assert run.journal_error is not None and slow.commands  # it was in flight
    assert "New-ItemProperty" not in slow.commands and slow.lease is None
    assert slow.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)
    second = {h.name: h for h in run.hosts}["fs02"]
    assert second.error is not None and "no change was sent" in second.error.message


def test_a_host_cancelled_while_its_session_opened_is_sent_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = remediated()
    fleet = FakeFleet(fs01=box)

    def open_then_ctrl_c(host: Host, credential: Any, **kw: Any) -> Any:
        session = fleet(host, credential, **kw)
        second_ctrl_c()  # while connecting
        return session

    monkeypatch.setattr(rollback_module, "open_session", open_then_ctrl_c)
    run = roll(tmp_path, journal_of(tmp_path / "j.jsonl", intent()))
    assert box.commands == []
    (host,) = run.hosts
    assert host.error is not None and host.error.message == "interrupted; no change was sent"


class GarbledFirstRead(FakeWindows):
    def run(self, statements: Any, deadline: float) -> Any:
        from toolkit.transport.model import InvocationResult, PSValue

        super().run(statements, deadline)
        return InvocationResult(output=(PSValue("Int32", 42),))


def test_an_unreadable_first_answer_is_a_protocol_error_and_restores_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = GarbledFirstRead("17763", client_signing=("DWord", 1))
    path = journal_of(tmp_path / "j.jsonl", intent())
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    (host,) = run.hosts
    assert host.status.value == "protocol_error" and host.error is not None
    assert host.error.message.startswith("unexpected answer: ")
    assert "New-ItemProperty" not in box.commands and "Set-ItemProperty" not in box.commands


def test_an_abandoned_host_whose_restore_then_fails_is_journaled_unknown_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # fs01's restore hangs past its deadline: the fan-out journals it unknown; then, while the
    # rollback journal is still open, the restore fails with a transport error.
    box = HeldWindows(held="write", client_signing=("DWord", 1))
    box.fail_write = sent_error()
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=box))
    ended: list[bool] = []

    def judged(item: HostRemediation) -> None:  # fs01 timed out: its restore fails now
        ended.append(box.finish())

    path = journal_of(tmp_path / "j.jsonl", intent())
    # 1.5 s: ample for its reads, lease and journaled intent on a busy machine; only its held
    # restore outlasts it
    run = roll(tmp_path, path, timeout=1.5, hooks=RemediateHooks(on_result=judged))
    assert ended == [True]  # its worker was done before the rollback journal closed
    records = [(o.host, o.outcome) for o in read_journal(tmp_path / "rollback.jsonl").outcomes]
    assert records == [("fs01", "unknown")]
    (host,) = run.hosts
    assert host.status.value == "timeout"


def test_an_abandoned_host_whose_unknown_cannot_be_journaled_stops_the_rollback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = HeldWindows(held="write", client_signing=("DWord", 1))  # its restore hangs past the deadline
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=box))
    path = journal_of(tmp_path / "j.jsonl", intent())
    full_disk_on(monkeypatch, "outcome")
    run = roll(tmp_path, path, timeout=1.5)
    assert box.finish()  # the abandoned worker ends before the fixtures go
    assert run.journal_error is not None and "No space left on device" in run.journal_error
    assert run.exit_code == 2


def test_a_failed_restore_of_secure_negotiate_keeps_its_workaround(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent(setting="secure_negotiate", before=ONE, after=ZERO))
    box = FakeWindows("9600", secure_negotiate=("DWord", 0))
    box.ignore_writes = True  # a policy puts the weakened value back at once
    workarounds = tmp_path / "workarounds.json"
    with_workaround(workarounds)
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box, workaround_file=workarounds)
    assert run.hosts[0].checks[0].outcome is Outcome.FAILED
    # still weakened: the audit must keep reporting the workaround's expiry
    assert "secure_negotiate" in load_workarounds(workarounds)["fs01"]


def test_an_smb_setting_is_not_restored_from_a_qword() -> None:
    audit = Setting("audit_smb1", "Get-SmbServerConfiguration", "AuditSmb1Access", smb_type="bool")
    with pytest.raises(
        ValueError, match=re.escape("cannot restore 1 (QWord) through Get-SmbServerConfiguration")
    ):
        restore_command(audit, RegValue("QWord", 1))
