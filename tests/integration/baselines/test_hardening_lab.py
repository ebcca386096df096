"""smb-hardening against one lab host per OS profile, over TCP: the audit's verdicts per check
and profile, remediation (SMB cmdlets from 9200, the registry before), the read-back through
both the registry and Get-Smb*Configuration, and rollback to the exact prior values."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.remediate.helpers import SRV, WS, lab
from toolkit.api import audit
from toolkit.baselines.select import with_baselines
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.remediate import remediate, rollback
from toolkit.remediate.model import Outcome
from toolkit.smb.probe import probe_smb

pytestmark = pytest.mark.timeout(180)

MRXSMB10 = r"HKLM:\SYSTEM\CurrentControlSet\Services\mrxsmb10"
VALUES = {
    "smb1_server": (SRV, "SMB1"),
    "smb1_client": (MRXSMB10, "Start"),
    "insecure_guest_logons": (WS, "AllowInsecureGuestAuth"),
    "smb_encryption": (SRV, "EncryptData"),
    "client_signing": (WS, "RequireSecuritySignature"),
    "server_signing": (SRV, "RequireSecuritySignature"),
}
C, D, NA = "compliant", "drift", "not_applicable"
#: profile -> (smb1_server, smb1_client, insecure_guest_logons, smb_encryption) at the lab's
#: defaults, with policy smb_encryption: required.
EXPECTED = {
    "win7": (D, D, NA, NA),
    "server2008r2": (D, D, NA, NA),
    "win8": (D, D, NA, D),
    "server2012": (D, D, NA, D),
    "win81": (D, D, NA, D),
    "server2012r2": (D, D, NA, D),
    "win10": (C, C, C, D),
    "server2016": (D, D, D, D),
    "server2019": (C, C, C, D),
    "server2022": (C, C, C, D),
    "win11-23h2": (C, C, C, D),
    "win11-24h2": (C, C, C, D),
    "server2025": (C, C, C, D),
}
HARDENING = ("smb1_server", "smb1_client", "insecure_guest_logons", "smb_encryption")


def test_every_profile_audits_remediates_and_rolls_back(tmp_path: Path) -> None:
    assert set(EXPECTED) == set(PROFILE_NAMES)
    hosts = "".join(f"  - name: {p}\n    profile: {p}\n" for p in PROFILE_NAMES)
    policies = {p: {"smb_encryption": "required"} for p in PROFILE_NAMES}
    with lab(tmp_path, hosts, policies=policies) as env:
        inventory = with_baselines(env.inventory, ["smb-hardening"])

        def state() -> dict[str, dict[str, object]]:
            return {
                h.name: {c: env.fleet.sim(h.name).registry.get_value(*VALUES[c]) for c in VALUES}
                for h in env.fleet.hosts
            }

        prior = state()
        fs = next(h for h in env.fleet.hosts if h.name == "server2012r2")
        assert fs.smb_port

        def smb1_accepted() -> bool | None:  # the lab's SMB responder, over TCP
            result = probe_smb(fs.address, fs.smb_port, timeout=10)  # type: ignore[arg-type]
            return result.smb1.accepted if result.smb1 else None

        assert smb1_accepted() is True
        before = audit(inventory, credentials=env.credentials)
        for host in before.hosts:
            statuses = {c.id: c.status.value for c in host.checks}
            assert tuple(statuses[c] for c in HARDENING) == EXPECTED[host.name], host.name
            assert tuple(statuses) == (*HARDENING, "client_signing", "server_signing")

        run = remediate(inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl")
        by_name = {h.name: h for h in run.hosts}
        assert all(h.error is None for h in run.hosts), [(h.name, h.error) for h in run.hosts]
        for name, expected in EXPECTED.items():
            outcomes = {c.id: c.outcome for c in by_name[name].checks}
            for check, verdict in zip(HARDENING, expected, strict=True):
                if verdict != D:
                    assert outcomes[check] in (Outcome.COMPLIANT, Outcome.NOT_APPLICABLE), (name, check)
                elif check == "smb1_client":  # psfleet says what to run instead (DependOnService)
                    assert outcomes[check] is Outcome.BLOCKED, name
                else:
                    assert outcomes[check] is Outcome.CHANGED, (name, check)
        # No SmbShare module before 9200: the registry; from 9200 the SMB cmdlets with -Force.
        smb1 = {h: next(c for c in by_name[h].changes if c.id == "smb1_server") for h in ("win7", "win81")}
        assert (
            smb1["win7"].command.startswith("Set-ItemProperty")
            and "-Type 'DWord' -Force" in smb1["win7"].command
        )
        assert smb1["win81"].command == "Set-SmbServerConfiguration -EnableSMB1Protocol $false -Force"
        guest = next(c for c in by_name["server2016"].changes if c.id == "insecure_guest_logons")
        assert guest.command == "Set-SmbClientConfiguration -EnableInsecureGuestLogons $false -Force"

        assert smb1_accepted() is False  # what the remediation wrote is what the server does
        after = state()
        for name, expected in EXPECTED.items():
            if expected[0] == D:
                assert after[name]["smb1_server"] == ("DWord", 0), name
            if expected[3] == D:
                assert after[name]["smb_encryption"] == ("DWord", 1), name
        # Set-SmbClientConfiguration -EnableInsecureGuestLogons wrote the registry value.
        assert after["server2016"]["insecure_guest_logons"] == ("DWord", 0)

        again = audit(inventory, credentials=env.credentials)
        for host in again.hosts:
            drift = {c.id for c in host.checks if c.status.value == D}
            assert drift <= {"smb1_client"}, (host.name, drift)

        back = rollback(tmp_path / "j.jsonl", inventory=inventory, credentials=env.credentials)
        assert back.exit_code == 0, [(h.name, h.status, h.error) for h in back.hosts]
        assert state() == prior
        assert smb1_accepted() is True


def test_a_weakening_state_is_a_guarded_workaround_that_expires(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from tests.support.cli import run_cli

    hosts = "  - name: nas-gw\n    profile: server2019\n"
    with lab(tmp_path, hosts, policies={"nas-gw": {"smb1_server": "enabled"}}) as env:
        inv, sel = str(env.inventory_path), ["--baseline", "smb-hardening", "--only", "smb1_server"]
        code, out, _ = run_cli(["remediate", "-i", inv, *sel, "--check", "-f", "json"], capsys)
        check = json.loads(out)["hosts"][0]["checks"][0]
        assert code == 4 and check["outcome"] == "blocked" and "--allow-insecure" in check["reason"]

        args = ["remediate", "-i", inv, *sel, "--allow-insecure", "--expires", "12h", "--yes", "-f", "json"]
        code, _, err = run_cli(args, capsys)
        assert code == 0, err
        assert env.fleet.sim("nas-gw").registry.get_value(SRV, "SMB1") == ("DWord", 1)
        registry = json.loads((state_dir / "workarounds.json").read_text())
        assert set(registry["hosts"]["nas-gw"]) == {"smb1_server"}

        registry["hosts"]["nas-gw"]["smb1_server"]["expires"] = (
            datetime.now(UTC) - timedelta(days=1)
        ).isoformat()
        (state_dir / "workarounds.json").write_text(json.dumps(registry))
        code, out, _ = run_cli(["audit", "-i", inv, "--baseline", "smb-hardening", "-f", "json"], capsys)
        smb1 = next(c for c in json.loads(out)["hosts"][0]["checks"] if c["id"] == "smb1_server")
        assert code == 4 and smb1["status"] == "drift"
        assert "temporary workaround expired on" in smb1["reason"]
