"""What remediation sends through the broker: each host's result comes back as the same
report, a rollback's intents come back checked as the journal reader checks them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from toolkit.checks.facts import RegValue
from toolkit.engine.remediation import (
    intent_to_wire,
    lost_remediation,
    remediation_failure,
    remediation_from_wire,
    remediation_to_wire,
)
from toolkit.fanout.task import Failure
from toolkit.inventory.model import Host
from toolkit.remediate.journal import JournalWriter, intent_record, parse_intent, read_journal
from toolkit.remediate.model import HostRemediation, Outcome, RemediateStatus, SettingResult
from toolkit.results import ErrorKind, HostError, OsInfo

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"

ITEM = HostRemediation(
    name="b1",
    address="10.0.0.2",
    status=RemediateStatus.DRIFT,
    os=OsInfo("Windows 8.1", 9600, "Windows 8.1 (build 9600)", edition="Pro", ubr=20000),
    checks=(
        SettingResult(
            id="client_signing",
            path=WS,
            name="RequireSecuritySignature",
            before=RegValue("String", "0"),
            after=RegValue("DWord", 1),
            command="Set-ItemProperty ...",
            outcome=Outcome.FAILED,
            reason="not changed: access denied",
            rule="windows-facts#signing",
            expected="1",
            observed=RegValue("String", "0"),
        ),
        SettingResult(
            id="secure_negotiate",
            path=WS,
            name="RequireSecureNegotiate",
            before=RegValue(None),
            after=None,
            command="",
            outcome=Outcome.COMPLIANT,
            reason="absent: required by default",
            rule="windows-facts#secure-negotiate",
        ),
    ),
    error=HostError(ErrorKind.ERROR, "1 of 1 writes not verified", sent=True),
    batch=2,
    duration_s=1.25,
    groups=("branch",),
    transport="lean",
    transport_fallback=None,
)


def test_a_host_remediation_comes_back_as_the_same_report() -> None:
    wire = json.loads(json.dumps(remediation_to_wire(ITEM)))  # what Redis holds: JSON
    back = remediation_from_wire(wire)
    assert back == ITEM
    assert back.to_dict() == ITEM.to_dict()


def test_a_host_the_engine_gave_up_on_says_its_writes_may_have_happened() -> None:
    host = Host(name="h", address="10.0.0.3", groups=("branch",))
    lost = Failure(host, HostError(ErrorKind.TIMEOUT, "no result"), 2.5, {"site": "a"})
    item = lost_remediation(lost)
    assert item.status is RemediateStatus.TIMEOUT
    assert item.error is not None and "its writes may have happened" in item.error.message
    assert (item.name, item.address, item.groups, item.duration_s) == ("h", "10.0.0.3", ("branch",), 2.5)
    # Never sent (no worker for its site): nothing can have been written.
    not_sent = Failure(host, HostError(ErrorKind.UNREACHABLE, "no worker", sent=False))
    assert lost_remediation(not_sent).error == HostError(ErrorKind.UNREACHABLE, "no worker", sent=False)
    assert lost_remediation(not_sent).status is RemediateStatus.UNREACHABLE
    # --check writes nothing: its failures are reported as they are.
    assert remediation_failure(lost).error == HostError(ErrorKind.TIMEOUT, "no result")


def test_an_intent_travels_as_its_journal_record_and_is_checked_again(tmp_path: Path) -> None:
    record = intent_record(
        run_id="r1",
        host="b1",
        address="10.0.0.2",
        setting="client_signing",
        path=WS,
        name="RequireSecuritySignature",
        before=RegValue("String", "0"),
        after=RegValue("DWord", 1),
        command="Set-ItemProperty ...",
        workaround_expires=datetime(2030, 1, 1, tzinfo=UTC),
        endpoint="10.0.0.2:5985",
    )
    writer = JournalWriter.create(tmp_path / "j.jsonl", {"run_id": "r1", "command": "remediate"})
    writer.append(record)
    writer.close()
    intent = read_journal(tmp_path / "j.jsonl").intents[0]
    wire = json.loads(json.dumps(intent_to_wire(intent)))
    assert parse_intent(int(wire["line"]), wire) == intent
    # A message on the broker cannot make a worker write a value psfleet does not manage.
    forged = dict(wire, path=r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Run", name="evil")
    with pytest.raises(ValueError, match="not a value psfleet manages"):
        parse_intent(2, forged)


# -- what the controller accepts from the broker ------------------------------------------------


def _weakening(run_id: str, host: str, expires: datetime) -> list[dict[str, object]]:
    from tests.unit.checks.helpers import dword
    from toolkit.remediate.journal import outcome_record
    from toolkit.remediate.model import SETTINGS

    s = SETTINGS["secure_negotiate"]
    return [
        intent_record(
            run_id=run_id,
            host=host,
            address="192.0.2.9",
            endpoint="192.0.2.9:5985",
            setting="secure_negotiate",
            path=s.path,
            name=s.name,
            before=dword(1),
            after=dword(0),
            command="Set-ItemProperty ...",
            workaround_expires=expires,
        ),
        outcome_record(run_id=run_id, host=host, setting="secure_negotiate", outcome="changed"),
    ]


def test_the_controller_keeps_only_its_runs_records_for_hosts_it_sent() -> None:
    from toolkit.engine.remediation import own_records

    ours = _weakening("RUN-A", "fs01", datetime(2026, 6, 1, tzinfo=UTC))
    other_run = _weakening("OTHER", "fs01", datetime(2099, 1, 1, tzinfo=UTC))
    other_host = _weakening("RUN-A", "dc01", datetime(2099, 1, 1, tzinfo=UTC))
    kept = own_records([*ours, *other_run, *other_host], "RUN-A", {"fs01"})
    assert kept == ours


@pytest.mark.parametrize(
    ("allowed_until", "expires", "recorded"),
    [
        (None, datetime(2026, 6, 1, tzinfo=UTC), False),  # the run allowed no weakening
        (datetime(2026, 6, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC), False),  # longer
        (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), True),
    ],
)
def test_the_book_records_only_the_weakening_the_run_allowed(
    tmp_path: Path, allowed_until: datetime | None, expires: datetime, recorded: bool
) -> None:
    from toolkit.engine.remediation import WorkaroundBook
    from toolkit.remediate.workarounds import load_workarounds

    path = tmp_path / "workarounds.json"
    book = WorkaroundBook(path, "RUN-A", str(tmp_path / "j.jsonl"), allowed_until=allowed_until)
    book.see(_weakening("RUN-A", "fs01", expires))
    table = load_workarounds(path) if path.exists() else {}
    assert ("secure_negotiate" in table.get("fs01", {})) is recorded, table
