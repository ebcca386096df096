"""A check that reads a property of Get-SmbServerConfiguration (``smb:``) instead of a registry
value: one Get-SmbServerConfiguration per host in the audit's round trip, hosts without the
SmbShare module judged without failing, fixed and rolled back through Set-SmbServerConfiguration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.remediate.helpers import SRV, lab
from toolkit.api import audit
from toolkit.baselines.select import with_baselines
from toolkit.remediate import plan, remediate, rollback
from toolkit.remediate.model import Outcome

pytestmark = pytest.mark.timeout(120)

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
    not_applicable:
      - {when: {builds: "<10240"}, reason: "no AuditSmb1Access before Windows 10 (build {build})", rule: smbshare-configuration-cmdlets}
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
HOSTS = "".join(f"  - name: {p}\n    profile: {p}\n" for p in ("win7", "server2012r2", "server2019"))


def test_an_smb_property_check_audits_fixes_and_rolls_back(tmp_path: Path) -> None:
    baseline = tmp_path / "smb1-audit.yaml"
    baseline.write_text(AUDIT_SMB1, encoding="utf-8")
    with lab(tmp_path, HOSTS) as env:
        inventory = with_baselines(env.inventory, [str(baseline)])
        before = {h.name: h.checks[0] for h in audit(inventory, credentials=env.credentials).hosts}
        assert {n: c.status.value for n, c in before.items()} == {
            "win7": "not_applicable",  # no SmbShare module: the read fails, the host does not
            "server2012r2": "not_applicable",
            "server2019": "drift",
        }
        assert before["server2019"].actual == "AuditSmb1Access=0 (DWord)"

        checked = plan(inventory, credentials=env.credentials)
        (change,) = [c for h in checked.hosts for c in h.changes]
        assert change.command == "Set-SmbServerConfiguration -AuditSmb1Access $true -Force"

        run = remediate(inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl")
        assert run.exit_code == 0, [(h.name, h.error) for h in run.hosts]
        assert [c.outcome for h in run.hosts for c in h.changes] == [Outcome.CHANGED]
        assert env.fleet.sim("server2019").registry.get_value(SRV, "AuditSmb1Access") == ("DWord", 1)
        assert audit(inventory, credentials=env.credentials).exit_code == 0

        back = rollback(tmp_path / "j.jsonl", inventory=inventory, credentials=env.credentials)
        assert back.exit_code == 0, [(h.name, h.error, h.checks) for h in back.hosts]
        (restored,) = [c for h in back.hosts for c in h.checks]
        assert restored.outcome is Outcome.RESTORED
        assert restored.command == "Set-SmbServerConfiguration -AuditSmb1Access $false -Force"
        after = {h.name: h.checks[0] for h in audit(inventory, credentials=env.credentials).hosts}
        assert after["server2019"].status.value == "drift"  # as before the remediation
