"""What session 4's full mutation run of toolkit/remediate found unpinned, against fake hosts
(tests/unit/remediate/fakehost): a second Ctrl-C while a write is in flight journals it as
unknown and the run forgets its canceller afterwards; a batch run elsewhere (the engine's
site workers) reports its hosts and whether it was interrupted; after the journal failed no
host is even connected to; a host whose intent the journal refused says nothing was written
to it."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.unit.remediate.fakehost import FakeFleet, FakeWindows, WaitsToAnswer, full_disk_on
from toolkit.checks.facts import WORKSTATION_KEY
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate import RemediateOptions, interrupt, read_journal, remediate
from toolkit.remediate import apply as apply_module
from toolkit.remediate.apply import RunContext, plan, work_here
from toolkit.remediate.model import HostRemediation, Outcome, RemediateRun

INVENTORY = Inventory((Host(name="fs01", address="192.0.2.5"),), {}, "inline")
OPTIONS = RemediateOptions(fanout=FanoutOptions(forks=1, timeout=30, retries=0))


def fix(tmp_path: Path, inventory: Inventory = INVENTORY, **kw: Any) -> RemediateRun:
    """``remediate`` of ``inventory`` (one host by default) with this file's defaults: no
    credential, a journal and lock folder under ``tmp_path``, one fork, no retry."""
    kw.setdefault("credentials", {h.name: None for h in inventory.hosts})
    kw.setdefault("journal", tmp_path / "j.jsonl")
    kw.setdefault("options", OPTIONS)
    kw.setdefault("lock_dir", tmp_path / "l")
    return remediate(inventory, **kw)


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def drifted() -> FakeWindows:
    return FakeWindows("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))


class CountingFleet(FakeFleet):
    """:class:`FakeFleet` that counts the sessions opened per host."""

    def __init__(self, **hosts: FakeWindows) -> None:
        super().__init__(**hosts)
        self.opened: list[str] = []

    def __call__(self, host: Host, credential: Any, **kw: Any) -> Any:
        self.opened.append(host.name)
        return super().__call__(host, credential, **kw)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals: main thread")
def test_a_second_ctrl_c_while_a_write_is_in_flight_journals_it_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    said: list[str] = []
    stop = threading.Event()
    with interrupt.interrupt_policy(stop, said.append):
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)

        def ctrl_c_twice(deadline: float) -> float:  # the writes went out, the answer is due
            handler(signal.SIGINT, None)
            handler(signal.SIGINT, None)
            return 0.0

        box.write_delay = ctrl_c_twice
        run = fix(tmp_path, stop=stop)
    assert "abandoned" in said[1]
    (host,) = run.hosts
    assert host.error is not None and "may have happened" in host.error.message
    assert 0 <= host.duration_s < 3600
    assert next(c for c in host.checks if c.id == "client_signing").outcome is Outcome.UNKNOWN
    journal = read_journal(tmp_path / "j.jsonl")
    assert journal.outcome_of("fs01", "client_signing") == "unknown" and journal.ended
    # the run is over: a later Ctrl-C has nothing of it left to cancel
    assert interrupt._CANCELLERS == []


@pytest.mark.parametrize("stopped", [False, True])
def test_a_batch_run_elsewhere_reports_its_hosts_and_whether_it_was_interrupted(
    monkeypatch: pytest.MonkeyPatch, stopped: bool
) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    got: list[HostRemediation] = []

    def runner(hosts: Any, ctx: RunContext) -> tuple[list[HostRemediation], bool]:
        stop = threading.Event()
        if stopped:
            stop.set()
        interrupted = work_here(ctx, hosts, options=OPTIONS.fanout, on_item=got.append, stop=stop)
        return got, interrupted

    run = plan(INVENTORY, credentials={"fs01": None}, options=OPTIONS, batch_runner=runner)
    assert run.interrupted is stopped
    if stopped:  # the host never started: nothing to report for it
        assert run.hosts == () and box.commands == []
    else:
        (host,) = run.hosts
        assert host.name == "fs01" and host.status.value == "drift" and host.error is None
        assert 0 <= host.duration_s < 3600
        assert {c.id: c.outcome for c in host.checks}["client_signing"] is Outcome.PENDING
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_after_the_journal_failed_no_host_is_even_connected_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fleet = CountingFleet(fs01=drifted())
    monkeypatch.setattr(apply_module, "open_session", fleet)

    def runner(hosts: Any, ctx: RunContext) -> tuple[list[HostRemediation], bool]:
        ctx.journal_error = "cannot write journal: No space left on device"  # an earlier batch's
        got: list[HostRemediation] = []
        work_here(ctx, hosts, options=OPTIONS.fanout, on_item=got.append)
        return got, False

    run = fix(tmp_path, batch_runner=runner)
    assert fleet.opened == [] and fleet.hosts["fs01"].commands == []
    (host,) = run.hosts
    assert host.status.value == "error" and host.checks == ()
    assert 0 <= host.duration_s < 3600


def test_a_host_whose_intent_the_journal_refused_says_nothing_was_written_to_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    full_disk_on(monkeypatch, "intent")
    run = fix(tmp_path)
    (host,) = run.hosts
    assert host.status.value == "error"
    assert host.error is not None and host.error.message == (
        "cannot write journal: No space left on device; nothing was written to this host"
    )
    assert 0 <= host.duration_s < 3600
    assert host.error.sent is False
    check = next(c for c in host.checks if c.id == "client_signing")
    assert check.outcome is Outcome.NOT_RUN and check.reason.startswith("not written: cannot write journal")


def test_a_finished_runs_end_record_says_how_it_ended(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=drifted()))
    journal = tmp_path / "j.jsonl"
    run = fix(tmp_path, journal=journal)
    end = json.loads(journal.read_text(encoding="utf-8").splitlines()[-1])
    assert end["type"] == "end" and end["interrupted"] is False and run.interrupted is False
    assert end["exit_code"] == run.exit_code == 0 and end["changes"] == {"changed": 1}


class FixedMeanwhile(FakeWindows):
    """Another run fixes the value between this run's read and its lease."""

    def run(self, statements: Any, deadline: float) -> Any:
        if any(s[0].name == "New-ItemProperty" for s in statements):
            self.registry[WORKSTATION_KEY]["RequireSecuritySignature"] = ("DWord", 1)
        return super().run(statements, deadline)


