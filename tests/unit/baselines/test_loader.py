"""Baseline files: the shipped ones load and cite real anchors; bad files are refused with one
line naming file:line: field; selection, caching and overlaps."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from tests.support.baselines import TINY_BASELINE
from toolkit.baselines.loader import (
    BaselineError,
    load_file,
    load_text,
    resolve,
    resolve_all,
    shipped_names,
)
from toolkit.checks.probe import AUDIT_KEYS, probe_keys, statements_for
from toolkit.checks.rules import anchor_of

ROOT = Path(__file__).resolve().parents[3]
FACTS = (ROOT / "docs" / "windows-facts.md").read_text(encoding="utf-8")
ANCHORS = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', FACTS))

GOOD = TINY_BASELINE


def test_shipped_baselines_load_and_cite_existing_anchors_and_public_urls() -> None:
    assert shipped_names() == ("smb-hardening", "smb-validate-negotiate")
    for name in shipped_names():
        baseline = resolve(name)
        assert baseline.shipped and len(baseline.digest) == 64
        for check in baseline.checks:
            rules = {check.facts, check.wrong_kind.rule, *(r.rule for r in (*check.values, *check.absent))}
            rules |= {n.rule for n in check.not_applicable} | {e.rule for e in check.enforced}
            assert {anchor_of(r) for r in rules} <= ANCHORS, check.id
            assert all(u.startswith("https://learn.microsoft.com/") for u in check.urls), check.id


def test_the_validate_negotiate_baseline_keeps_its_ids_and_values() -> None:
    baseline = resolve("smb-validate-negotiate")
    assert baseline.ids == ("secure_negotiate", "client_signing", "server_signing")
    assert [(c.name, c.kind) for c in baseline.checks] == [
        ("RequireSecureNegotiate", "DWord"),
        ("RequireSecuritySignature", "DWord"),
        ("RequireSecuritySignature", "DWord"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("kind: DWord}", "kind: Dword}", ":5: checks[0].registry.kind: kind 'Dword'"),
        (
            "default_state: up",
            "default_state: down",
            ":10: checks[0].default_state: 'down' is not one of the states",
        ),
        ("meanings: {up: it", "meanings: {on: it", ":6: checks[0].meanings: True is not a name (YAML reads"),
        (
            "means: down, text: absent",
            "means: dwn, text: absent",
            ":15: checks[0].absent[0].means: unknown meaning 'dwn'",
        ),
        (
            "rule: registry-write-kind}\n    references",
            "rule: 'DOMAIN 4.1'}\n    references",
            ":16: checks[0].wrong_kind.rule",
        ),
        (
            "urls: ['https://example.org/x']",
            "urls: ['http://example.org/x']",
            ":17: checks[0].references.urls[0]: expected an https:// URL",
        ),
        (
            "    title: One value\n",
            "    title: One value\n    colour: red\n",
            ":5: checks[0].colour: unknown key 'colour'",
        ),
        (
            "'HKLM:\\SOFTWARE\\Example'",
            "'HKCU:\\Software\\Example'",
            ":5: checks[0].registry.path: expected a key under HKLM",
        ),
        (
            "up: {expected",
            "up: {weakens: true, expected",
            ":10: checks[0].default_state: the default state cannot weaken",
        ),
        (
            '      - {means: down, text: "DWORD {value}"',
            "      - {means: down, text: [x]",
            ":13: checks[0].values[1].text: expected non-empty text",
        ),
        ("name: tiny", "name: Tiny Baseline", ":1: name: 'Tiny Baseline' is not a baseline name"),
        (
            "    absent:\n      - {means",
            "    absent:\n      - {when: {builds: '>=9200'}, means",
            ":15: checks[0].absent: the last 'absent' entry must have no 'when'",
        ),
    ],
)
def test_bad_files_name_file_line_and_field(old: str, new: str, where: str) -> None:
    assert old in GOOD
    with pytest.raises(BaselineError) as exc:
        load_text(GOOD.replace(old, new).encode(), "tiny.yaml")
    assert str(exc.value).startswith(f"tiny.yaml{where}"), str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_good_custom_file_loads_and_is_parsed_once(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD, encoding="utf-8")
    first = resolve(str(path))
    assert not first.shipped and first.ids == ("one",)
    assert load_file(path) is first  # cached: not parsed again
    path.write_text(GOOD.replace("One value", "One value, renamed"), encoding="utf-8")
    assert load_file(path).checks[0].title == "One value, renamed"


def test_unknown_names_and_missing_files_are_refused() -> None:
    with pytest.raises(BaselineError, match=r"no shipped baseline 'smb-hardned'.*smb-hardening"):
        resolve("smb-hardned")
    with pytest.raises(BaselineError, match="file not found"):
        resolve("/nonexistent/x.yaml")


def test_the_same_value_in_two_baselines_is_judged_once_other_values_clash(tmp_path: Path) -> None:
    both = resolve_all(["smb-validate-negotiate", "smb-hardening"])
    ids = [c.id for b in both for c in b.checks]
    assert ids.count("client_signing") == 1 and "smb1_server" in ids
    clash = tmp_path / "clash.yaml"
    clash.write_text(GOOD.replace("id: one", "id: client_signing"), encoding="utf-8")
    with pytest.raises(BaselineError, match="'client_signing' is in both smb-validate-negotiate and tiny"):
        resolve_all(["smb-validate-negotiate", str(clash)])


def test_the_probe_reads_each_key_once_whatever_the_number_of_checks() -> None:
    checks = [c for b in resolve_all(["smb-validate-negotiate", "smb-hardening"]) for c in b.checks]
    keys = probe_keys(c.path for c in checks)
    assert len(checks) == 7 and len(keys) == 4  # CurrentVersion, LanmanWorkstation, LanmanServer, mrxsmb10
    assert keys[: len(AUDIT_KEYS)] == AUDIT_KEYS
    statements = statements_for(keys)
    assert [s[0].name for s in statements] == ["Get-ItemProperty"] * 4
    assert statements_for(keys) is statements  # built once per key set


def test_audit_explain_lists_every_rule_the_shipped_baselines_use() -> None:
    from toolkit.checks.rules import AUDIT_RULES

    used = {
        r.rule
        for name in shipped_names()
        for c in resolve(name).checks
        for r in (*c.values, *c.absent, c.wrong_kind, *c.not_applicable, *c.enforced)
    }
    assert sorted(used - set(AUDIT_RULES)) == []


SHIPPED_HARDENING = files("toolkit.baselines").joinpath("data/smb-hardening.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        (
            "cmdlet: Set-SmbServerConfiguration\n          parameter: EnableSMB1Protocol",
            "cmdlet: Set-SmbShare\n          parameter: EnableSMB1Protocol",
            56,
            "cmdlet: unknown cmdlet 'Set-SmbShare'; choose from Set-SmbClientConfiguration",
        ),
        (
            "parameter: EnableSMB1Protocol",
            "parameter: Enable-SMB1",
            57,
            "parameter: expected a parameter name",
        ),
    ],
)
def test_a_bad_cmdlet_write_names_its_line(old: str, new: str, line: int, words: str) -> None:
    assert old in SHIPPED_HARDENING
    with pytest.raises(BaselineError) as exc:
        load_text(SHIPPED_HARDENING.replace(old, new, 1).encode(), "hardening.yaml")
    message = str(exc.value)
    assert message.startswith(f"hardening.yaml:{line}: "), message
    assert words in message, message
