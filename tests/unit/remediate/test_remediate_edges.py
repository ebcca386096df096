"""Edges of remediation that mutation testing found unpinned, against fake hosts
(tests/unit/remediate/fakehost): a dry run returns its plan and writes nothing, an applied run
ends its journal with the end record, journal names are free and land in the state directory,
a lease outlives the host's deadline by its margin and names this process, a lease text is
read up to 1,024 characters only, only a take-over removes the old lease, lease errors are
told from the reads' errors, a string prior is restorable up to 256 characters, a rollback
journal is named next to its journal, a workaround is recorded into a state directory not made
yet (mode 0700), rollback notes a cut journal and a missing end record, read errors are told
from write errors, a dry run takes the default options, and a journal that cannot take an
intent stops the run before the next host, without --allow-insecure no run weakens secure
negotiate, and writes refused for lack of rights (registry or SMB cmdlets) make the host
access_denied with each setting's refusal. The journal: names count up while taken, it is
created with its directory and a failed header leaves no file, blank lines are no records, a
DWORD prior must fit 32 bits, and the last outcome per (host, setting) counts. The host's lease:
another run's expired lease, or one whose holder on this box is gone, is taken over; a live one
makes the host busy and stays; a lease expiry without a zone is UTC; this box's lock names its
holder exactly, its file is private and named after the host, and it is free again after
release; a guard refuses from its deadline on; a damaged record's reason is cut at 80
characters."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.remediate.fakehost import FakeFleet, FakeWindows, full_disk_on
from toolkit.checks.facts import WORKSTATION_KEY, RegValue
from toolkit.errors import JournalError
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory, Policy
from toolkit.remediate import RemediateOptions, read_journal, remediate
from toolkit.remediate import apply as apply_module
from toolkit.remediate import journal as journal_module
from toolkit.remediate.apply import plan
from toolkit.remediate.execute import is_read_error, split_errors
from toolkit.remediate.journal import (
    Journal,
    JournalWriteError,
    JournalWriter,
    default_journal_path,
    free_journal_path,
    intent_record,
    outcome_record,
    parse_intent,
)
from toolkit.remediate.lease import (
    Busy,
    Cancelled,
    HostGuard,
    LocalLock,
    _is_lease_error,
    acquire_statements,
    holder_id,
    new_lease,
    parse_lease,
)
from toolkit.remediate.model import Outcome, RemediateStatus
from toolkit.remediate.rollback import default_rollback_journal, journal_notes
from toolkit.remediate.workarounds import load_workarounds, record_workaround
from toolkit.results import ErrorKind
from toolkit.transport.model import ErrorRecordData, InvocationResult

INVENTORY = Inventory((Host(name="fs01", address="192.0.2.5"),), {}, "inline")
OPTIONS = RemediateOptions(fanout=FanoutOptions(forks=1, timeout=30, retries=0))


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def drifted() -> FakeWindows:
    return FakeWindows("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))


def test_a_dry_run_returns_its_plan_and_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = plan(INVENTORY, credentials={"fs01": None}, options=OPTIONS)
    assert run.mode == "check" and [h.name for h in run.hosts] == ["fs01"]
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)
    assert "Set-ItemProperty" not in box.commands and box.lease is None


def test_an_applied_run_ends_its_journal_with_the_end_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    journal = tmp_path / "j.jsonl"
    run = remediate(
        INVENTORY, credentials={"fs01": None}, journal=journal, options=OPTIONS, lock_dir=tmp_path / "locks"
    )
    assert run.journal_error is None and box.value(WORKSTATION_KEY, "RequireSecuritySignature") == (
        "DWord",
        1,
    )
    assert read_journal(journal).ended
    last = json.loads(journal.read_text(encoding="utf-8").splitlines()[-1])
    assert last["type"] == "end" and last["run_id"] == run.run_id


def test_journal_names_are_free_and_land_in_the_state_directory(tmp_path: Path) -> None:
    first = free_journal_path(tmp_path, "rollback")
    assert first.parent == tmp_path and first.name.startswith("rollback-") and first.suffix == ".jsonl"
    first.touch()
    second = free_journal_path(tmp_path, "rollback")
    assert second != first and second.name.startswith(first.stem) and second.stem.endswith("-2")
    default = default_journal_path()
    assert default.parent == tmp_path / "state" / "journals" and default.name.startswith("remediate-")
    assert default_journal_path("rollback", directory=tmp_path).parent == tmp_path


def test_a_lease_outlives_the_hosts_deadline_by_its_margin() -> None:
    before = datetime.now(UTC)
    lease = new_lease("run-1", 30.0)
    after = datetime.now(UTC)
    assert before + timedelta(seconds=89) <= lease.expires <= after + timedelta(seconds=90)
    past = new_lease("run-2", -5.0)  # a deadline already gone: the margin only
    assert past.expires <= datetime.now(UTC) + timedelta(seconds=60)


def _lease_text(length: int) -> str:
    text = json.dumps({"run_id": "run-1", "expires": "2030-01-01T00:00:00+00:00", "holder": "h"})
    return text[:-1] + " " * (length - len(text)) + "}"


def test_a_lease_text_is_read_up_to_1024_characters_only() -> None:
    assert parse_lease(_lease_text(1024)).run_id == "run-1"
    longer = parse_lease(_lease_text(1025))  # cut inside: unreadable, an expired lease
    assert longer.run_id == "unknown" and longer.expires == datetime.fromtimestamp(0, UTC)


def test_a_lease_names_this_process_as_its_holder() -> None:
    holder = f"{socket.gethostname()[:64]}:{os.getpid()}"
    assert holder_id() == holder and new_lease("run-1", 10.0).holder == holder


def test_only_a_take_over_removes_the_old_lease_first() -> None:
    lease = new_lease("run-1", 10.0)
    names = [[c.name for c in statement] for statement in acquire_statements(lease)]
    taken = [[c.name for c in statement] for statement in acquire_statements(lease, take_over=True)]
    assert ["Remove-ItemProperty"] not in names and names[:2] == [
        ["New-Item", "Out-Null"],
        ["New-ItemProperty", "Out-Null"],
    ]
    assert taken[:3] == [["New-Item", "Out-Null"], ["Remove-ItemProperty"], ["New-ItemProperty", "Out-Null"]]


@pytest.mark.parametrize(
    ("activity", "target", "lease"),
    [
        ("New-Item", "", True),
        ("new-itemproperty", "", True),
        ("Remove-ItemProperty", "", True),
        ("Get-ItemProperty", "HKLM:\\SOFTWARE\\psfleet", True),
        ("Get-ItemProperty", "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters", False),
        ("Set-ItemProperty", "", False),
    ],
)
def test_errors_about_the_lease_are_told_from_the_reads(activity: str, target: str, lease: bool) -> None:
    assert _is_lease_error(activity, target) is lease


WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"


def _intent_with_prior(text: str) -> dict[str, object]:
    return intent_record(
        run_id="r1",
        host="h1",
        address="10.0.0.1",
        setting="secure_negotiate",
        path=WS,
        name="RequireSecureNegotiate",
        before=RegValue("String", text),
        after=RegValue("DWord", 1),
        command="Set-ItemProperty ...",
    )


def test_a_string_prior_is_restorable_up_to_256_characters() -> None:
    assert parse_intent(1, _intent_with_prior("0" * 256)).before.value == "0" * 256
    with pytest.raises(ValueError, match="longer than 256 characters"):
        parse_intent(1, _intent_with_prior("0" * 257))


def test_hosts_of_later_batches_are_skipped_untouched_after_a_failed_canary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    canary = drifted()
    canary.ignore_writes = True  # the write is not confirmed by the read-back: a failed host
    rest = {"fs02": drifted(), "fs03": drifted()}
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=canary, **rest))
    hosts = tuple(Host(name=n, address=f"192.0.2.{i}") for i, n in enumerate(("fs01", "fs02", "fs03"), 5))
    run = remediate(
        Inventory(hosts, {}, "inline"),
        credentials=dict.fromkeys(("fs01", "fs02", "fs03")),
        journal=tmp_path / "j.jsonl",
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=30, retries=0), batch="1"),
        lock_dir=tmp_path / "locks",
    )
    assert run.stopped and run.stopped.startswith("stopped after batch 1 of 3 (canary)")
    skipped = [h for h in run.hosts if h.name != "fs01"]
    assert [h.name for h in skipped] == ["fs02", "fs03"]
    for host in skipped:
        assert host.status is RemediateStatus.SKIPPED and host.batch in (2, 3)
        assert (
            host.error is not None and host.error.message.startswith("not run: ") and host.error.sent is False
        )
    for box in rest.values():
        assert box.commands == [] and box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_a_rollback_journal_gets_a_free_name_next_to_its_journal(tmp_path: Path) -> None:
    target = default_rollback_journal(tmp_path / "remediate-20260101T000000Z.jsonl")
    assert target.parent == tmp_path and target.name.startswith("remediate-20260101T000000Z.rollback-")
    assert target.suffix == ".jsonl" and not target.exists()


def test_a_workaround_is_recorded_into_a_state_directory_not_made_yet(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state" / "workarounds.json"
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    record_workaround(
        "fs01", setting="secure_negotiate", expires=expires, run_id="r1", journal="j", address="a", path=path
    )
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert load_workarounds(path)["fs01"]["secure_negotiate"] == expires


def test_rollback_notes_a_cut_journal_and_a_missing_end(tmp_path: Path) -> None:
    whole = Journal(tmp_path / "j.jsonl", {}, (), (), ended=True)
    assert journal_notes(whole) == []
    cut = Journal(tmp_path / "j.jsonl", {}, (), (), ended=False, damaged_line=7)
    notes = journal_notes(cut)
    assert len(notes) == 2 and notes[0].startswith(f"{tmp_path / 'j.jsonl'}:7: the journal is cut short")
    assert notes[1].startswith("the journal has no end record")


@pytest.mark.parametrize(
    ("error", "read"),
    [
        (ErrorRecordData("gone", "PathNotFound,X", "ObjectNotFound", activity="Get-ItemProperty"), True),
        (
            ErrorRecordData("gone", "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand", "X"),
            True,
        ),
        (ErrorRecordData("ERROR: not found", "NativeCommandError", "NotSpecified", activity="reg.exe"), True),
        (
            ErrorRecordData(
                "The term 'Get-SmbServerConfiguration' is not recognized",
                "CommandNotFoundException",
                "ObjectNotFound",
                target="Get-SmbServerConfiguration",
            ),
            True,
        ),
        (ErrorRecordData("denied", "UnauthorizedAccess,SetItemPropertyCommand", "PermissionDenied"), False),
    ],
)
def test_read_errors_go_to_the_parser_and_write_errors_stay_write_errors(
    error: ErrorRecordData, read: bool
) -> None:
    assert is_read_error(error) is read
    reads, writes = split_errors(InvocationResult(errors=(error,), had_errors=True))
    assert (reads.errors, writes) == (((error,), ()) if read else ((), (error,)))
    assert reads.had_errors is read


def test_a_dry_run_takes_the_default_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=drifted()))
    run = plan(INVENTORY, credentials={"fs01": None})
    assert run.mode == "check" and [h.name for h in run.hosts] == ["fs01"]


def test_a_journal_that_cannot_take_an_intent_stops_the_run_before_the_next_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    boxes = {"fs01": drifted(), "fs02": drifted()}
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(**boxes))
    full_disk_on(monkeypatch, "intent")
    hosts = (Host(name="fs01", address="192.0.2.5"), Host(name="fs02", address="192.0.2.6"))
    run = remediate(
        Inventory(hosts, {}, "inline"),
        credentials=dict.fromkeys(boxes),
        journal=tmp_path / "j.jsonl",
        options=OPTIONS,
        lock_dir=tmp_path / "locks",
    )
    assert run.journal_error and "No space left on device" in run.journal_error
    for box in boxes.values():  # no write went out, and the second host was never started
        assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)
        assert "Set-ItemProperty" not in box.commands
    assert boxes["fs02"].commands == []


def test_without_allow_insecure_no_run_weakens_secure_negotiate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = FakeWindows(
        "9600", secure_negotiate=("DWord", 1), client_signing=("DWord", 0), server_signing=("DWord", 1)
    )
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    host = Host(name="fs01", address="192.0.2.5", policy=Policy(secure_negotiate="disabled"))
    inventory = Inventory((host,), {}, "inline")
    dry = plan(inventory, credentials={"fs01": None}, options=OPTIONS)
    assert [s.outcome for h in dry.hosts for s in h.checks if s.id == "secure_negotiate"] == [Outcome.BLOCKED]
    remediate(
        inventory,
        credentials={"fs01": None},
        journal=tmp_path / "j.jsonl",
        options=OPTIONS,
        lock_dir=tmp_path / "l",
    )
    assert box.value(WORKSTATION_KEY, "RequireSecureNegotiate") == ("DWord", 1)  # not weakened
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)  # the safe fix is made


@pytest.mark.parametrize(
    ("build", "refusal"),
    [("7601", "Requested registry access is not allowed."), ("17763", "Access denied.")],  # reg / SMB cmdlets
)
def test_writes_refused_for_lack_of_rights_are_access_denied_and_nothing_was_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, build: str, refusal: str
) -> None:
    box = FakeWindows(build, client_signing=("DWord", 0), server_signing=("DWord", 0))
    box.deny_writes = True
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = remediate(
        INVENTORY,
        credentials={"fs01": None},
        journal=tmp_path / "j.jsonl",
        options=OPTIONS,
        lock_dir=tmp_path / "l",
    )
    (host,) = run.hosts
    assert host.error is not None and host.error.kind is ErrorKind.ACCESS_DENIED
    assert (
        host.error.message == f"{refusal} (not an administrator?); nothing was written (read-back unchanged)"
    )
    failed = {s.id: s for s in host.checks if s.id in ("client_signing", "server_signing")}
    assert set(failed) == {"client_signing", "server_signing"}
    for item in failed.values():
        assert item.outcome is Outcome.FAILED and refusal in (item.reason or "")


def test_journal_names_count_up_while_taken(tmp_path: Path) -> None:
    first = free_journal_path(tmp_path, "remediate")
    first.touch()
    free_journal_path(tmp_path, "remediate").touch()  # -2
    third = free_journal_path(tmp_path, "remediate")
    assert third.stem == first.stem + "-3"


def test_a_journal_is_created_with_its_directory_and_a_failed_header_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new" / "dir" / "j.jsonl"
    JournalWriter.create(path, {"run_id": "r1", "command": "remediate"}).close()
    assert read_journal(path).run_id == "r1"
    monkeypatch.setattr(journal_module.os, "fsync", _no_space)
    broken = tmp_path / "broken.jsonl"
    with pytest.raises(JournalWriteError, match="No space left on device"):
        JournalWriter.create(broken, {"run_id": "r2", "command": "remediate"})
    assert not broken.exists()


def _no_space(fd: int) -> None:
    raise OSError(28, "No space left on device")


def test_a_journal_is_read_with_or_without_its_last_newline(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    JournalWriter.create(path, {"run_id": "r1", "command": "remediate"}).close()
    whole = read_journal(path)
    assert whole.damaged_line is None and whole.header["run_id"] == "r1"
    path.write_text(path.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")  # blank lines are no records
    assert read_journal(path).damaged_line is None


@pytest.mark.parametrize(
    ("value", "ok"), [(0xFFFF_FFFF, True), (0x1_0000_0000, False), (0, True), (-1, False)]
)
def test_a_dword_prior_must_fit_32_bits(value: int, ok: bool) -> None:
    record = _intent_with_prior("0")
    record["before"] = {"kind": "DWord", "value": value}
    if ok:
        assert parse_intent(1, record).before.value == value
    else:
        with pytest.raises(ValueError, match="prior DWord out of range"):
            parse_intent(1, record)


def test_the_last_outcome_per_host_and_setting_is_the_one_that_counts(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = JournalWriter.create(path, {"run_id": "r1", "command": "remediate"})
    writer.append(
        outcome_record(run_id="r1", host="h1", setting="secure_negotiate", outcome="sent"),
        outcome_record(run_id="r1", host="h2", setting="secure_negotiate", outcome="unknown"),
        outcome_record(run_id="r1", host="h1", setting="secure_negotiate", outcome="changed"),
        outcome_record(run_id="r1", host="h1", setting="client_signing", outcome="failed"),
    )
    writer.close()
    journal = read_journal(path)
    assert journal.outcome_of("h1", "secure_negotiate") == "changed"
    assert journal.outcome_of("h2", "secure_negotiate") == "unknown"
    assert journal.outcome_of("h1", "server_signing") is None


def _held(expires: datetime, holder: str = "otherbox.example:4242") -> str:
    return json.dumps({"run_id": "other-run", "expires": expires.isoformat(), "holder": holder})


def _apply(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, box: FakeWindows):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    return remediate(
        INVENTORY,
        credentials={"fs01": None},
        journal=tmp_path / "j.jsonl",
        options=OPTIONS,
        lock_dir=tmp_path / "l",
    )


def test_an_expired_lease_of_another_run_is_taken_over(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.lease = _held(datetime.now(UTC) - timedelta(minutes=5))
    run = _apply(monkeypatch, tmp_path, box)
    assert run.hosts[0].error is None and "Remove-ItemProperty" in box.commands
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)


def test_a_live_lease_of_another_run_makes_the_host_busy_and_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.lease = held = _held(datetime.now(UTC) + timedelta(minutes=5))
    run = _apply(monkeypatch, tmp_path, box)
    (host,) = run.hosts
    assert (
        host.status is RemediateStatus.BUSY and host.error is not None and "other-run" in host.error.message
    )
    assert box.lease == held and "Remove-ItemProperty" not in box.commands
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_a_live_lease_whose_holder_on_this_box_is_gone_is_taken_over(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.lease = _held(
        datetime.now(UTC) + timedelta(minutes=5), holder=f"{socket.gethostname()[:64]}:999999999"
    )
    run = _apply(monkeypatch, tmp_path, box)
    assert run.hosts[0].error is None and box.value(WORKSTATION_KEY, "RequireSecuritySignature") == (
        "DWord",
        1,
    )


def test_a_damaged_records_reason_is_cut_at_80_characters(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    JournalWriter.create(path, {"run_id": "r1", "command": "remediate"}).close()
    with path.open("a", encoding="utf-8") as f:  # a record json cannot read, then a good one
        f.write("1" * 5000 + "\n")
        f.write(
            json.dumps(outcome_record(run_id="r1", host="h1", setting="secure_negotiate", outcome="sent"))
            + "\n"
        )
    try:
        json.loads("1" * 5000)
    except ValueError as exc:
        reason = str(exc)
    assert len(reason) > 80
    with pytest.raises(JournalError) as damaged:
        read_journal(path)
    assert str(damaged.value).endswith(f":2: damaged record: {reason[:77]}...")


@pytest.mark.parametrize(
    ("expires", "moment"),
    [
        ("2030-01-01T00:00:00", datetime(2030, 1, 1, tzinfo=UTC)),  # naive: UTC
        ("2030-01-01T02:00:00+02:00", datetime(2030, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_lease_expiry_without_a_zone_is_utc(expires: str, moment: datetime) -> None:
    assert parse_lease(json.dumps({"run_id": "r", "expires": expires})).expires == moment


def test_this_boxs_lock_names_its_holder_exactly(tmp_path: Path) -> None:
    first = LocalLock(tmp_path, "fs01", "r1")
    first.path.parent.mkdir(parents=True, exist_ok=True)
    first.path.write_text("a-much-longer-run-id-left-behind-by-an-earlier-run", encoding="utf-8")
    first.acquire()
    try:
        assert first.path.read_text(encoding="utf-8") == "r1"
        with pytest.raises(Busy) as busy:
            LocalLock(tmp_path, "fs01", "r2").acquire()
        assert busy.value.run_id == "r1"
    finally:
        first.release()
    assert first.path.read_text(encoding="utf-8") == ""


def test_a_lease_run_id_is_read_up_to_80_printable_characters() -> None:
    lease = parse_lease(
        json.dumps({"run_id": "r" * 200, "expires": "2030-01-01T00:00:00+00:00", "holder": "h x"})
    )
    assert lease.run_id == "r" * 80 and lease.holder == "h?x"


def test_this_boxs_lock_file_is_private_named_after_the_host_and_free_again_after_release(
    tmp_path: Path,
) -> None:
    host = "fs01.corp.example/" + "x" * 60
    lock = LocalLock(tmp_path, host, "r1")
    digest = hashlib.sha256(host.encode()).hexdigest()[:16]
    assert lock.path == tmp_path / f"{('fs01.corp.example_' + 'x' * 60)[:48]}-{digest}.lock"
    lock.acquire()
    assert (lock.path.stat().st_mode & 0o777) == 0o600
    lock.release()
    again = LocalLock(tmp_path, host, "r2")
    again.acquire()  # the flock went with the released handle
    again.release()


def test_a_guard_refuses_from_its_deadline_on_and_says_what_is_left() -> None:
    now = time.monotonic()
    past = HostGuard(now - 0.001)
    with pytest.raises(Cancelled, match="deadline passed"):
        past.check()
    assert past.remaining() < 0
    ahead = HostGuard(now + 60)
    ahead.sending()
    assert 59 < ahead.remaining() <= 60 and ahead.cancel("stop") is True
    with pytest.raises(Cancelled, match="stop"):
        ahead.check()