def test_a_host_fixed_by_another_run_meanwhile_is_compliant_and_not_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = FixedMeanwhile("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    journal = tmp_path / "j.jsonl"
    run = fix(tmp_path, journal=journal)
    (host,) = run.hosts
    assert host.status.value == "compliant" and host.error is None and 0 <= host.duration_s < 3600
    assert "Set-SmbClientConfiguration" not in box.commands and box.lease is None
    assert read_journal(journal).intents == ()


def test_a_host_cancelled_while_its_session_opened_is_sent_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    fleet = FakeFleet(fs01=box)

    def open_then_ctrl_c(host: Host, credential: Any, **kw: Any) -> Any:
        session = fleet(host, credential, **kw)
        for cancel in list(interrupt._CANCELLERS):  # the second Ctrl-C, while connecting
            cancel("interrupted")
        return session

    monkeypatch.setattr(apply_module, "open_session", open_then_ctrl_c)
    run = fix(tmp_path)
    assert box.commands == []
    (host,) = run.hosts
    assert host.status.value != "compliant" and host.checks == ()


class LeaseUnreadable(FakeWindows):
    """The lease value is neither created nor read back, without a permission error."""

    def run(self, statements: Any, deadline: float) -> Any:
        kept = [
            s
            for s in statements
            if not (s[0].name in ("New-ItemProperty", "Get-ItemProperty") and _is_lease(s))
        ]
        return super().run(kept, deadline)


def _is_lease(statement: Any) -> bool:
    from toolkit.remediate.lease import LEASE_KEY

    return any(p.name == "Path" and p.value == LEASE_KEY for p in statement[0].params)


def test_a_served_host_names_its_client_and_an_unreadable_lease_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=drifted()))
    served = fix(tmp_path, journal=tmp_path / "a.jsonl")
    assert served.hosts[0].transport == "lean"
    box = LeaseUnreadable("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path, journal=tmp_path / "b.jsonl")
    (host,) = run.hosts
    assert host.status.value == "error" and host.error is not None
    assert host.error.message == (
        "cannot take the host's lease: the lease value could not be created or read "
        "(not an administrator?); nothing was written"
    )
    assert 0 <= host.duration_s < 3600
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_a_lease_is_not_released_past_the_hosts_deadline() -> None:
    import time

    from toolkit.remediate.execute import release_lease
    from toolkit.remediate.lease import HostGuard

    box = drifted()
    box.lease = "held"
    session = FakeFleet(fs01=box)(Host(name="fs01", address="a"), None)
    release_lease(session, HostGuard(time.monotonic() - 1))
    assert box.lease == "held" and box.commands == []
    release_lease(session, HostGuard(time.monotonic() + 60))
    assert box.lease is None


def test_each_name_of_the_package_is_itself_and_only_plan_and_rollback_are_callable_modules() -> None:
    # A fresh interpreter: the package imports its names on first use, and the first use
    # here is an attribute access (``from toolkit.remediate import x`` goes through hasattr).
    import subprocess
    import sys

    code = (
        "import sys\nimport toolkit.remediate as r\n"
        "import toolkit.remediate.journal, toolkit.remediate.plan\n"
        "missing = [n for n in r.__all__ if getattr(r, n) is None]\n"
        "callable_modules = [n for n in ('journal', 'lease', 'plan') if callable(sys.modules['toolkit.remediate.' + n])]\n"
        "print(missing, callable_modules)\n"
        "raise SystemExit(1 if missing or callable_modules != ['plan'] else 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_host_not_started_after_the_journal_failed_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    boxes = {"fs01": drifted(), "fs02": drifted()}
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(**boxes))
    full_disk_on(monkeypatch, "intent")
    hosts = (Host(name="fs01", address="192.0.2.5"), Host(name="fs02", address="192.0.2.6"))
    run = fix(tmp_path, Inventory(hosts, {}, "inline"), credentials=dict.fromkeys(boxes))
    assert run.exit_code == 2 and not run.interrupted  # stopped by the journal, not by the operator
    second = run.hosts[1]
    assert second.error is not None and second.error.message == "not run: the journal could not be written"
    assert second.error.sent is False and boxes["fs02"].commands == []


def test_a_host_in_flight_when_the_journal_failed_takes_no_lease(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    failed, slow_asked = threading.Event(), threading.Event()
    values = dict(client_signing=("DWord", 0), server_signing=("DWord", 1))
    slow = WaitsToAnswer(failed, slow_asked, **values)  # in flight: asked, answers after the failure
    first = WaitsToAnswer(slow_asked, **values)  # fails its intent once the other host is in flight
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=first, fs02=slow))
    full_disk_on(monkeypatch, "intent")
    journal_failed = apply_module._Context.journal_failed

    def then_answer(self: Any, exc: Any) -> None:  # the run has reacted to the failure
        journal_failed(self, exc)
        failed.set()

    monkeypatch.setattr(apply_module._Context, "journal_failed", then_answer)
    hosts = (Host(name="fs01", address="192.0.2.5"), Host(name="fs02", address="192.0.2.6"))
    run = fix(
        tmp_path,
        Inventory(hosts, {}, "inline"),
        credentials={"fs01": None, "fs02": None},
        options=RemediateOptions(fanout=FanoutOptions(forks=2, timeout=30, retries=0)),
    )
    assert run.journal_error is not None and slow.commands  # it was in flight
    assert "New-ItemProperty" not in slow.commands and slow.lease is None
    assert slow.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_a_failed_canary_names_its_batch_in_the_report_and_the_skipped_hosts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    canary = drifted()
    canary.ignore_writes = True  # not confirmed by the read-back: a failed host
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=canary, fs02=drifted(), fs03=drifted()))
    hosts = tuple(Host(name=n, address=f"192.0.2.{i}") for i, n in enumerate(("fs01", "fs02", "fs03"), 5))
    batches: list[tuple[int, int]] = []
    run = fix(
        tmp_path,
        Inventory(hosts, {}, "inline"),
        credentials=dict.fromkeys(("fs01", "fs02", "fs03")),
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=30, retries=0), batch="1"),
        on_batch=lambda report, total: batches.append((report.number, total)),
    )
    assert [b.to_dict() for b in run.batches] == [
        {"number": 1, "hosts": ["fs01"], "failed": ["fs01"], "fail_percent": 100.0}
    ]
    assert batches == [(1, 3)]
    assert run.stopped == (
        "stopped after batch 1 of 3 (canary): 1 of 1 hosts failed (100% > --max-fail-percent 0); "
        "2 hosts in later batches not touched"
    )
    assert [h.error.message for h in run.hosts[1:] if h.error] == [
        "not run: rollout stopped after batch 1"
    ] * 2
    assert run.exit_code == 12  # still drifted (4) and hosts not reached (8)


