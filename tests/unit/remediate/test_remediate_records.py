"""The journal's, the lease's and the run's records as a user reads them, pinned where session
4's mutation run of toolkit/remediate found them unpinned: the journal's directory is private
and its entry fsynced, a failed write is told once with the system's reason, a closed journal
holds no file open, salvage lists what it skipped; a long host name still recognises its own
dead lease holder; this box's lock waits for a holder to name itself, and gives up with
"unknown"; exit codes, batch percentages and host verdicts of the run's model; batch sizes and
expiries as typed."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from toolkit.checks.facts import WORKSTATION_KEY, RegValue
from toolkit.errors import JournalError, UsageError
from toolkit.remediate import journal as journal_module
from toolkit.remediate import lease as lease_module
from toolkit.remediate.journal import (
    JournalWriteError,
    JournalWriter,
    intent_record,
    parse_intent,
    read_journal,
)
from toolkit.remediate.lease import (
    LEASE_KEY,
    Busy,
    Cancelled,
    HostGuard,
    LeaseInfo,
    LocalLock,
    holder_dead,
    new_lease,
    split_lease_answer,
)
from toolkit.remediate.model import (
    BatchReport,
    HostRemediation,
    Outcome,
    RemediateRun,
    RemediateStatus,
    same_value,
    value_from_dict,
)
from toolkit.remediate.options import parse_batch, parse_expires
from toolkit.results import ErrorKind, HostError
from toolkit.transport.model import ErrorRecordData, InvocationResult, PSObj, PSValue

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _open_fds_to(path: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    out = []
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(path):
                out.append(fd.name)
        except OSError:
            continue
    return out


# -- the journal ---------------------------------------------------------------------------


def test_a_journal_directory_is_private_and_its_new_entry_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(journal_module, "fsync_directory", synced.append)
    path = tmp_path / "journals" / "j.jsonl"
    JournalWriter.create(path, {"run_id": "r1"}).close()
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert synced == [path.parent]


def test_a_journal_record_starts_with_its_type_as_written(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    JournalWriter.create(path, {"run_id": "r1", "command": "remediate"}).close()
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert list(json.loads(header)) == ["psfleet", "type", "run_id", "command"]


def test_a_failed_write_is_told_once_with_the_systems_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "fsync", no_space)
    with pytest.raises(JournalWriteError) as failed:
        JournalWriter.create(tmp_path / "a.jsonl", {"run_id": "r1"})
    assert failed.value.message == "cannot write journal: No space left on device"
    monkeypatch.undo()
    writer = JournalWriter.create(tmp_path / "b.jsonl", {"run_id": "r2"})
    monkeypatch.setattr(journal_module.os, "fsync", no_space)
    with pytest.raises(JournalWriteError):
        writer.append({"type": "outcome"})
    assert writer.failed == "No space left on device"
    writer.close()


def test_a_directory_entry_that_cannot_be_made_durable_is_a_journal_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(directory: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(journal_module, "fsync_directory", broken)
    path = tmp_path / "j.jsonl"
    with pytest.raises(JournalWriteError, match=r"cannot write journal: .*Input/output error"):
        JournalWriter.create(path, {"run_id": "r1"})
    assert not path.exists()


def test_a_closed_journal_holds_no_file_open(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = JournalWriter.create(path, {"run_id": "r1"})
    assert _open_fds_to(path)
    writer.close()
    assert _open_fds_to(path) == []
    with pytest.raises(JournalError, match="closed"):
        writer.append({"type": "outcome"})


def _intent(**changes: object) -> dict[str, object]:
    record = intent_record(
        run_id="r1",
        host="h1",
        address="10.0.0.1",
        setting="client_signing",
        path=WORKSTATION_KEY,
        name="RequireSecuritySignature",
        before=RegValue("DWord", 0),
        after=RegValue("DWord", 1),
        command="Set-ItemProperty ...",
    )
    record.update(changes)
    return record


def test_an_intent_names_its_baseline_and_digest_only_when_it_has_them() -> None:
    plain = _intent()
    assert plain["baseline"] is None and plain["baseline_digest"] is None
    named = intent_record(
        run_id="r1",
        host="h1",
        address="10.0.0.1",
        setting="client_signing",
        path=WORKSTATION_KEY,
        name="RequireSecuritySignature",
        before=RegValue("DWord", 0),
        after=RegValue("DWord", 1),
        command="x",
        baseline="smb-validate-negotiate",
        baseline_digest="abc123",
    )
    assert named["baseline"] == "smb-validate-negotiate" and named["baseline_digest"] == "abc123"
    assert parse_intent(1, named).baseline_digest == "abc123"
    assert parse_intent(1, plain).baseline_digest == ""


def test_an_intent_for_another_value_of_a_managed_key_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a value psfleet manages"):
        parse_intent(1, _intent(name="SomethingElse"))
    with pytest.raises(ValueError, match="is not a value psfleet manages"):
        parse_intent(1, _intent(path="HKLM:\\SOFTWARE\\Other"))


def test_salvage_lists_each_line_it_skipped_and_why(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = JournalWriter.create(path, {"run_id": "r1", "command": "remediate"})
    writer.close()
    with path.open("a", encoding="utf-8") as f:
        f.write("{not json\n")
        f.write(json.dumps({"type": "mystery"}) + "\n")
        f.write(json.dumps(_intent()) + "\n")
    journal = read_journal(path, salvage=True)
    assert [line for line, _ in journal.skipped] == [2, 3]
    assert journal.skipped[0][1].startswith("damaged record: ")
    assert journal.skipped[1][1] == "bad record: unknown record type 'mystery'"
    assert [i.line for i in journal.intents] == [4]


# -- the lease and this box's lock -----------------------------------------------------------


def test_a_long_host_name_still_recognises_its_own_dead_holder(monkeypatch: pytest.MonkeyPatch) -> None:
    long_name = "build-agent-" + "x" * 70
    monkeypatch.setattr(lease_module.socket, "gethostname", lambda: long_name)
    child = __import__("subprocess").Popen(["true"])
    child.wait()  # a pid that no longer runs
    holder = f"{long_name[:64]}:{child.pid}"
    assert lease_module.holder_id().startswith(long_name[:64] + ":")
    assert holder_dead(LeaseInfo("r1", NOW, holder)) is True


def test_a_holder_pid_owned_by_someone_else_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_yours(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(lease_module.os, "kill", not_yours)
    holder = f"{lease_module.socket.gethostname()[:64]}:4242"
    assert holder_dead(LeaseInfo("r1", NOW, holder)) is False


def test_a_lease_expires_on_a_whole_second() -> None:
    lease = new_lease("r1", 10.5)
    assert lease.expires.microsecond == 0 and ".000" not in lease.text()


def _psfleet_key(**props: PSValue) -> PSObj:
    path = PSValue("String", "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\SOFTWARE\\psfleet")
    return PSObj(("System.Management.Automation.PSCustomObject",), {**props, "PSPath": path})


def test_the_lease_answer_sets_the_lease_errors_apart_from_the_reads() -> None:
    lease_error = ErrorRecordData(
        "exists", "x", "ResourceExists", target=LEASE_KEY, activity="New-ItemProperty"
    )
    read_error = ErrorRecordData(
        "nope", "y", "ReadError", target="HKLM:\\SYSTEM\\x", activity="Get-ItemProperty"
    )
    text = LeaseInfo("r1", NOW, "box:1").text()
    held, rest = split_lease_answer(
        InvocationResult(
            output=(_psfleet_key(Lease=PSValue("String", text)), PSValue("Int32", 1)),
            errors=(lease_error, read_error),
            had_errors=True,
        )
    )
    assert held is not None and held.run_id == "r1"
    assert rest.errors == (read_error,) and rest.extra["lease_errors"] == (lease_error,)
    assert rest.output == (PSValue("Int32", 1),)


def test_a_lease_key_without_its_value_is_an_expired_unknown_lease() -> None:
    held, _ = split_lease_answer(InvocationResult(output=(_psfleet_key(),)))
    assert held is not None and held.run_id == "unknown" and held.expires == datetime.fromtimestamp(0, UTC)


def test_a_lease_holder_is_read_up_to_80_characters() -> None:
    text = json.dumps({"run_id": "r1", "expires": "2030-01-01T00:00:00+00:00", "holder": "h" * 200})
    assert lease_module.parse_lease(text).holder == "h" * 80


def _hold(path: Path, text: str) -> int:
    """Another process's flock on ``path`` holding ``text`` (an open file description of ours)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_this_boxs_lock_directory_is_private(tmp_path: Path) -> None:
    lock = LocalLock(tmp_path / "locks", "fs01", "r1")
    lock.acquire()
    lock.release()
    assert ((tmp_path / "locks").stat().st_mode & 0o777) == 0o700


