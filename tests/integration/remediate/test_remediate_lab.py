"""Remediation end to end: the real pypsrp client against an in-process lab over TCP, the lab's
registry read directly to check what really changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.remediate.helpers import READER, SRV, WS, lab
from tests.support.cli import run_cli
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.remediate import RemediateOptions, plan, read_journal, remediate, rollback
from toolkit.remediate.model import Outcome, RemediateStatus

pytestmark = pytest.mark.timeout(60)

#: One host per OS profile; the 9200/9600 ones carry the REG_SZ "0" trap (Ansible/DSC, docs/windows-facts.md#string-default-trap).
TRAPPED = ("win8", "server2012", "win81", "server2012r2")


def _all_profiles() -> str:
    out = []
    for profile in PROFILE_NAMES:
        out.append(f"  - name: {profile}\n    profile: {profile}\n")
        if profile in TRAPPED:
            out.append(
                f"    registry:\n      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: '0'}}}}\n"
            )
    return "".join(out)


def test_every_profile_reaches_the_desired_state_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    with lab(tmp_path, _all_profiles()) as env:
        run = remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "j1.jsonl")

        assert run.exit_code == 0, [(h.name, h.status, h.error) for h in run.hosts]
        for host in env.fleet.hosts:
            state = env.state()[host.name]
            assert state["client_signing"] == ("DWord", 1), host.name
            assert state["server_signing"] == ("DWord", 1), host.name
            if host.profile in TRAPPED:  # the REG_SZ trap ends as a DWORD
                assert state["secure_negotiate"] == ("DWord", 1), host.name
        # Windows 7 / 2008 R2 have no SmbShare module: the registry path is used (docs/windows-facts.md#smbshare-availability).
        by_name = {h.name: h for h in run.hosts}
        assert "Set-ItemProperty" in by_name["win7"].changes[0].command
        assert "Set-SmbClientConfiguration" in by_name["win81"].changes[1].command
        assert all(c.outcome is Outcome.CHANGED for h in run.hosts for c in h.changes)

        again = remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "j2.jsonl")
        assert again.exit_code == 0
        assert not [c for h in again.hosts for c in h.changes]
        assert read_journal(tmp_path / "j2.jsonl").intents == ()


def test_missing_and_string_values_end_as_dwords(tmp_path: Path) -> None:
    hosts = f"""  - name: absent
    profile: server2012r2
    registry:
      '{WS}': {{RequireSecuritySignature: null, RequireSecureNegotiate: null}}
      '{SRV}': {{RequireSecuritySignature: null}}
  - name: strings
    profile: win8
    registry:
      '{WS}': {{RequireSecuritySignature: {{kind: String, value: '1'}}, RequireSecureNegotiate: {{kind: String, value: '1'}}}}
      '{SRV}': {{RequireSecuritySignature: {{kind: String, value: '0'}}}}
"""
    with lab(tmp_path, hosts) as env:
        run = remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl")
        assert run.exit_code == 0
        assert env.state()["absent"] == {
            # absent means required (docs/windows-facts.md#rsn-absent-default): nothing to write
            "secure_negotiate": None,
            "client_signing": ("DWord", 1),
            "server_signing": ("DWord", 1),
        }
        assert env.state()["strings"] == {
            "secure_negotiate": ("DWord", 1),
            "client_signing": ("DWord", 1),
            "server_signing": ("DWord", 1),
        }
        rollback(tmp_path / "j.jsonl", inventory=env.inventory, credentials=env.credentials)
        assert env.state()["strings"] == {
            "secure_negotiate": ("String", "1"),
            "client_signing": ("String", "1"),
            "server_signing": ("String", "0"),
        }
        assert env.state()["absent"] == {
            "secure_negotiate": None,
            "client_signing": None,
            "server_signing": None,
        }


def test_check_changes_nothing_and_shows_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = "".join(
        f"  - name: {p}\n    profile: {p}\n" for p in ("win7", "win81", "server2019", "win11-24h2")
    )
    with lab(tmp_path, hosts) as env:
        before = env.state()
        code, out, _err = run_cli(["remediate", "-i", str(env.inventory_path), "--check"], capsys)
        assert code == 4
        assert "Set-SmbServerConfiguration -RequireSecuritySignature $true -Force" in out
        assert "-Type 'DWord' -Force" in out  # win7: registry path
        code, out, _err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--check", "-f", "json"], capsys
        )
        doc = json.loads(out)
        assert code == 4 and doc["schema"] == "psfleet.remediate/1" and doc["run"]["mode"] == "check"
        change = doc["hosts"][1]["changes"][0]
        assert change["before"] == {"kind": "DWord", "value": 0} and change["after"] == {
            "kind": "DWord",
            "value": 1,
        }
        assert change["outcome"] == "pending" and change["command"]
        assert env.state() == before
        assert not (tmp_path / "state" / "journals").exists()


def test_only_limits_the_settings(tmp_path: Path) -> None:
    with lab(tmp_path, "  - name: h\n    profile: server2016\n") as env:
        run = remediate(
            env.inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl", only=["server_signing"]
        )
        assert [c.id for c in run.hosts[0].checks] == ["server_signing"]
        assert env.state()["h"]["client_signing"] == ("DWord", 0)
        assert env.state()["h"]["server_signing"] == ("DWord", 1)


def test_non_admin_gets_access_denied_and_nothing_is_written(tmp_path: Path) -> None:
    hosts = "  - name: a\n    profile: server2012r2\n  - name: b\n    profile: win7\n"
    with lab(tmp_path, hosts, user=READER) as env:
        before = env.state()
        run = remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl")
        assert env.state() == before
        assert {h.status for h in run.hosts} == {RemediateStatus.ACCESS_DENIED}
        assert run.exit_code == 8
        assert "nothing was written" in (run.hosts[0].error.message if run.hosts[0].error else "")
        journal = read_journal(tmp_path / "j.jsonl")
        # The host's lease cannot be created without admin rights: nothing is even attempted.
        assert journal.intents == () and journal.outcomes == ()
        assert "lease" in (run.hosts[0].error.message if run.hosts[0].error else "")


def test_rollback_restores_the_lab_and_is_safe_twice(tmp_path: Path) -> None:
    hosts = f"""  - name: a
    profile: win81
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: DWord, value: 0}}}}
  - name: b
    profile: server2022
    registry:
      '{SRV}': {{RequireSecuritySignature: null}}
