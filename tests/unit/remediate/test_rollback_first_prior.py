"""Rollback restores the *first* prior value of each (host, setting) in the journal (later
intents hold values psfleet itself wrote), never writes into a key that is gone, and a restored
secure-negotiate ends its workaround record. Run in-process against fake hosts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.checks.helpers import dword, facts
from tests.unit.remediate.fakehost import FakeFleet, FakeWindows
from tests.unit.remediate.helpers import intent
from toolkit.checks.facts import WORKSTATION_KEY, RegValue
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory, Policy
from toolkit.remediate import RemediateOptions, read_journal, remediate
from toolkit.remediate import apply as apply_module
from toolkit.remediate.journal import JournalWriter
from toolkit.remediate.model import SETTINGS, Outcome
from toolkit.remediate.rollback import intents_by_host, rollback
from toolkit.remediate.truekind import TrueFacts
from toolkit.remediate.workarounds import load_workarounds

HOST = Host(name="fs01", address="192.0.2.5")
#: The module (toolkit.remediate exports a function of the same name).
rollback_module = sys.modules["toolkit.remediate.rollback"]


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def journal_of(path: Path, *records: dict[str, object]) -> Path:
    writer = JournalWriter.create(path, {"run_id": "r1", "command": "remediate"})
    writer.append(*records)
    writer.close()
    return path


def test_the_first_intent_per_host_and_setting_is_the_prior(tmp_path: Path) -> None:
    path = journal_of(
        tmp_path / "j.jsonl",
        intent("fs01", "client_signing", dword(0), dword(1)),
        intent("fs02", "client_signing", dword(5), dword(1)),
        intent("fs01", "server_signing", RegValue(None), dword(1)),
        # a second write of the same setting (another batch, a retry by hand): its "before"
        # is what psfleet wrote, not the original
        intent("fs01", "client_signing", dword(1), dword(1)),
        intent("fs02", "client_signing", dword(1), dword(1)),
    )
    per_host = intents_by_host(read_journal(path))
    priors = {(h, i.setting): i.before for h, intents in per_host.items() for i in intents}
    assert priors == {
        ("fs01", "client_signing"): dword(0),
        ("fs01", "server_signing"): RegValue(None),
        ("fs02", "client_signing"): dword(5),
    }


def run_rollback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, box: FakeWindows, journal: Path, **kw: object
):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=box))
    return rollback(
        journal,
        inventory=Inventory((HOST,), {}, "inline"),
        credentials={"fs01": None},
        rollback_journal=tmp_path / "rollback.jsonl",
        options=FanoutOptions(forks=1, timeout=30, retries=0),
        lock_dir=tmp_path / "locks",
        **kw,  # type: ignore[arg-type]
    )


def test_rollback_restores_the_original_value_not_psfleets_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = journal_of(
        tmp_path / "j.jsonl",
        intent("fs01", "client_signing", dword(0), dword(1)),
        intent("fs01", "client_signing", dword(1), dword(1), run_id="r1"),
    )
    box = FakeWindows("17763", client_signing=("DWord", 1))
    run = run_rollback(monkeypatch, tmp_path, box, path)
    (host,) = run.hosts
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)
    assert next(c for c in host.checks if c.id == "client_signing").outcome is Outcome.RESTORED
    # restored under the host's lease, released after
    assert box.commands.index("New-ItemProperty") < box.commands.index("Set-ItemProperty")
    assert box.lease is None


def test_nothing_to_restore_takes_no_lease(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = journal_of(tmp_path / "j.jsonl", intent("fs01", "client_signing", dword(0), dword(1)))
    box = FakeWindows("17763", client_signing=("DWord", 0))  # already at the prior value
    run = run_rollback(monkeypatch, tmp_path, box, path)
    assert next(c for c in run.hosts[0].checks if c.id == "client_signing").outcome is Outcome.COMPLIANT
    assert "New-ItemProperty" not in box.commands and not [c for c in box.commands if c.startswith("Set-")]


def test_no_restore_into_a_key_that_is_gone() -> None:
    read = TrueFacts(facts("2019", workstation_exists=False), frozenset())
    per_host = {
        "fs01": (
            rollback_module.Intent(
                line=2,
                run_id="r1",
                host="fs01",
                address="192.0.2.5",
                setting="client_signing",
                path=SETTINGS["client_signing"].path,
                name="RequireSecuritySignature",
                before=dword(0),
                after=dword(1),
                command="",
                workaround_expires=None,
            ),
        )
    }
    items, writes = rollback_module._plan(read, per_host["fs01"], force=True)
    assert writes == []
    assert items["client_signing"].outcome is Outcome.BLOCKED
    assert "does not exist" in items["client_signing"].reason


def test_a_restored_secure_negotiate_ends_its_workaround(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = FakeWindows(
        "9600", secure_negotiate=("DWord", 1), client_signing=("DWord", 1), server_signing=("DWord", 1)
    )
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    workarounds = tmp_path / "workarounds.json"
    journal = tmp_path / "j.jsonl"
    run = remediate(
        Inventory(
            (Host(name="fs01", address="192.0.2.5", policy=Policy(secure_negotiate="disabled")),),
            {},
            "inline",
        ),
        credentials={"fs01": None},
        journal=journal,
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=30, retries=0)),
        allow_insecure=True,
        expires=datetime.now(UTC) + timedelta(hours=12),
        workaround_file=workarounds,
        lock_dir=tmp_path / "locks",
    )
    assert run.hosts[0].status.value == "compliant", run.hosts[0]
    assert box.value(WORKSTATION_KEY, "RequireSecureNegotiate") == ("DWord", 0)
    assert "secure_negotiate" in load_workarounds(workarounds)["fs01"]

    back = run_rollback(monkeypatch, tmp_path, box, journal, workaround_file=workarounds)
    assert back.hosts[0].status.value == "compliant", back.hosts[0]
    assert back.hosts[0].error is None  # a restore is a success, not "not verified"
    assert box.value(WORKSTATION_KEY, "RequireSecureNegotiate") == ("DWord", 1)
    assert "fs01" not in load_workarounds(workarounds)


def test_a_host_abandoned_with_restores_in_flight_may_have_been_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import time

    path = journal_of(tmp_path / "j.jsonl", intent("fs01", "client_signing", dword(0), dword(1)))
    box = FakeWindows("17763", client_signing=("DWord", 1))
    box.write_delay = lambda deadline: max(0.0, deadline - time.monotonic()) + 0.6
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=box))
    run = rollback(
        path,
        inventory=Inventory((HOST,), {}, "inline"),
        credentials={"fs01": None},
        rollback_journal=tmp_path / "rollback.jsonl",
        options=FanoutOptions(forks=1, timeout=1.5, retries=0),
        lock_dir=tmp_path / "locks",
    )
    (host,) = run.hosts
    assert host.status.value == "timeout"
    assert host.error is not None and "the restores were sent and may have happened" in host.error.message
    assert read_journal(tmp_path / "rollback.jsonl").outcome_of("fs01", "client_signing") == "unknown"
    time.sleep(0.8)  # let the abandoned worker finish before the fixtures go


def test_a_host_abandoned_with_restores_in_flight_is_journaled_unknown_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As for remediation: the fan-out's fail and the cancelled worker both judge fs01 while
    # fs02's slow restore keeps the rollback journal open; one 'unknown' line only.
    import time

    path = journal_of(
        tmp_path / "j.jsonl",
        intent("fs01", "client_signing", dword(0), dword(1)),
        intent("fs02", "client_signing", dword(0), dword(1)),
    )
    slow = FakeWindows("17763", client_signing=("DWord", 1))
    slow.write_delay = lambda deadline: max(0.0, deadline - time.monotonic()) + 0.6
    later = FakeWindows("17763", client_signing=("DWord", 1))
    later.write_delay = lambda deadline: 1.5
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(fs01=slow, fs02=later))
    hosts = (HOST, Host(name="fs02", address="192.0.2.5"))  # the address the journal names
    run = rollback(
        path,
        inventory=Inventory(hosts, {}, "inline"),
        credentials={"fs01": None, "fs02": None},
        rollback_journal=tmp_path / "rollback.jsonl",
        options=FanoutOptions(forks=1, timeout=2.5, retries=0),
        lock_dir=tmp_path / "locks",
    )
    records = [(o.host, o.outcome) for o in read_journal(tmp_path / "rollback.jsonl").outcomes]
    assert records.count(("fs01", "unknown")) == 1, records
    assert {h.name: h.status.value for h in run.hosts}["fs01"] == "timeout"
    assert ("fs02", "restored") in records, records
    assert later.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)
