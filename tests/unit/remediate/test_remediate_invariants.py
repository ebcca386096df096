"""Remediation's safety rules, run in-process against fake hosts (tests/unit/remediate/fakehost):
what reaches the journal when a write goes out and no answer comes back, how a host abandoned
at its deadline with writes in flight is reported, which commands an unknown build gets, the
DWORD sign boundary, and which writes carry a workaround expiry."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.checks.helpers import dword, facts
from tests.unit.remediate.fakehost import FakeFleet, FakeWindows, sent_error
from toolkit.checks.facts import WORKSTATION_KEY
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory, Policy
from toolkit.remediate import RemediateOptions, read_journal, remediate
from toolkit.remediate import apply as apply_module
from toolkit.remediate.model import Outcome
from toolkit.remediate.plan import plan_host, registry_write
from toolkit.remediate.workarounds import load_workarounds

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def run(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    box: FakeWindows,
    *,
    timeout: float = 30.0,
    policy: Policy | None = None,
    **kwargs: object,
):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=box))
    host = Host(name="fs01", address="192.0.2.5", policy=policy or Policy())
    journal = tmp_path / "j.jsonl"
    result = remediate(
        Inventory((host,), {}, "inline"),
        credentials={"fs01": None},
        journal=journal,
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=timeout, retries=3, backoff=0)),
        lock_dir=tmp_path / "locks",
        **kwargs,  # type: ignore[arg-type]
    )
    return result, read_journal(journal)


def drifted(build: str = "17763") -> FakeWindows:
    return FakeWindows(build, client_signing=("DWord", 0), server_signing=("DWord", 1))


def test_a_transport_error_after_the_write_went_out_journals_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.fail_write = sent_error()
    result, journal = run(monkeypatch, tmp_path, box)
    (host,) = result.hosts
    assert [i.setting for i in journal.intents] == ["client_signing"]
    assert journal.outcome_of("fs01", "client_signing") == "unknown"
    check = next(c for c in host.checks if c.id == "client_signing")
    assert check.outcome is Outcome.UNKNOWN
    assert host.error is not None and "may have happened" in host.error.message
    # never retried once sent (retries=3 above): one write round trip only
    assert box.commands.count("Set-SmbClientConfiguration") == 1


def test_a_host_abandoned_at_its_deadline_with_writes_in_flight_may_have_been_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = drifted()
    box.write_delay = lambda deadline: max(0.0, deadline - time.monotonic()) + 0.6
    result, journal = run(monkeypatch, tmp_path, box, timeout=1.5)
    (host,) = result.hosts
    assert host.status.value == "timeout"
    assert host.error is not None
    assert "may have happened" in host.error.message and "no changes" not in host.error.message
    assert journal.outcome_of("fs01", "client_signing") == "unknown"
    assert next(c for c in host.checks if c.id == "client_signing").outcome is Outcome.UNKNOWN
    time.sleep(0.8)  # let the abandoned worker finish before the fixtures go


def test_a_host_abandoned_with_writes_in_flight_is_journaled_unknown_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # fs01's write hangs past its deadline: the fan-out gives up on it (unknown journaled), then
    # its worker wakes while fs02 still keeps the journal open and is cancelled. Both paths
    # judge fs01; only one may journal it (a second 'unknown' line was written before).
    slow, later = drifted(), drifted()
    slow.write_delay = lambda deadline: max(0.0, deadline - time.monotonic()) + 0.6
    later.write_delay = lambda deadline: 1.5
    monkeypatch.setattr(apply_module, "open_session", FakeFleet(fs01=slow, fs02=later))
    hosts = tuple(
        Host(name=n, address=f"192.0.2.{i}", policy=Policy()) for i, n in enumerate(("fs01", "fs02"), 5)
    )
    journal = tmp_path / "j.jsonl"
    result = remediate(
        Inventory(hosts, {}, "inline"),
        credentials={"fs01": None, "fs02": None},
        journal=journal,
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=2.5, retries=0, backoff=0)),
        lock_dir=tmp_path / "locks",
    )
    records = [(o.host, o.setting, o.outcome) for o in read_journal(journal).outcomes]
    assert records.count(("fs01", "client_signing", "unknown")) == 1, records
    assert ("fs02", "client_signing", "changed") in records
    assert [h.status.value for h in result.hosts] == ["timeout", "compliant"]


@pytest.mark.parametrize(
    ("build", "command"),
    [
        ("", "Set-ItemProperty"),  # unknown build: the SmbShare cmdlets may not exist
        ("7601", "Set-ItemProperty"),
        ("9200", "Set-SmbClientConfiguration"),
        ("17763", "Set-SmbClientConfiguration"),
    ],
)
def test_only_a_known_build_of_9200_or_later_gets_the_smb_cmdlets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, build: str, command: str
) -> None:
    box = drifted(build)
    if not build:
        del box.registry[next(iter(box.registry))]["CurrentBuild"]
    result, journal = run(monkeypatch, tmp_path, box)
    assert result.hosts[0].status.value == "compliant", result.hosts[0]
    writes = [c for c in box.commands if c.startswith("Set-")]
    assert writes == [command]
    assert box.value(WORKSTATION_KEY, "RequireSecuritySignature") == ("DWord", 1)
    assert journal.outcome_of("fs01", "client_signing") == "changed"


@pytest.mark.parametrize(
    ("data", "sent"),
    [(0, 0), (1, 1), (0x7FFF_FFFF, 0x7FFF_FFFF), (0x8000_0000, -0x8000_0000), (0xFFFF_FFFF, -1)],
)
def test_a_dword_is_sent_as_the_int32_windows_shows(data: int, sent: int) -> None:
    command = registry_write("K", "N", dword(data))
    value = next(p.value for p in command.params if p.name == "Value")
    assert value == sent and -(2**31) <= value < 2**31
    assert value & 0xFFFF_FFFF == data


def test_only_the_weakening_write_carries_the_workaround_expiry() -> None:
    expires = NOW + timedelta(hours=12)
    hp = plan_host(
        Host(name="h", address="a", policy=Policy(secure_negotiate="disabled")),
        facts(
            "2012r2", workstation={"RequireSecureNegotiate": dword(1), "RequireSecuritySignature": dword(0)}
        ),
        allow_insecure=True,
        expires=expires,
        now=NOW,
    )
    by_id = {w.setting.id: w for w in hp.writes}
    assert set(by_id) == {"secure_negotiate", "client_signing", "server_signing"}
    assert by_id["secure_negotiate"].workaround_expires == expires
    assert by_id["client_signing"].workaround_expires is None
    assert by_id["server_signing"].workaround_expires is None


def test_a_verified_workaround_is_recorded_and_only_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box = FakeWindows(
        "9600", secure_negotiate=("DWord", 1), client_signing=("DWord", 0), server_signing=("DWord", 1)
    )
    expires = datetime.now(UTC) + timedelta(hours=12)
    result, journal = run(
        monkeypatch,
        tmp_path,
        box,
        policy=Policy(secure_negotiate="disabled"),
        allow_insecure=True,
        expires=expires,
        workaround_file=tmp_path / "workarounds.json",
    )
    assert result.hosts[0].status.value == "compliant", result.hosts[0]
    intents = {i.setting: i for i in journal.intents}
    assert intents["secure_negotiate"].workaround_expires is not None
    assert intents["client_signing"].workaround_expires is None
    assert set(load_workarounds(tmp_path / "workarounds.json")["fs01"]) == {"secure_negotiate"}


def test_a_string_value_of_unknown_true_kind_is_never_written() -> None:
    from tests.unit.checks.helpers import reg_sz
    from toolkit.remediate.plan import AMBIGUOUS_REASON

    hp = plan_host(
        Host(name="h", address="a"),
        facts("2019", workstation={"RequireSecuritySignature": reg_sz("0")}),
        ambiguous=frozenset({"client_signing"}),
        now=NOW,
    )
    item = next(i for i in hp.items if i.id == "client_signing")
    assert item.outcome is Outcome.BLOCKED and item.reason == AMBIGUOUS_REASON
    assert "client_signing" not in {w.setting.id for w in hp.writes}