"""
    with lab(tmp_path, hosts) as env:
        before = env.state()
        remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl")
        assert env.state() != before
        first = rollback(tmp_path / "j.jsonl", inventory=env.inventory, credentials=env.credentials)
        assert env.state() == before
        assert first.exit_code == 0
        assert {c.outcome for h in first.hosts for c in h.checks} == {Outcome.RESTORED}
        second = rollback(tmp_path / "j.jsonl", inventory=env.inventory, credentials=env.credentials)
        assert second.exit_code == 0 and env.state() == before
        assert {c.outcome for h in second.hosts for c in h.checks} == {Outcome.COMPLIANT}
        assert read_journal(Path(second.journal or "")).intents == ()


def test_rollback_leaves_values_changed_since_alone(tmp_path: Path) -> None:
    with lab(tmp_path, "  - name: a\n    profile: server2019\n") as env:
        remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl")
        env.fleet.sim("a").registry.set(SRV, "RequireSecuritySignature", "DWord", 7)
        run = rollback(tmp_path / "j.jsonl", inventory=env.inventory, credentials=env.credentials)
        outcomes = {c.id: c.outcome for c in run.hosts[0].checks}
        assert outcomes == {"client_signing": Outcome.RESTORED, "server_signing": Outcome.CONFLICT}
        assert env.state()["a"]["server_signing"] == ("DWord", 7)
        assert run.exit_code == 4
        forced = rollback(
            tmp_path / "j.jsonl", inventory=env.inventory, credentials=env.credentials, force=True
        )
        assert forced.exit_code == 0 and env.state()["a"]["server_signing"] == ("DWord", 0)


@pytest.mark.parametrize("fault", ["http500", "non_admin"])
def test_failing_canary_stops_before_the_next_batch(tmp_path: Path, fault: str) -> None:
    hosts = f"  - name: canary\n    profile: server2019\n    fault: {fault}\n" + "".join(
        f"  - name: h{i}\n    profile: server2019\n" for i in range(3)
    )
    with lab(tmp_path, hosts) as env:
        before = env.state()
        run = remediate(
            env.inventory,
            credentials=env.credentials,
            journal=tmp_path / "j.jsonl",
            options=RemediateOptions(batch="1"),
        )
        assert env.state() == before  # nothing beyond the canary was touched
        statuses = {h.name: h.status for h in run.hosts}
        assert statuses["canary"] is not RemediateStatus.COMPLIANT
        assert [statuses[f"h{i}"] for i in range(3)] == [RemediateStatus.SKIPPED] * 3
        assert (
            run.stopped
            and "batch 1 of 4 (canary)" in run.stopped
            and "3 hosts in later batches" in run.stopped
        )
        assert run.exit_code & 8
        assert len(run.batches) == 1


def test_batches_continue_below_the_failure_threshold(tmp_path: Path) -> None:
    hosts = "  - name: bad\n    profile: win10\n    fault: refuse\n" + "".join(
        f"  - name: h{i}\n    profile: win10\n" for i in range(3)
    )
    with lab(tmp_path, hosts) as env:
        run = remediate(
            env.inventory,
            credentials=env.credentials,
            journal=tmp_path / "j.jsonl",
            options=RemediateOptions(batch="50%", max_fail_percent=50),
        )
        assert run.stopped is None and len(run.batches) == 2
        assert [h.status for h in run.hosts[1:]] == [RemediateStatus.COMPLIANT] * 3
        assert run.exit_code == 8


def test_plan_api_matches_check(tmp_path: Path) -> None:
    with lab(tmp_path, "  - name: a\n    profile: win81\n") as env:
        run = plan(env.inventory, credentials=env.credentials)
        assert run.mode == "check" and run.exit_code == 4
        assert {c.outcome for c in run.hosts[0].changes} == {Outcome.PENDING}
