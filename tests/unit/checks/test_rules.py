"""Rule ids resolve into docs/windows-facts.md, and every fact there has a public source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolkit.checks import rules

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / rules.FACTS_DOC
ANCHOR = re.compile(r'<a id="([a-z0-9-]+)"></a>')
#: A rule id or a link into the facts doc, wherever it is written.
REFERENCE = re.compile(r"(?:windows-facts#|windows-facts\.md#)([A-Za-z0-9_-]+)")
URL = re.compile(r"https://[^\s)>\]]+")
#: A fact named in a baseline's YAML (``rule: <anchor>``, ``elsewhere_rule:``, ``facts:``).
YAML_REFERENCE = re.compile(r"\b(?:rule|elsewhere_rule|facts):\s*([a-z0-9-]+)")
#: Words that stand for "some anchor" in prose (``windows-facts#anchor``), not references.
PLACEHOLDERS = frozenset({"anchor", "id"})


def _github_slug(heading: str) -> str:
    """The anchor GitHub derives from a heading's text."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def fact_anchors() -> list[str]:
    return ANCHOR.findall(_doc_text())


def all_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", _doc_text(), flags=re.MULTILINE)
    return set(fact_anchors()) | {_github_slug(h) for h in headings}


def facts() -> dict[str, str]:
    """Anchor -> the text of its fact (up to the next fact or section)."""
    text = _doc_text()
    marks = list(ANCHOR.finditer(text))
    result = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        section = text.find("\n## ", mark.end(), end)
        result[mark.group(1)] = text[mark.end() : section if section != -1 else end]
    return result


def references() -> list[tuple[str, str]]:
    """(file, anchor) for every rule id or facts-doc link in toolkit/ (code and baseline YAML),
    docs/ and README.md."""
    files = [
        *sorted((ROOT / "toolkit").rglob("*.py")),
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "README.md",
    ]
    found = []
    for path in files:
        for anchor in REFERENCE.findall(path.read_text(encoding="utf-8")):
            if anchor not in PLACEHOLDERS:
                found.append((str(path.relative_to(ROOT)), anchor))
    for path in sorted((ROOT / "toolkit").rglob("*.yaml")):
        for anchor in YAML_REFERENCE.findall(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), anchor))
    return found


def test_anchors_are_unique() -> None:
    anchors = fact_anchors()
    assert anchors, "no <a id> anchors in docs/windows-facts.md"
    assert len(anchors) == len(set(anchors)), sorted(a for a in anchors if anchors.count(a) > 1)


def test_every_rule_constant_resolves_to_a_fact() -> None:
    constants = {
        name: value for name, value in vars(rules).items() if name.isupper() and isinstance(value, str)
    }
    rule_ids = [v for v in constants.values() if v.startswith(rules.RULE_PREFIX) and v != rules.RULE_PREFIX]
    assert len(rule_ids) >= 10
    missing = sorted(r for r in rule_ids if rules.anchor_of(r) not in fact_anchors())
    assert missing == []


def test_every_reference_in_the_code_and_docs_resolves() -> None:
    found = references()
    assert any(path.startswith("toolkit/") for path, _ in found)
    assert any(path.endswith(".yaml") for path, _ in found)
    anchors = all_anchors()
    assert sorted({(path, a) for path, a in found if a not in anchors}) == []


def test_every_fact_has_a_public_source_url() -> None:
    by_anchor = facts()
    assert len(by_anchor) == len(fact_anchors())
    assert sorted(a for a, text in by_anchor.items() if not URL.search(text)) == []


def test_assumptions_are_stated_in_words_never_as_internal_markers() -> None:
    text = _doc_text()
    assert "[U]" not in text
    assert re.search(r"DOMAIN [0-9]", text) is None
    assert "psfleet's assumption" in text


def test_every_audit_rule_is_explained() -> None:
    lines = rules.explain_lines()
    assert rules.FACTS_DOC in lines[0]
    for rule in rules.AUDIT_RULES:
        assert any(rule in line for line in lines[1:]), rule


@pytest.mark.parametrize("bad", ["DOMAIN 1.3", "windows-facts#", "docs/windows-facts.md#x", ""])
def test_anchor_of_refuses_what_is_not_a_rule_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not a rule id"):
        rules.anchor_of(bad)


def test_doc_link_points_into_the_facts_doc() -> None:
    assert rules.doc_link(rules.RSN_ABSENT_DEFAULT) == "docs/windows-facts.md#rsn-absent-default"
