"""The two baseline-engine mutants session 3's checks run left alive, as an audit shows them:
a not-applicable reason names the host's build (or says "unknown" when it could not be read),
and a baseline whose ``absent_text`` uses ``{default}`` shows the absent entry's short
``default`` (its ``text`` when it has none). docs/mutation/checks.md maps each mutant."""

from __future__ import annotations

from toolkit.baselines.engine import judge
from toolkit.baselines.facts import KeyFacts
from toolkit.baselines.loader import load_text
from toolkit.checks.facts import ABSENT
from toolkit.checks.verdicts import evaluate
from toolkit.inventory.model import Policy
from toolkit.results import CheckStatus, OsInfo

from .helpers import facts, os_for

SITE = """name: site
checks:
  - id: one
    title: One value
    registry: {path: 'HKLM:\\SOFTWARE\\Example', name: V, kind: DWord}
    meanings: {up: it is on, down: it is off}
    states:
      up: {expected: "up (1 (DWord))", means: up, value: 1}
      any: {expected: any}
    default_state: up
    values:
      - {equals: 1, means: up, text: DWORD 1, rule: registry-write-kind}
      - {means: down, text: "DWORD {value}", rule: registry-write-kind}
    absent:
      - {when: {builds: ">=10240"}, means: up, text: absent means 1 since Windows 10, default: "on (1)", rule: registry-write-kind}
      - {means: down, text: absent means 0, rule: registry-write-kind}
    absent_text: "absent (OS default {default})"
    wrong_kind: {text: "{value} is not a DWORD", rule: registry-write-kind}
    not_applicable:
      - {when: {builds: unknown}, reason: "build {build}: nothing to judge", rule: registry-write-kind}
      - {when: {builds: "<9200"}, reason: "build {build} has no such value", rule: registry-write-kind}
    references: {facts: registry-write-kind, urls: ['https://example.org/x']}
"""

CHECK = load_text(SITE.encode(), "site.yaml").checks[0]
NO_VALUE = KeyFacts(True, {})


def test_a_not_applicable_reason_names_the_hosts_build() -> None:
    (negotiate, *_) = evaluate(
        facts("win7", workstation={"RequireSecureNegotiate": ABSENT}), Policy(), os=os_for("win7")
    )
    assert negotiate.status is CheckStatus.NOT_APPLICABLE
    assert negotiate.reason == "no validate negotiate before SMB 3.0: build 7601 speaks at most SMB 2.1"
    assert judge(CHECK, NO_VALUE, "up", os=os_for("2008r2")).reason == "build 7601 has no such value"


def test_a_not_applicable_reason_says_unknown_for_a_build_it_could_not_read() -> None:
    result = judge(CHECK, NO_VALUE, "up", os=OsInfo("Windows", None, ""))
    assert result.status is CheckStatus.NOT_APPLICABLE
    assert result.reason == "build unknown: nothing to judge"


def test_absent_text_shows_the_absent_entrys_default_or_else_its_text() -> None:
    new = judge(CHECK, NO_VALUE, "up", os=os_for("2016"))
    assert (new.status, new.reason) == (CheckStatus.COMPLIANT, "absent (OS default on (1)): it is on")
    old = judge(CHECK, NO_VALUE, "up", os=os_for("2012r2"))
    assert (old.status, old.reason) == (CheckStatus.DRIFT, "absent (OS default absent means 0): it is off")
