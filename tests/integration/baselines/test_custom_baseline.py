"""A baseline the project does not ship, written here, goes through the whole machinery
against the lab over TCP, as typed at the CLI: audit, remediate --check, remediate, audit,
rollback, with the exact prior values back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.remediate.helpers import lab
from tests.support.cli import run_cli

pytestmark = pytest.mark.timeout(120)

LSA = r"HKLM:\SYSTEM\CurrentControlSet\Control\Lsa"

#: RestrictAnonymous: a registry check psfleet does not ship.
CUSTOM = r"""
name: lsa-anonymous
description: Anonymous enumeration restricted (a site's own check)
checks:
  - id: restrict_anonymous
    title: Anonymous enumeration of shares restricted
    registry:
      path: HKLM:\SYSTEM\CurrentControlSet\Control\Lsa
      name: RestrictAnonymous
      kind: DWord
      prior_kinds: [String]
    meanings:
      restricted: anonymous users cannot enumerate shares
      open: anonymous users can enumerate shares
    states:
      restricted: {expected: "restricted (1 (DWord))", means: restricted, value: 1}
      any: {expected: "any (not enforced)"}
    default_state: restricted
    values:
      - {equals: 1, means: restricted, text: DWORD 1, rule: registry-write-kind}
      - {means: open, text: "DWORD {value}", rule: registry-write-kind}
    absent:
      - {means: open, text: absent means 0, rule: registry-write-kind}
    wrong_kind:
      text: "{value} is not a DWORD, not honoured"
      rule: registry-write-kind
    references:
      facts: registry-write-kind
      urls: [https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_registry_provider]
"""

HOSTS = f"""  - name: dword0
    profile: server2019
    registry:
      '{LSA}': {{RestrictAnonymous: {{kind: DWord, value: 0}}}}
  - name: sz
    profile: server2012r2
    registry:
      '{LSA}': {{RestrictAnonymous: {{kind: String, value: '0'}}}}
  - name: absent
    profile: win10
    registry:
      '{LSA}': {{LimitBlankPasswordUse: {{kind: DWord, value: 1}}}}
  - name: done
    profile: win11-24h2
    registry:
      '{LSA}': {{RestrictAnonymous: {{kind: DWord, value: 1}}}}
"""


def _checks(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    hosts = doc["hosts"]
    assert isinstance(hosts, list)
    return {h["name"]: {c["id"]: c for c in h["checks"]} for h in hosts}


def test_a_custom_registry_check_is_audited_fixed_and_rolled_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "lsa.yaml"
    baseline.write_text(CUSTOM, encoding="utf-8")
    with lab(tmp_path, HOSTS) as env:
        inv, sel = str(env.inventory_path), ["--baseline", str(baseline)]

        def lsa(host: str) -> object:
            return env.fleet.sim(host).registry.get_value(LSA, "RestrictAnonymous")

        prior = {h.name: lsa(h.name) for h in env.fleet.hosts}
        assert prior["sz"] == ("String", "0") and prior["absent"] is None

        code, out, err = run_cli(["audit", "-i", inv, *sel, "-f", "json"], capsys)
        assert code == 4, err
        checks = _checks(json.loads(out))
        assert set(checks["dword0"]) == {"restrict_anonymous"}  # only the selected baseline
        assert checks["dword0"]["restrict_anonymous"]["status"] == "drift"
        assert "not honoured" in checks["sz"]["restrict_anonymous"]["reason"]
        assert checks["absent"]["restrict_anonymous"]["reason"].startswith("absent means 0")
        assert checks["done"]["restrict_anonymous"]["status"] == "compliant"
        assert checks["done"]["restrict_anonymous"]["rule"] == "windows-facts#registry-write-kind"

        code, out, err = run_cli(["remediate", "-i", inv, *sel, "--check", "-f", "json"], capsys)
        assert code == 4, err
        planned = {h["name"]: h["changes"] for h in json.loads(out)["hosts"]}
        assert planned["done"] == []
        assert planned["sz"][0]["command"] == (
            f"Set-ItemProperty -Path '{LSA}' -Name 'RestrictAnonymous' -Value 1 -Type 'DWord' -Force"
        )
        assert {h.name: lsa(h.name) for h in env.fleet.hosts} == prior  # --check writes nothing

        code, out, err = run_cli(["remediate", "-i", inv, *sel, "--yes", "-f", "json"], capsys)
        assert code == 0, err
        journal = Path(json.loads(out)["run"]["journal"])
        assert all(lsa(name) == ("DWord", 1) for name in prior)
        intents = [json.loads(line) for line in journal.read_text().splitlines() if '"intent"' in line]
        assert {i["host"] for i in intents} == {"dword0", "sz", "absent"}
        assert {i["baseline"] for i in intents} == {str(baseline.resolve())}
        assert len({i["baseline_digest"] for i in intents}) == 1 and len(intents[0]["baseline_digest"]) == 64

        code, out, err = run_cli(["audit", "-i", inv, *sel, "-f", "json"], capsys)
        assert code == 0, err

        code, out, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", inv, "--yes", "-f", "json"], capsys
        )
        assert code == 0, err
        assert {h.name: lsa(h.name) for h in env.fleet.hosts} == prior  # kinds and data, exactly


def test_rollback_refuses_a_journal_whose_value_the_baseline_does_not_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "lsa.yaml"
    baseline.write_text(CUSTOM, encoding="utf-8")
    with lab(tmp_path, HOSTS) as env:
        inv = str(env.inventory_path)
        code, out, err = run_cli(
            ["remediate", "-i", inv, "--baseline", str(baseline), "--yes", "-f", "json"], capsys
        )
        assert code == 0, err
        journal = Path(json.loads(out)["run"]["journal"])
        # Someone edits the journal to point the check at another value.
        text = journal.read_text().replace('"name": "RestrictAnonymous"', '"name": "LimitBlankPasswordUse"')
        journal.write_text(text)
        code, out, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", inv, "--yes", "-f", "json"], capsys
        )
        assert code == 2
        assert "is not a value psfleet manages" in err and "restrict_anonymous" in err
        assert env.fleet.sim("sz").registry.get_value(LSA, "RestrictAnonymous") == ("DWord", 1)