def test_a_busy_lock_names_its_holder_read_up_to_200_characters_and_keeps_no_file_open(
    tmp_path: Path,
) -> None:
    lock = LocalLock(tmp_path, "fs01", "r2")
    fd = _hold(lock.path, "r" * 300)
    try:
        with pytest.raises(Busy) as busy:
            lock.acquire()
        assert busy.value.run_id == "r" * 200
        assert _open_fds_to(lock.path) == [str(fd)]
    finally:
        os.close(fd)


def test_a_lock_held_before_its_holder_named_itself_is_waited_for(tmp_path: Path) -> None:
    lock = LocalLock(tmp_path, "fs01", "r2")
    fd = _hold(lock.path, "")

    def name_itself() -> None:
        time.sleep(0.02)  # after the first look, well within the 50 looks 10 ms apart
        os.pwrite(fd, b"r1", 0)

    namer = threading.Thread(target=name_itself)
    namer.start()
    try:
        with pytest.raises(Busy) as busy:
            lock.acquire()
        assert busy.value.run_id == "r1"
    finally:
        namer.join()
        os.close(fd)


def test_a_lock_whose_holder_never_names_itself_is_busy_unknown(tmp_path: Path) -> None:
    lock = LocalLock(tmp_path, "fs01", "r2")
    fd = _hold(lock.path, "")
    try:
        with pytest.raises(Busy) as busy:
            lock.acquire()
        assert busy.value.run_id == "unknown"
    finally:
        os.close(fd)
    assert lock.path.read_text(encoding="utf-8") == ""  # nothing of ours written