def test_a_transport_error_after_the_writes_went_out_is_told_and_journaled_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.unit.remediate.fakehost import sent_error

    box = FakeWindows(
        "17763", client_signing=("DWord", 0), server_signing=("DWord", 1), secure_negotiate=("DWord", 1)
    )
    box.fail_write = sent_error()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    journal = tmp_path / "j.jsonl"
    run = fix(tmp_path, journal=journal)
    (host,) = run.hosts
    assert host.error is not None and host.error.message == (
        "connection reset by 192.0.2.5:5985; the writes were sent and may have happened (not retried)"
    )
    records = [(o.host, o.setting, o.outcome) for o in read_journal(journal).outcomes]
    assert records == [("fs01", "client_signing", "unknown")]
    # every setting is listed, the unwritten ones as they were planned
    assert {c.id: c.outcome for c in host.checks} == {
        "secure_negotiate": Outcome.COMPLIANT,
        "client_signing": Outcome.UNKNOWN,
        "server_signing": Outcome.COMPLIANT,
    }
    assert 0 <= host.duration_s < 3600


def test_a_verified_write_says_so_and_every_setting_is_listed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = FakeWindows(
        "17763", client_signing=("DWord", 0), server_signing=("DWord", 1), secure_negotiate=("DWord", 1)
    )
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path)
    (host,) = run.hosts
    checks = {c.id: c for c in host.checks}
    assert set(checks) == {"secure_negotiate", "client_signing", "server_signing"}
    assert checks["client_signing"].reason == "changed to 1 (DWord), verified by read-back"
    assert 0 <= host.duration_s < 3600


