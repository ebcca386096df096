"""Plans under the smb-hardening baseline and the registry commands' wide values, pinned where
session 4's mutation run of toolkit/remediate/plan.py found them unpinned: a check psfleet
does not write says what to run instead, a write that needs a restart says so, a weakening
write is blocked unless asked for (plan_host's own default too) and only it carries the
workaround's expiry in its reason; the settings of a run are its hosts' baselines; a QWORD
above the Int64 range is sent as Windows shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.checks.helpers import dword, facts
from toolkit.baselines.loader import resolve
from toolkit.checks.facts import KeyFacts, RegValue
from toolkit.inventory.model import Host, Policy
from toolkit.remediate.model import SETTINGS, Outcome
from toolkit.remediate.plan import plan_host, registry_write, run_settings

NOW = datetime(2026, 5, 1, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)
HARDENING = (resolve("smb-hardening"),)
MRXSMB10 = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\mrxsmb10"
SIGNED = {"RequireSecuritySignature": dword(1)}


def hardening_facts(smb1: int, start: int = 2):  # type: ignore[no-untyped-def]
    found = facts(
        "2019",
        workstation={**SIGNED, "AllowInsecureGuestAuth": dword(0)},
        server={**SIGNED, "SMB1": dword(smb1)},
    )
    return found.with_key(MRXSMB10, KeyFacts(True, {"Start": dword(start)}))


def items(plan):  # type: ignore[no-untyped-def]
    return {i.id: i for i in plan.items}


def test_a_check_psfleet_does_not_write_says_what_to_run_instead() -> None:
    plan = plan_host(Host(name="h", address="a"), hardening_facts(0), now=NOW, baselines=HARDENING)
    client = items(plan)["smb1_client"]
    assert client.outcome is Outcome.BLOCKED
    assert "psfleet does not write this value: run 'sc.exe config lanmanworkstation" in client.reason
    assert all(w.setting.id != "smb1_client" for w in plan.writes)


def test_a_write_that_needs_a_restart_says_so_and_only_it() -> None:
    plan = plan_host(
        Host(name="h", address="a"), hardening_facts(1), now=NOW, expires=EXPIRES, baselines=HARDENING
    )
    server = items(plan)["smb1_server"]
    assert server.outcome is Outcome.PENDING
    assert server.reason.endswith("; takes effect after a restart")
    assert "temporary workaround" not in server.reason  # not a weakening write
    assert [w.workaround_expires for w in plan.writes if w.setting.id == "smb1_server"] == [None]
    assert "Set-SmbServerConfiguration" in server.command and "EnableSMB1Protocol" in server.command


def test_a_weakening_write_is_blocked_unless_asked_for() -> None:
    host = Host(name="h", address="a", policy=Policy(checks={"smb1_server": "enabled"}))
    blocked = plan_host(host, hardening_facts(0), now=NOW, baselines=HARDENING)  # the default
    assert items(blocked)["smb1_server"].outcome is Outcome.BLOCKED
    assert "pass --allow-insecure" in items(blocked)["smb1_server"].reason
    asked = plan_host(
        host, hardening_facts(0), now=NOW, allow_insecure=True, expires=EXPIRES, baselines=HARDENING
    )
    server = items(asked)["smb1_server"]
    assert server.outcome is Outcome.PENDING
    assert "as a temporary workaround until 2026-05-08T00:00+00:00" in server.reason
    without_expiry = plan_host(host, hardening_facts(0), now=NOW, allow_insecure=True, baselines=HARDENING)
    assert "temporary workaround" not in items(without_expiry)["smb1_server"].reason


def test_the_settings_of_a_run_are_its_hosts_baselines() -> None:
    assert run_settings([]) == SETTINGS
    both = run_settings(
        [Host(name="a", address="a"), Host(name="b", address="b", baselines=("smb-hardening",))]
    )
    assert {"smb1_server", "smb1_client", "secure_negotiate"} <= set(both)
    assert "smb1_server" not in run_settings([Host(name="a", address="a")])


@pytest.mark.parametrize(
    ("data", "sent"),
    [
        (0x7FFF_FFFF_FFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF),
        (0x8000_0000_0000_0000, -(1 << 63)),
        (0xFFFF_FFFF_FFFF_FFFF, -1),
    ],
)
def test_a_qword_is_sent_as_the_int64_windows_shows(data: int, sent: int) -> None:
    command = registry_write("HKLM:\\SOFTWARE\\x", "v", RegValue("QWord", data))
    assert {p.name: p.value for p in command.params}["Value"] == sent
