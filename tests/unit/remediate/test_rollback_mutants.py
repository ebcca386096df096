"""Rollback's refusals, notes and warnings, pinned where session 4's mutation run of
toolkit/remediate/rollback.py found them unpinned, against fake hosts: a host the inventory
places elsewhere than the journal (by endpoint, by address in older journals, by inventory
file in the oldest) is refused unless --force, which says so; a host the inventory lacks is
refused; a conflict is left alone unless --force; the notes on a cut journal, a missing end
record and skipped lines; warnings for later remediations of the same values (and only
those); the rollback journal's own records; an interrupted or refused restore."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

from tests.unit.checks.helpers import dword
from tests.unit.remediate.fakehost import FakeFleet, FakeWindows, full_disk_on, sent_error
from tests.unit.remediate.helpers import HOST, ONE, ZERO, intent, journal_of, rollback_module, run_rollback
from toolkit.checks.facts import WORKSTATION_KEY, RegValue
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate.journal import intent_record, read_journal
from toolkit.remediate.model import SETTINGS, Outcome
from toolkit.remediate.rollback import host_mismatches, journal_notes, later_writes, rollback


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def test_a_host_the_inventory_places_elsewhere_is_refused_unless_forced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent(endpoint="192.0.2.9:5985", address="192.0.2.9"))
    box = FakeWindows("17763", client_signing=("DWord", 1))
    refused = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    (host,) = refused.hosts
    assert host.status.value == "error" and host.error is not None and host.error.sent is False
    assert host.error.message == (
        "fs01: the journal wrote to 192.0.2.9:5985, the inventory says 192.0.2.5:5985; "
        "refused (--force to roll back anyway)"
    )
    assert box.commands == [] and box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)
    assert not [n for n in refused.notes if n.startswith("--force")]
    forced = run_rollback(
        monkeypatch, tmp_path, path, fs01=box, force=True, rollback_journal=tmp_path / "forced.jsonl"
    )
    assert forced.notes[0].startswith(
        "--force: rolling back despite fs01: the journal wrote to 192.0.2.9:5985"
    )
    assert forced.hosts[0].checks[0].outcome is Outcome.RESTORED
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_older_journals_are_matched_by_address_then_by_inventory_file(tmp_path: Path) -> None:
    inventory = Inventory((HOST, Host(name="fs02", address="192.0.2.6")), {}, str(tmp_path / "hosts.yaml"))
    by_address = read_journal(
        journal_of(
            tmp_path / "a.jsonl",
            intent(address="192.0.2.9", endpoint=""),
            intent("fs02", address="192.0.2.6", endpoint=""),
            intent("fs03", address="192.0.2.7", endpoint=""),  # not in the inventory: not judged here
        )
    )
    assert host_mismatches(by_address, inventory) == [
        ("fs01", "fs01: the journal wrote to 192.0.2.9, the inventory says 192.0.2.5")
    ]
    no_address = journal_of(tmp_path / "b.jsonl", intent(address="", endpoint=""), inventory="other.yaml")
    assert host_mismatches(read_journal(no_address), inventory) == [
        ("fs01", f"fs01: the journal was written with inventory other.yaml, not {tmp_path / 'hosts.yaml'}")
    ]
    same = journal_of(
        tmp_path / "c.jsonl", intent(address="", endpoint=""), inventory=str(tmp_path / "hosts.yaml")
    )
    assert host_mismatches(read_journal(same), inventory) == []
    unnamed = journal_of(tmp_path / "d.jsonl", intent(address="", endpoint=""), inventory="")
    assert host_mismatches(read_journal(unnamed), inventory) == [
        ("fs01", f"fs01: the journal was written with inventory ?, not {tmp_path / 'hosts.yaml'}")
    ]


def test_a_host_the_inventory_lacks_is_refused_and_the_others_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent(), intent("fs09", address="192.0.2.99", endpoint=""))
    box = FakeWindows("17763", client_signing=("DWord", 1))
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    assert [h.name for h in run.hosts] == ["fs01", "fs09"]
    missing = run.hosts[1]
    assert missing.error is not None and missing.error.message == (
        "not in the inventory: cannot connect to roll it back"
    )
    assert missing.address == "192.0.2.99" and missing.status.value == "error"
    assert run.hosts[0].checks[0].outcome is Outcome.RESTORED


def test_a_value_changed_since_is_a_conflict_left_alone_unless_forced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 7))
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    check = run.hosts[0].checks[0]
    assert (
        check.outcome is Outcome.CONFLICT and "changed since the remediation: now 7 (DWord)" in check.reason
    )
    assert run.hosts[0].failed and "Set-ItemProperty" not in box.commands
    forced = run_rollback(
        monkeypatch, tmp_path, path, fs01=box, force=True, rollback_journal=tmp_path / "f.jsonl"
    )
    assert forced.hosts[0].checks[0].outcome is Outcome.RESTORED
    assert forced.hosts[0].checks[0].reason == "restored 0 (DWord), verified by read-back"
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_a_restore_refused_by_the_host_is_not_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))
    box.deny_writes = True
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    (host,) = run.hosts
    check = host.checks[0]
    assert check.outcome is Outcome.FAILED and check.reason.startswith("not restored: ")
    assert host.error is not None and host.status.value == "access_denied"
    assert box.lease is None  # released after the refused restore
    records = read_journal(tmp_path / "rollback.jsonl")
    assert records.outcome_of("fs01", "client_signing") == "failed"


def test_a_transport_error_after_a_restore_went_out_is_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))
    box.fail_write = sent_error()
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    (host,) = run.hosts
    assert (
        host.error is not None
        and "the restores were sent and may have happened (not retried)" in host.error.message
    )
    assert read_journal(tmp_path / "rollback.jsonl").outcome_of("fs01", "client_signing") == "unknown"
    assert box.commands.count("Set-ItemProperty") == 1


def test_the_rollback_journal_records_its_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent(), run_id="r1")
    box = FakeWindows("17763", client_signing=("DWord", 1))
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    own = read_journal(tmp_path / "rollback.jsonl")
    assert own.header["command"] == "rollback" and own.header["source_run_id"] == "r1"
    assert own.header["source_journal"] == str(path) and own.header["hosts"] == 1
    assert own.header["force"] is False and own.header["salvage"] is False
    assert own.ended and own.run_id == run.run_id
    end = json.loads((tmp_path / "rollback.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert end["type"] == "end" and end["interrupted"] is False and end["exit_code"] == 0
    assert str(tmp_path / "rollback.jsonl") not in _open_files()  # the rollback journal is closed
    assert [(i.host, i.before, i.after) for i in own.intents] == [("fs01", dword(1), dword(0))]
    assert run.exit_code == 0 and not run.interrupted and run.journal == str(tmp_path / "rollback.jsonl")


def _open_files() -> list[str]:
    out = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            out.append(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
    return out


def test_a_stopped_rollback_starts_no_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))
    stop = threading.Event()
    stop.set()
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box, stop=stop)
    assert run.interrupted and run.exit_code == 130 and box.commands == []
    assert read_journal(tmp_path / "rollback.jsonl").ended


def test_notes_on_a_cut_journal_a_missing_end_and_skipped_lines(tmp_path: Path) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent(), end=False)
    with path.open("a", encoding="utf-8") as f:
        f.write('{"type": "mystery"}\n{"type": "outc')
    journal = read_journal(path, salvage=True)
    notes = journal_notes(journal)
    assert notes[0].startswith(f"{path}:4: the journal is cut short there")
    assert (
        notes[1]
        == "the journal has no end record: the remediation did not finish (crash, kill, or cut short)"
    )
    assert notes[2] == f"{path}:3: skipped (bad record: unknown record type 'mystery')"
    assert len(notes) == 3
    ended = read_journal(journal_of(tmp_path / "ok.jsonl", intent()))
    assert journal_notes(ended) == []


def test_warnings_for_later_remediations_of_the_same_values_only(tmp_path: Path) -> None:
    folder = tmp_path / "journals"
    folder.mkdir()
    mine = read_journal(journal_of(folder / "a.jsonl", intent(), run_id="r1"))
    later = intent()
    later["time"] = "9999-01-01T00:00:00+00:00"
    earlier = intent()
    earlier["time"] = "0001-01-01T00:00:00+00:00"
    other_setting = intent(setting="server_signing")
    other_setting["time"] = later["time"]
    journal_of(folder / "b.jsonl", later, other_setting, run_id="r2")
    journal_of(folder / "c.jsonl", earlier, run_id="r3")
    journal_of(folder / "d.jsonl", later, run_id="r1")  # the same run's other journal: not later
    rolled = journal_of(folder / "e.jsonl", later, run_id="r4")
    text = rolled.read_text(encoding="utf-8").replace('"command": "remediate"', '"command": "rollback"', 1)
    rolled.write_text(text, encoding="utf-8")
    (folder / "broken.jsonl").write_text("not a journal\n", encoding="utf-8")
    warnings = later_writes(mine, ["fs01"], [folder, folder])
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"warning: fs01 client_signing was written again by run r2 ({folder / 'b.jsonl'}:2) after this journal"
    )
    assert later_writes(mine, ["fs02"], [folder]) == []
    assert later_writes(mine, ["fs01"], [tmp_path / "nowhere"]) == []


def test_salvaged_lines_are_listed_and_the_rollback_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent())
    with path.open("a", encoding="utf-8") as f:
        f.write('{"type": "mystery"}\n')
    box = FakeWindows("17763", client_signing=("DWord", 1))
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box, salvage=True)
    assert run.skipped_lines == (f"{path}:4: bad record: unknown record type 'mystery'",)
    assert run.exit_code == 2 and run.hosts[0].checks[0].outcome is Outcome.RESTORED


def test_a_rollback_run_elsewhere_reports_each_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from toolkit.remediate.rollback import rollback_here

    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))
    got: list[object] = []

    def runner(work, ctx):  # type: ignore[no-untyped-def]
        interrupted = rollback_here(ctx, work, on_item=got.append)
        return list(got), interrupted

    run = run_rollback(monkeypatch, tmp_path, path, fs01=box, runner=runner)
    assert [h.name for h in run.hosts] == ["fs01"] and not run.interrupted
    assert run.hosts[0].checks[0].outcome is Outcome.RESTORED
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


def test_a_rollback_journal_that_refuses_an_intent_writes_nothing_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))
    full_disk_on(monkeypatch, "intent")
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    (host,) = run.hosts
    assert host.error is not None and host.error.message == (
        "cannot write journal: No space left on device; nothing was written to this host"
    )
    assert host.error.sent is False and run.journal_error and run.exit_code == 2 and not run.interrupted
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)


def test_a_host_locked_on_this_box_or_leased_elsewhere_is_not_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from toolkit.remediate.lease import LocalLock

    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))
    held = LocalLock(tmp_path / "locks", "fs01", "other-run")
    held.acquire()
    try:
        busy = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    finally:
        held.release()
    assert busy.hosts[0].status.value == "busy" and box.commands == []
    assert busy.hosts[0].error is not None and busy.hosts[0].error.sent is False
    assert busy.hosts[0].error is not None and "other-run" in busy.hosts[0].error.message
    box.deny_lease = True
    denied = run_rollback(monkeypatch, tmp_path, path, fs01=box, rollback_journal=tmp_path / "r2.jsonl")
    assert denied.hosts[0].status.value == "access_denied"
    assert (
        denied.hosts[0].error is not None and "cannot take the host's lease" in denied.hosts[0].error.message
    )
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)


class SlowToRead(FakeWindows):
    def run(self, statements, deadline):  # type: ignore[no-untyped-def]
        import time

        time.sleep(max(0.0, deadline - time.monotonic()) + 0.3)
        return super().run(statements, deadline)


def test_a_host_past_its_deadline_before_any_restore_says_nothing_was_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import time

    path = journal_of(tmp_path / "j.jsonl", intent())
    box = SlowToRead("17763", client_signing=("DWord", 1))
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=box))
    run = rollback(
        path,
        inventory=Inventory((HOST,), {}, "inline"),
        credentials={"fs01": None},
        rollback_journal=tmp_path / "rollback.jsonl",
        options=FanoutOptions(forks=1, timeout=1, retries=0),
        lock_dir=tmp_path / "locks",
    )
    (host,) = run.hosts
    assert host.status.value == "timeout" and host.error is not None
    assert host.error.message.endswith(", nothing restored") and host.error.sent is False
    time.sleep(0.5)  # let the abandoned worker finish before the fixtures go
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)


def test_each_restore_names_its_journal_line_and_prior_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent(), intent(setting="server_signing", before=ZERO))
    box = FakeWindows("17763", client_signing=("DWord", 1), server_signing=("DWord", 0))
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    checks = {c.id: c for c in run.hosts[0].checks}
    restored, compliant = checks["client_signing"], checks["server_signing"]
    assert (restored.rule, restored.expected, restored.after) == (
        "journal line 2",
        "prior value 0 (DWord)",
        ZERO,
    )
    assert restored.command.startswith("Set-ItemProperty") and restored.before == ONE
    assert (
        compliant.outcome is Outcome.COMPLIANT and compliant.reason == "already at the prior value 0 (DWord)"
    )
    assert (compliant.rule, compliant.after, compliant.command) == ("journal line 3", None, "")
    assert 0 <= run.hosts[0].duration_s < 3600
    assert run.hosts[0].status.value == "compliant" and run.hosts[0].os is not None


def test_a_string_of_unknown_true_kind_is_not_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from toolkit.remediate.plan import AMBIGUOUS_REASON

    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("String", "1"))  # reg.exe says nothing of it
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    check = run.hosts[0].checks[0]
    assert check.outcome is Outcome.BLOCKED and check.reason == AMBIGUOUS_REASON
    assert "Set-ItemProperty" not in box.commands


def test_a_stopped_rollback_run_elsewhere_says_it_was_interrupted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from toolkit.remediate.rollback import rollback_here

    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))

    def runner(work, ctx):  # type: ignore[no-untyped-def]
        ctx.state.stop.set()
        return [], rollback_here(ctx, work, on_item=lambda item: None)

    run = run_rollback(monkeypatch, tmp_path, path, fs01=box, runner=runner)
    assert run.interrupted and run.exit_code == 130 and box.commands == []


def test_after_the_rollback_journal_failed_no_host_is_even_connected_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from toolkit.remediate.rollback import rollback_here

    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 1))
    fleet = FakeFleet(fs01=box)
    opened: list[str] = []

    def counting(host, credential, **kw):  # type: ignore[no-untyped-def]
        opened.append(host.name)
        return fleet(host, credential, **kw)

    def runner(work, ctx):  # type: ignore[no-untyped-def]
        ctx.state.journal_error = "cannot write journal: No space left on device"  # an earlier host's
        got: list[object] = []
        rollback_here(ctx, work, on_item=got.append)
        return got, False

    monkeypatch.setattr(rollback_module, "open_session", counting)
    run = rollback(
        path,
        inventory=Inventory((HOST,), {}, "inline"),
        credentials={"fs01": None},
        rollback_journal=tmp_path / "rollback.jsonl",
        options=FanoutOptions(forks=1, timeout=30, retries=0),
        lock_dir=tmp_path / "locks",
        runner=runner,
    )
    assert opened == [] and box.commands == []
    assert run.hosts[0].error is not None and "no change was sent" in run.hosts[0].error.message


def test_an_smb_setting_is_restored_through_its_set_cmdlet_and_only_from_a_number() -> None:
    from toolkit.remediate.model import Setting
    from toolkit.remediate.rollback import restore_command

    audit = Setting("audit_smb1", "Get-SmbServerConfiguration", "AuditSmb1Access", smb_type="bool")
    command = restore_command(audit, RegValue("DWord", 0))
    assert command.render() == "Set-SmbServerConfiguration -AuditSmb1Access $false -Force"
    with pytest.raises(
        ValueError, match=re.escape("cannot restore '1' (String) through Get-SmbServerConfiguration")
    ):
        restore_command(audit, RegValue("String", "1"))
    plain = restore_command(SETTINGS["client_signing"], RegValue("DWord", 0))
    assert plain.name == "Set-ItemProperty"


def test_a_host_not_started_after_the_rollback_journal_failed_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    path = journal_of(
        tmp_path / "j.jsonl", intent(), intent("fs02", address="192.0.2.6", endpoint="192.0.2.6:5985")
    )
    boxes = {n: FakeWindows("17763", client_signing=("DWord", 1)) for n in ("fs01", "fs02")}
    full_disk_on(monkeypatch, "intent")
    hosts = (HOST, Host(name="fs02", address="192.0.2.6"))
    run = run_rollback(monkeypatch, tmp_path, path, hosts, **boxes)
    second = run.hosts[1]
    assert second.error is not None and second.error.message == "not run: the journal could not be written"
    assert second.error.sent is False and boxes["fs02"].commands == [] and run.exit_code == 2


def test_a_value_of_another_baseline_is_restored_as_that_baseline_owns_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    record = intent_record(
        run_id="r1",
        host="fs01",
        address="192.0.2.5",
        endpoint="192.0.2.5:5985",
        setting="insecure_guest_logons",
        path=WORKSTATION_KEY,
        name="AllowInsecureGuestAuth",
        before=ONE,
        after=ZERO,
        command="Set-ItemProperty ...",
        baseline="smb-hardening",
    )
    path = journal_of(tmp_path / "j.jsonl", record)
    box = FakeWindows("17763")
    box.registry[WORKSTATION_KEY]["AllowInsecureGuestAuth"] = ("DWord", 0)
    run = run_rollback(monkeypatch, tmp_path, path, fs01=box)
    (check,) = run.hosts[0].checks
    assert check.id == "insecure_guest_logons" and check.outcome is Outcome.RESTORED
    assert box.value(WORKSTATION_KEY, "AllowInsecureGuestAuth") == ("DWord", 1)


def test_nothing_to_restore_sends_no_lease_release_and_uses_the_state_dirs_locks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent())
    box = FakeWindows("17763", client_signing=("DWord", 0))  # already at the prior value
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=box))
    rollback(
        path,
        inventory=Inventory((HOST,), {}, "inline"),
        credentials={"fs01": None},
        rollback_journal=tmp_path / "rollback.jsonl",
        options=FanoutOptions(forks=1, timeout=30, retries=0),
    )
    assert "Remove-ItemProperty" not in box.commands and "New-ItemProperty" not in box.commands
    assert list((tmp_path / "state" / "locks").glob("*.lock"))  # this box's lock, in the state dir


def test_a_later_remediation_in_a_damaged_journal_is_still_warned_about(tmp_path: Path) -> None:
    folder = tmp_path / "journals"
    folder.mkdir()
    mine = read_journal(journal_of(folder / "a.jsonl", intent(), run_id="r1"))
    later = intent()
    later["time"] = "9999-01-01T00:00:00+00:00"
    other = journal_of(folder / "b.jsonl", later, run_id="r2")
    lines = other.read_text(encoding="utf-8").splitlines(keepends=True)
    other.write_text(lines[0] + "{damaged\n" + "".join(lines[1:]), encoding="utf-8")
    (warning,) = later_writes(mine, ["fs01"], [folder])
    assert "written again by run r2" in warning