def test_a_journal_failing_on_the_outcome_says_the_outcome_is_not_journaled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    full_disk_on(monkeypatch, "outcome")
    run = fix(tmp_path)
    (host,) = run.hosts
    assert host.error is not None and host.error.message == (
        "cannot write journal: No space left on device; the outcome below is not in the journal"
    )
    assert {c.id: c.outcome for c in host.checks}["client_signing"] is Outcome.CHANGED
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)
    assert run.exit_code == 2


def test_a_workaround_that_cannot_be_recorded_stops_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from toolkit.inventory.model import Policy

    box = FakeWindows(
        "9600", secure_negotiate=("DWord", 1), client_signing=("DWord", 1), server_signing=("DWord", 1)
    )
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the workarounds' folder should be", encoding="utf-8")
    host = Host(name="fs01", address="192.0.2.5", policy=Policy(secure_negotiate="disabled"))
    run = fix(
        tmp_path,
        Inventory((host,), {}, "inline"),
        credentials={"fs01": None},
        allow_insecure=True,
        expires=datetime.now(UTC) + timedelta(hours=12),
        workaround_file=blocked / "workarounds.json",
    )
    assert run.journal_error is not None and run.journal_error.startswith(f"{blocked / 'workarounds.json'}")
    assert "cannot record the workaround" in run.journal_error and run.exit_code == 2


def test_an_abandoned_host_whose_write_then_fails_is_journaled_unknown_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import time

    from tests.unit.remediate.fakehost import sent_error

    # fs01's write answers with a transport error after its deadline (the fan-out already
    # journaled it unknown); fs02 keeps the journal open meanwhile.
    slow, later = drifted(), drifted()
    slow.write_delay = lambda deadline: max(0.0, deadline - time.monotonic()) + 0.6
    slow.fail_write = sent_error()
    later.write_delay = lambda deadline: 1.5
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=slow, fs02=later))
    hosts = tuple(Host(name=n, address=f"192.0.2.{i}") for i, n in enumerate(("fs01", "fs02"), 5))
    journal = tmp_path / "j.jsonl"
    fix(
        tmp_path,
        Inventory(hosts, {}, "inline"),
        credentials={"fs01": None, "fs02": None},
        journal=journal,
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=2.5, retries=0, backoff=0)),
    )
    records = [(o.host, o.setting, o.outcome) for o in read_journal(journal).outcomes]
    assert records.count(("fs01", "client_signing", "unknown")) == 1, records