def test_releasing_a_lock_not_held_does_nothing(tmp_path: Path) -> None:
    lock = LocalLock(tmp_path, "fs01", "r1")
    lock.release()
    lock.acquire()
    lock.release()
    lock.release()
    assert lock.path.read_text(encoding="utf-8") == ""


def test_a_guard_refuses_at_its_deadline_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease_module.time, "monotonic", lambda: 100.0)
    with pytest.raises(Cancelled, match="deadline passed"):
        HostGuard(100.0).check()
    HostGuard(100.5).check()


# -- the run's model -------------------------------------------------------------------------


def test_each_outcome_reads_as_its_check_status_and_failure() -> None:
    status = {o: o.check_status for o in Outcome}
    assert status[Outcome.COMPLIANT] == "compliant" and status[Outcome.NOT_APPLICABLE] == "not_applicable"
    assert status[Outcome.CHANGED] == status[Outcome.RESTORED] == "changed"
    assert {o for o, s in status.items() if s == "drift"} == set(Outcome) - {
        Outcome.COMPLIANT,
        Outcome.NOT_APPLICABLE,
        Outcome.CHANGED,
        Outcome.RESTORED,
    }
    assert {o for o in Outcome if o.failure} == {Outcome.FAILED, Outcome.UNKNOWN, Outcome.CONFLICT}


@pytest.mark.parametrize("data", [{}, "DWord", None, {"value": 1}])
def test_a_value_record_without_its_kind_is_refused(data: object) -> None:
    with pytest.raises(ValueError, match="must be an object with 'kind'"):
        value_from_dict(data)


def test_absent_equals_only_absent() -> None:
    absent, one = RegValue(None), RegValue("DWord", 1)
    assert same_value(absent, RegValue(None)) is True
    assert same_value(one, absent) is False and same_value(absent, one) is False
    assert same_value(one, RegValue("DWord", 1)) is True


def _host(status: RemediateStatus, *outcomes: Outcome, duration: float = 0.0) -> HostRemediation:
    from toolkit.remediate.model import SettingResult

    checks = tuple(
        SettingResult(
            id=f"s{n}",
            path="p",
            name="n",
            before=RegValue(None),
            after=None,
            command=None,
            reason="",
            rule="",
            outcome=o,
        )
        for n, o in enumerate(outcomes)
    )
    return HostRemediation(name="h", address="a", status=status, checks=checks, duration_s=duration)


