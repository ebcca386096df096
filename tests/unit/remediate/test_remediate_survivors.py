"""Remediation where session 4's mutation run left survivors, against fake hosts
(tests/unit/remediate/fakehost): a host whose read outlasts its deadline says nothing was sent;
a cancel that lands between the lease and the writes journals no intent and says no setting was
written; the values planned under the lease are those of the host's own baseline (a custom
one); an ``smb:`` check is written through its Set cmdlet; a workaround recorded while another
run holds the registry's lock is not lost."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.unit.checks.helpers import dword, facts
from tests.unit.remediate.fakehost import FakeFleet, FakeWindows
from tests.unit.remediate.helpers import HOST, Clock, HeldWindows, documented_baseline, garbled, second_ctrl_c
from toolkit.baselines.loader import load_file
from toolkit.checks.facts import WORKSTATION_KEY, KeyFacts
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate import RemediateOptions, read_journal, remediate
from toolkit.remediate import apply as apply_module
from toolkit.remediate import workarounds as workarounds_module
from toolkit.remediate.lease import LEASE_KEY
from toolkit.remediate.model import Outcome, RemediateRun
from toolkit.remediate.plan import plan_host
from toolkit.remediate.workarounds import FORMAT, load_workarounds, record_workaround
from toolkit.transport.model import InvocationResult

LSA = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Lsa"

#: A check on a property of Get-SmbServerConfiguration (``smb:``), as docs/baselines.md shows.
AUDIT_SMB1 = """
name: smb1-audit
checks:
  - id: audit_smb1_access
    title: SMB1 access is audited
    smb: {cmdlet: Get-SmbServerConfiguration, property: AuditSmb1Access, type: bool}
    meanings: {audited: SMB1 access is logged, silent: SMB1 access is not logged}
    states:
      audited: {expected: "audited (True)", means: audited, value: 1}
      any: {expected: "any (not enforced)"}
    default_state: audited
    values:
      - {equals: 1, means: audited, text: "True", rule: smbshare-configuration-cmdlets}
      - {means: silent, text: "False", rule: smbshare-configuration-cmdlets}
    absent:
      - {means: silent, text: property missing, rule: smbshare-configuration-cmdlets}
    wrong_kind: {text: "{value} is not a Boolean", rule: smbshare-configuration-cmdlets}
    references:
      facts: smbshare-configuration-cmdlets
      urls: [https://learn.microsoft.com/en-us/powershell/module/smbshare/set-smbserverconfiguration]
"""


pytestmark = pytest.mark.usefixtures("state_dir")


def drifted() -> FakeWindows:
    return FakeWindows("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))


def fix(tmp_path: Path, *hosts: Host, timeout: float = 30, **kw: Any) -> RemediateRun:
    chosen = hosts or (HOST,)
    return remediate(
        Inventory(chosen, {}, "inline"),
        credentials={h.name: None for h in chosen},
        journal=tmp_path / "j.jsonl",
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=timeout, retries=0)),
        lock_dir=tmp_path / "locks",
        **kw,
    )


# -- a host past its deadline before anything went out ---------------------------------------


def test_a_host_whose_read_outlasts_its_deadline_says_no_change_was_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # its first read is answered only after the run gave up on it
    box = HeldWindows(held="read", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path, timeout=1.0)  # ample to reach the read, which it outlasts
    (host,) = run.hosts
    assert host.status.value == "timeout" and host.error is not None
    # what a caller (and a site worker's wire) reads to know nothing reached the host
    assert host.error.message.endswith(", no changes") and host.error.sent is False
    assert box.finish()  # answered now, the abandoned worker sends nothing more
    assert read_journal(tmp_path / "j.jsonl").intents == ()
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


# -- a cancel between the lease and the writes -----------------------------------------------


class CancelledOnTheLease(FakeWindows):
    """Grants the lease, and the operator's second Ctrl-C lands while that answer comes back."""

    def run(self, statements: Any, deadline: float) -> Any:
        answer = super().run(statements, deadline)
        if any(
            s[0].name == "New-ItemProperty" and any(p.value == LEASE_KEY for p in s[0].params)
            for s in statements
        ):
            second_ctrl_c()
        return answer


def test_a_cancel_between_the_lease_and_the_writes_journals_no_intent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = CancelledOnTheLease("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path)
    (host,) = run.hosts
    assert host.error is not None and "no setting was written" in host.error.message
    assert "may have happened" not in host.error.message
    journal = read_journal(tmp_path / "j.jsonl")
    # no intent for a write that never left (rollback would read one as a change psfleet made)
    assert journal.intents == () and journal.outcomes == ()
    assert {c.id: c.outcome for c in host.checks}["client_signing"] is Outcome.NOT_RUN
    assert "Set-SmbClientConfiguration" not in box.commands
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 0)


# -- a host's own baseline under the lease ---------------------------------------------------


def test_a_custom_baselines_value_is_read_again_under_the_lease_and_journaled_as_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    baseline = tmp_path / "lsa.yaml"  # a site's own check, on a value the default baseline does not read
    baseline.write_text(documented_baseline("lsa-anonymous"), encoding="utf-8")
    box = FakeWindows("17763")
    box.registry[LSA] = {"RestrictAnonymous": ("DWord", 0)}
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    run = fix(tmp_path, Host(name="fs01", address="192.0.2.5", baselines=(str(baseline),)))
    (host,) = run.hosts
    assert host.error is None and host.status.value == "compliant", host
    (check,) = host.checks
    assert check.id == "restrict_anonymous" and check.outcome is Outcome.CHANGED
    assert box.value(LSA, "RestrictAnonymous") == ("DWord", 1)
    (intent,) = read_journal(tmp_path / "j.jsonl").intents
    # the prior rollback will restore: the value read under the lease, not an absent one
    assert intent.setting == "restrict_anonymous" and intent.before == dword(0)


# -- an smb: check's write --------------------------------------------------------------------


def test_an_smb_property_check_is_written_through_its_set_cmdlet(tmp_path: Path) -> None:
    baseline = tmp_path / "smb1-audit.yaml"
    baseline.write_text(AUDIT_SMB1, encoding="utf-8")
    found = facts("2019").with_key(
        "Get-SmbServerConfiguration", KeyFacts(True, {"AuditSmb1Access": dword(0)})
    )
    plan = plan_host(HOST, found, now=datetime.now(UTC), baselines=(load_file(baseline),))
    (item,) = plan.items
    assert item.outcome is Outcome.PENDING
    assert item.command == "Set-SmbServerConfiguration -AuditSmb1Access $true -Force"
    (write,) = plan.writes
    assert [c.name for c in write.commands] == ["Set-SmbServerConfiguration"]


# -- the workarounds registry's lock ---------------------------------------------------------


def test_a_workaround_recorded_while_another_run_holds_the_lock_is_not_lost(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import fcntl

    asked = threading.Event()  # the recorder asked for the lock (and waits for it)

    class Flock:
        LOCK_EX, LOCK_UN = fcntl.LOCK_EX, fcntl.LOCK_UN

        @staticmethod
        def flock(fd: int, operation: int) -> None:
            if operation == fcntl.LOCK_EX:
                asked.set()
            fcntl.flock(fd, operation)

    monkeypatch.setattr(workarounds_module, "fcntl", Flock)
    path = tmp_path / "workarounds.json"
    expires = datetime.now(UTC) + timedelta(hours=12)

    def entry(run_id: str) -> dict[str, str]:
        return {"expires": expires.isoformat(), "run_id": run_id, "journal": "j", "address": "a"}

    path.write_text(json.dumps({"psfleet": FORMAT, "hosts": {}}), encoding="utf-8")
    # Another run records fs01: it holds the lock (workarounds.json.lock) from its read to its write.
    with open(tmp_path / "workarounds.json.lock", "a") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        theirs = json.loads(path.read_text(encoding="utf-8"))
        ours = threading.Thread(
            target=record_workaround,
            args=("fs02",),
            kwargs={
                "setting": "secure_negotiate",
                "expires": expires,
                "run_id": "ours",
                "journal": "j",
                "address": "b",
                "path": path,
            },
        )
        ours.start()
        while not asked.wait(0.01) and ours.is_alive():
            pass
        assert asked.is_set(), "the workaround was recorded without waiting for the lock"
        theirs["hosts"]["fs01"] = {"secure_negotiate": entry("theirs")}
        path.write_text(json.dumps(theirs), encoding="utf-8")
    ours.join(30)
    assert not ours.is_alive()
    assert set(load_workarounds(path)) == {"fs01", "fs02"}


# -- an unreadable answer's duration ---------------------------------------------------------


class SlowGarbled(FakeWindows):
    """Takes 0.25 s of ``clock`` per round trip, and answers ``garbled`` round trips with
    something that is not registry keys: the first read (``"read"``) or the reads under the
    lease (``"lease"``)."""

    def __init__(self, garbled: str, clock: Clock) -> None:
        super().__init__("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
        self.garbled = garbled
        self.clock = clock

    def run(self, statements: Any, deadline: float) -> InvocationResult:
        self.clock.advance(0.25)
        answer = super().run(statements, deadline)
        leasing = any(s[0].name == "New-ItemProperty" for s in statements)
        return garbled(answer) if (self.garbled == "lease") is leasing else answer


# the lease's: the first read, the reads under the lease, the lease's release
@pytest.mark.parametrize(("garbled_trip", "round_trips"), [("read", 1), ("lease", 3)])
def test_an_unreadable_answer_reports_the_time_the_host_took(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, garbled_trip: str, round_trips: int
) -> None:
    clock = Clock()
    monkeypatch.setattr(apply_module, "time", clock)  # remediation's durations, by this clock
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=SlowGarbled(garbled_trip, clock)))
    (host,) = fix(tmp_path).hosts
    assert host.error is not None and host.error.message.startswith("unexpected answer: ")
    # the time its round trips took, not a sum of clock readings
    assert host.duration_s == 0.25 * round_trips