def test_a_weakening_write_the_read_back_does_not_confirm_records_no_workaround(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from toolkit.inventory.model import Policy
    from toolkit.remediate.workarounds import load_workarounds

    box = FakeWindows(
        "9600", secure_negotiate=("DWord", 1), client_signing=("DWord", 1), server_signing=("DWord", 1)
    )
    box.ignore_writes = True
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    host = Host(name="fs01", address="192.0.2.5", policy=Policy(secure_negotiate="disabled"))
    run = fix(
        tmp_path,
        Inventory((host,), {}, "inline"),
        credentials={"fs01": None},
        allow_insecure=True,
        expires=datetime.now(UTC) + timedelta(hours=12),
        workaround_file=tmp_path / "workarounds.json",
    )
    assert {c.id: c.outcome for c in run.hosts[0].checks}["secure_negotiate"] is Outcome.FAILED
    assert load_workarounds(tmp_path / "workarounds.json") == {}


class GarbledReadBack(FakeWindows):
    """Takes the writes, then answers the read-back with something that is not registry keys."""

    def run(self, statements: Any, deadline: float) -> Any:
        answer = super().run(statements, deadline)
        if any(s[0].name.startswith("Set-") for s in statements):
            from toolkit.transport.model import InvocationResult, PSValue

            return InvocationResult(output=(PSValue("Int32", 42),))
        return answer


def test_an_unreadable_read_back_leaves_the_write_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = GarbledReadBack("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    journal = tmp_path / "j.jsonl"
    run = fix(tmp_path, journal=journal)
    check = {c.id: c for c in run.hosts[0].checks}["client_signing"]
    assert check.outcome is Outcome.UNKNOWN and check.reason.startswith("state unknown: read-back failed: ")
    assert read_journal(journal).outcome_of("fs01", "client_signing") == "unknown"
    assert run.hosts[0].error is not None and "1 of 1 writes not verified" in run.hosts[0].error.message


def test_batches_that_pass_go_on_and_a_failed_last_batch_stops_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    last = drifted()
    last.ignore_writes = True  # the last batch's host fails: nothing is left to stop
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=drifted(), fs02=drifted(), fs03=last))
    hosts = tuple(Host(name=n, address=f"192.0.2.{i}") for i, n in enumerate(("fs01", "fs02", "fs03"), 5))
    run = fix(
        tmp_path,
        Inventory(hosts, {}, "inline"),
        credentials=dict.fromkeys(("fs01", "fs02", "fs03")),
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=30, retries=0), batch="1"),
    )
    assert run.stopped is None and [b.number for b in run.batches] == [1, 2, 3]
    assert [h.status.value for h in run.hosts] == ["compliant", "compliant", "drift"]
    assert [h.batch for h in run.hosts] == [1, 2, 3]


def test_a_run_interrupted_before_its_hosts_start_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    stop = threading.Event()
    stop.set()
    run = fix(tmp_path, stop=stop)
    (host,) = run.hosts
    assert (
        host.error is not None and host.error.message == "not run: interrupted" and host.error.sent is False
    )
    assert run.interrupted and run.exit_code == 130 and run.journal_error is None and box.commands == []


class GarbledUnderLease(FakeWindows):
    """Grants the lease, then answers the reads under it with something that is not registry keys."""

    def run(self, statements: Any, deadline: float) -> Any:
        answer = super().run(statements, deadline)
        if any(s[0].name == "New-ItemProperty" for s in statements):
            from toolkit.transport.model import InvocationResult, PSValue

            lease = [o for o in answer.output if "psfleet" in str(getattr(o, "get", lambda _: "")("PSPath"))]
            return InvocationResult(output=(*lease, PSValue("Int32", 42)))
        return answer


def test_an_unreadable_answer_under_the_lease_writes_nothing_and_frees_the_lease(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = GarbledUnderLease("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path)
    (host,) = run.hosts
    assert host.error is not None and host.error.message.startswith("unexpected answer: ")
    check = {c.id: c for c in host.checks}["client_signing"]
    assert check.outcome is Outcome.NOT_RUN and check.reason.startswith("not written: unexpected answer: ")
    assert box.lease is None and box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_a_run_id_is_its_utc_start_and_eight_hex_digits() -> None:
    import re

    from toolkit.remediate.apply import new_run_id

    ids = {new_run_id() for _ in range(20)}
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", i) for i in ids), ids
    assert len(ids) == 20


def test_a_run_that_ends_by_an_exception_says_so_in_its_journal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def second_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=drifted()))
    monkeypatch.setattr(apply_module, "run_hosts", second_ctrl_c)
    journal = tmp_path / "j.jsonl"
    with pytest.raises(KeyboardInterrupt):
        fix(tmp_path, journal=journal)
    end = json.loads(journal.read_text(encoding="utf-8").splitlines()[-1])
    assert end["type"] == "end" and end["interrupted"] is True and end["exit_code"] == 130