def test_which_hosts_count_against_max_fail_percent() -> None:
    assert _host(RemediateStatus.SKIPPED).failed is False
    assert _host(RemediateStatus.UNREACHABLE).failed is True
    assert _host(RemediateStatus.DRIFT, Outcome.UNKNOWN).failed is True
    assert _host(RemediateStatus.COMPLIANT, Outcome.CHANGED).failed is False
    assert _host(RemediateStatus.DRIFT, Outcome.BLOCKED).failed is False


def test_a_hosts_document_rounds_its_duration_and_a_host_never_run_took_none() -> None:
    assert _host(RemediateStatus.COMPLIANT, duration=1.23456).to_dict()["duration_s"] == 1.235
    assert (
        HostRemediation(name="h", address="a", status=RemediateStatus.SKIPPED).to_dict()["duration_s"] == 0.0
    )


def test_a_batchs_fail_percent() -> None:
    report = BatchReport(1, ("a", "b", "c"), ("a",))
    assert report.fail_percent == pytest.approx(100 / 3)
    assert report.to_dict() == {"number": 1, "hosts": ["a", "b", "c"], "failed": ["a"], "fail_percent": 33.3}
    assert BatchReport(2, (), ()).fail_percent == 0.0
    assert BatchReport(3, ("a", "b"), ("a", "b")).fail_percent == 100.0


def _run(**fields: object) -> RemediateRun:
    hosts = (_host(RemediateStatus.COMPLIANT),)
    return RemediateRun(
        hosts=hosts, mode="apply", run_id="r", started="s", finished="f", inventory="i", version="v", **fields
    )  # type: ignore[arg-type]


def test_the_runs_exit_code_and_summary() -> None:
    assert _run().exit_code == 0
    assert _run(interrupted=True, journal_error="disk full").exit_code == 130
    assert _run(journal_error="disk full").exit_code == 2
    assert _run(skipped_lines=("j:3: bad record",)).exit_code == 2
    summary = _run().summary
    assert summary["compliant"] == 1 and summary["total"] == 1
    assert summary["drift"] == 0 and summary["busy"] == 0 and summary["error"] == 0


def test_a_host_error_of_each_kind_makes_its_status() -> None:
    assert RemediateStatus.from_error(HostError(ErrorKind.TIMEOUT, "x").kind).value == "timeout"


# -- options as typed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "total", "size"),
    [
        (None, 0, 1),
        ("  ", 7, 7),
        ("50%", 202, 101),
        ("100%", 10, 10),
        ("1%", 200, 2),
        ("0.5%", 1000, 5),
        ("10%", 0, 1),
        ("1", 5, 1),
    ],
)
def test_batch_sizes_as_typed(text: str | None, total: int, size: int) -> None:
    assert parse_batch(text, total) == size


@pytest.mark.parametrize("text", ["0%", "101%", "0", "-1", "x"])
def test_batch_sizes_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not a batch size"):
        parse_batch(text, 10)


def test_expiries_as_typed() -> None:
    assert parse_expires("1d", now=NOW) == NOW + timedelta(days=1)
    assert parse_expires("1m", now=NOW) == NOW + timedelta(minutes=1)
    with pytest.raises(UsageError, match="must be positive"):
        parse_expires("0h", now=NOW)
    with pytest.raises(UsageError, match="is in the past"):
        parse_expires(NOW.isoformat(), now=NOW)
    assert parse_expires((NOW + timedelta(seconds=1)).isoformat(), now=NOW) == NOW + timedelta(seconds=1)


def test_a_bad_records_reason_keeps_80_characters_and_cuts_longer_ones() -> None:
    assert journal_module._short("x" * 80) == "x" * 80
    assert journal_module._short("x" * 81) == "x" * 77 + "..."


def test_a_journal_whose_header_failed_keeps_no_file_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "fsync", no_space)
    path = tmp_path / "j.jsonl"
    with pytest.raises(JournalWriteError) as failed:
        JournalWriter.create(path, {"run_id": "r1"})
    assert failed.value is not None  # the failure (and its frames) still alive here
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    assert not [t for t in targets if t.startswith(str(path))]


def test_a_journal_keeps_non_ascii_text_as_written(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    JournalWriter.create(path, {"run_id": "r1", "inventory": "/srv/inventaire-été.yml"}).close()
    assert "inventaire-été.yml" in path.read_text(encoding="utf-8")
    assert read_journal(path).header["inventory"] == "/srv/inventaire-été.yml"
