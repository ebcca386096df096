"""Remediation's guards against fake hosts (tests/unit/remediate/fakehost): this box's lock on a
host (busy while another run holds it, free again after a run), a lease the account may not
take, a write the read-back does not confirm, and the two-step Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from tests.unit.remediate.fakehost import FakeFleet, FakeWindows
from toolkit.checks.facts import WORKSTATION_KEY
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate import RemediateOptions, read_journal, remediate
from toolkit.remediate import apply as apply_module
from toolkit.remediate.apply import RemediateHooks
from toolkit.remediate.interrupt import cancellable, in_fanout, interrupt_policy
from toolkit.remediate.lease import LocalLock
from toolkit.remediate.model import HostRemediation, Outcome


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def drifted() -> FakeWindows:
    return FakeWindows("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))


def run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, box: FakeWindows, name: str = "j.jsonl", **kw: object
):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    journal = tmp_path / name
    result = remediate(
        Inventory((Host(name="fs01", address="192.0.2.5"),), {}, "inline"),
        credentials={"fs01": None},
        journal=journal,
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=30, retries=0)),
        lock_dir=tmp_path / "locks",
        **kw,  # type: ignore[arg-type]
    )
    return result, read_journal(journal)


def test_a_host_locked_by_another_run_of_this_box_is_busy_and_untouched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    other = LocalLock(tmp_path / "locks", "fs01", "other-run")
    other.acquire()
    seen: list[HostRemediation] = []
    try:
        result, journal = run(monkeypatch, tmp_path, box, hooks=RemediateHooks(on_result=seen.append))
    finally:
        other.release()
    (host,) = result.hosts
    assert host.status.value == "busy" and "other-run" in (host.error.message if host.error else "")
    assert journal.intents == () and not [c for c in box.commands if c.startswith("Set-")]
    # progress hooks see the host's own status, as the report does ("busy", not "error")
    assert [(r.name, r.status.value) for r in seen] == [("fs01", "busy")]


def test_a_run_frees_its_lock_so_the_next_run_gets_the_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    first, _ = run(monkeypatch, tmp_path, box, "one.jsonl")
    box.registry[WORKSTATION_KEY]["RequireSecuritySignature"] = ("DWord", 0)  # drifted again
    second, journal = run(monkeypatch, tmp_path, box, "two.jsonl")
    assert first.hosts[0].status.value == second.hosts[0].status.value == "compliant"
    assert journal.outcome_of("fs01", "client_signing") == "changed"
    assert box.lease is None  # the host's lease is released too


def test_a_lease_the_account_may_not_take_is_access_denied_and_nothing_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.deny_lease = True
    result, journal = run(monkeypatch, tmp_path, box)
    (host,) = result.hosts
    assert host.status.value == "access_denied"
    assert host.error is not None and "nothing was written" in host.error.message
    check = next(c for c in host.checks if c.id == "client_signing")
    assert check.outcome is Outcome.NOT_RUN and check.reason.startswith("not written: ")
    assert journal.intents == () and not [c for c in box.commands if c.startswith("Set-")]


def test_a_write_the_read_back_does_not_confirm_is_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.ignore_writes = True
    result, journal = run(monkeypatch, tmp_path, box)
    (host,) = result.hosts
    assert host.status.value == "drift"
    assert host.error is not None and "1 of 1 writes not verified" in host.error.message
    assert "read back 0 (DWord), expected 1 (DWord)" in host.error.message
    assert journal.outcome_of("fs01", "client_signing") == "failed"


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals: main thread")
def test_ctrl_c_stops_starting_hosts_then_cancels_those_in_flight() -> None:
    stop = threading.Event()
    said: list[str] = []
    cancelled: list[str] = []
    before = signal.getsignal(signal.SIGINT)
    with interrupt_policy(stop, said.append), cancellable(cancelled.append):
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler) and handler is not before
        handler(signal.SIGINT, None)
        assert stop.is_set() and cancelled == [] and "no new hosts start" in said[0]
        with in_fanout(), pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)
        assert cancelled == ["interrupted"] and "abandoned" in said[1]
        handler(signal.SIGINT, None)  # a third: ignored, the report is on its way
        assert cancelled == ["interrupted"] and "already stopping" in said[2]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_ctrl_c_outside_the_fanout_cancels_without_raising() -> None:
    stop = threading.Event()
    cancelled: list[str] = []
    with interrupt_policy(stop, lambda _: None), cancellable(cancelled.append):
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        handler(signal.SIGINT, None)
        handler(signal.SIGINT, None)  # not inside run_hosts: no KeyboardInterrupt
    assert cancelled == ["interrupted"]


def test_the_state_directory_follows_psfleet_then_xdg_then_home(tmp_path: Path) -> None:
    from toolkit.remediate.journal import state_dir

    assert state_dir({"PSFLEET_STATE_DIR": "/p", "XDG_STATE_HOME": "/x"}) == Path("/p")
    assert state_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/psfleet")
    assert state_dir({"PSFLEET_STATE_DIR": "", "XDG_STATE_HOME": ""}) == Path.home() / ".local/state/psfleet"


def test_a_verified_required_ends_the_hosts_workaround(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from toolkit.remediate.workarounds import load_workarounds, record_workaround

    workarounds = tmp_path / "workarounds.json"
    record_workaround(
        "fs01",
        setting="secure_negotiate",
        expires=datetime.now(UTC) - timedelta(days=1),  # expired: the audit wants required back
        run_id="old",
        journal="old.jsonl",
        address="192.0.2.5",
        path=workarounds,
    )
    box = FakeWindows(
        "9600", secure_negotiate=("DWord", 0), client_signing=("DWord", 1), server_signing=("DWord", 1)
    )
    result, _ = run(monkeypatch, tmp_path, box, workaround_file=workarounds)
    assert result.hosts[0].status.value == "compliant", result.hosts[0]
    assert box.value(WORKSTATION_KEY, "RequireSecureNegotiate") == ("DWord", 1)
    assert "fs01" not in load_workarounds(workarounds)