def test_this_boxs_lock_is_freed_and_a_busy_host_has_its_duration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from toolkit.remediate.lease import LocalLock

    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=drifted()))
    locks = tmp_path / "locks"
    fix(tmp_path, journal=tmp_path / "a.jsonl", lock_dir=locks)
    (lock_file,) = locks.glob("*.lock")
    assert lock_file.read_text(encoding="utf-8") == ""  # released: no run id left in it
    held = LocalLock(locks, "fs01", "other-run")
    held.acquire()
    try:
        run = fix(tmp_path, journal=tmp_path / "b.jsonl", lock_dir=locks)
    finally:
        held.release()
    (host,) = run.hosts
    assert host.status.value == "busy" and 0 <= host.duration_s < 3600
    assert host.error is not None and host.error.sent is False


def test_an_abandoned_host_whose_unknown_cannot_be_journaled_stops_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import time

    box = drifted()
    box.write_delay = lambda deadline: max(0.0, deadline - time.monotonic()) + 0.6
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    full_disk_on(monkeypatch, "outcome")
    run = fix(
        tmp_path, options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=1.5, retries=0, backoff=0))
    )
    time.sleep(0.8)  # let the abandoned worker finish before the fixtures go
    assert run.journal_error is not None and "No space left on device" in run.journal_error
    assert run.exit_code == 2


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals: main thread")
def test_a_second_ctrl_c_after_the_fanout_ended_does_not_raise() -> None:
    stop = threading.Event()
    cancelled: list[str] = []
    with interrupt.interrupt_policy(stop, lambda _: None), interrupt.cancellable(cancelled.append):
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        with interrupt.in_fanout():
            pass  # the fan-out is over: the journal's end and the report come next
        handler(signal.SIGINT, None)
        handler(signal.SIGINT, None)  # no KeyboardInterrupt while the report is written
    assert cancelled == ["interrupted"] and stop.is_set()


class DeniedPerKey(FakeWindows):
    """Refuses registry writes, each refusal naming its own key."""

    def run(self, statements: Any, deadline: float) -> Any:
        from dataclasses import replace

        answer = super().run(statements, deadline)
        errors = tuple(replace(e, message=f"denied at {e.target}") for e in answer.errors)
        return replace(answer, errors=errors)


def test_each_refused_write_gets_its_own_keys_refusal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from toolkit.checks.facts import SERVER_KEY

    box = DeniedPerKey("7601", client_signing=("DWord", 0), server_signing=("DWord", 0))  # reg writes
    box.deny_writes = True
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path)
    (host,) = run.hosts
    reasons = {c.id: c.reason for c in host.checks}
    assert reasons["client_signing"] == f"not changed: denied at {WORKSTATION_KEY}"
    assert reasons["server_signing"] == f"not changed: denied at {SERVER_KEY}"
    assert host.status.value == "access_denied" and host.error is not None
    assert host.error.message.endswith("(not an administrator?); nothing was written (read-back unchanged)")


def test_a_write_that_does_not_hold_without_a_refusal_is_an_error_not_access_denied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.ignore_writes = True
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path)
    (host,) = run.hosts
    assert host.error is not None and host.error.kind.value == "error"
    assert host.error.message == (
        "1 of 1 writes not verified (client_signing: read back 0 (DWord), expected 1 (DWord)); 0 verified"
    )


class DeniedButChangedMeanwhile(FakeWindows):
    """Refuses the writes, while something else changes the value before the read-back."""

    def run(self, statements: Any, deadline: float) -> Any:
        if any(s[0].name == "Set-ItemProperty" for s in statements):
            self.registry[WORKSTATION_KEY]["RequireSecuritySignature"] = ("DWord", 5)
        return super().run(statements, deadline)


def test_refused_writes_with_a_read_back_that_moved_say_to_look_at_each_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = DeniedButChangedMeanwhile("7601", client_signing=("DWord", 0), server_signing=("DWord", 1))
    box.deny_writes = True
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path)
    (host,) = run.hosts
    assert host.status.value == "access_denied" and host.error is not None
    assert host.error.message.endswith("(not an administrator?); read-back differs, see each change")


class GarbledFirstRead(FakeWindows):
    def run(self, statements: Any, deadline: float) -> Any:
        from toolkit.transport.model import InvocationResult, PSValue

        super().run(statements, deadline)
        return InvocationResult(output=(PSValue("Int32", 42),))


def test_an_unreadable_first_answer_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    box = GarbledFirstRead("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path)
    (host,) = run.hosts
    assert (
        host.error is not None and host.error.message.startswith("unexpected answer: ") and host.checks == ()
    )
    assert "New-ItemProperty" not in box.commands
