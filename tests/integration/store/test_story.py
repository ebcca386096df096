"""history, diff and report against a lab fleet changed between runs: remediated, drifted by
hand, a host taken down (tests/integration/store/conftest.py tells the story)."""

from __future__ import annotations

import json
import re
import sqlite3

from tests.integration.store.conftest import Story


def test_each_run_completes_and_is_recorded_with_its_own_exit_code(story: Story) -> None:
    assert story.runs["audit1"].code == 4, story.runs["audit1"].err
    assert story.runs["remediate"].code == 0, story.runs["remediate"].err
    assert story.runs["audit2"].code == 12, story.runs["audit2"].err
    for result in story.runs.values():
        assert "not recorded" not in result.err
    with sqlite3.connect(story.db) as conn:
        kinds = conn.execute("select kind, mode, exit_code from runs order by id").fetchall()
    assert kinds == [("audit", "", 4), ("remediate", "apply", 0), ("audit", "", 12)]


def test_history_lists_the_runs_with_their_counts(story: Story) -> None:
    result = story.psfleet("history", "-f", "json")
    assert result.code == 0, result.err
    runs = result.json()["runs"]
    assert [(r["kind"], r["counts"]) for r in runs] == [
        ("audit", {"compliant": 2, "drift": 2}),
        ("remediate", {"compliant": 4}),
        ("audit", {"compliant": 2, "drift": 1, "unreachable": 1}),
    ]
    table = story.psfleet("history").out
    assert "remediate apply" in table and "4 changed" in table
    assert "1 (1 unreachable)" in table


def test_history_by_check_and_by_limit_pattern(story: Story) -> None:
    by_check = story.psfleet("history", "--check", "client_signing", "--kind", "audit", "-f", "json").json()
    assert [r["counts"] for r in by_check["runs"]] == [
        {"compliant": 2, "drift": 2},
        {"compliant": 2, "drift": 1},  # br-ok is down: no verdict; hq-ok drifted by hand
    ]
    branch = story.psfleet("history", "--limit", "branch", "--kind", "audit", "-f", "json").json()
    assert [r["counts"] for r in branch["runs"]] == [
        {"compliant": 1, "drift": 1},
        {"compliant": 1, "unreachable": 1},
    ]
    assert [r["hosts"] for r in branch["runs"]] == [2, 2]
    bad = story.psfleet("history", "--limit", "nosuch*")
    assert bad.code == 2 and "nosuch" in bad.err


def test_host_timeline_shows_who_changed_what_with_the_journal_run_id(story: Story) -> None:
    remediation = story.runs["remediate"].json()["run"]
    timeline = story.psfleet("history", "--host", "hq-drift", "-f", "json").json()
    entries = timeline["entries"]
    assert [e["status"] for e in entries] == ["drift", "compliant", "compliant"]
    changes = entries[1]["changes"]
    assert {c["setting"] for c in changes} == {"client_signing", "server_signing"}
    for change in changes:
        assert change["before"] == "0 (DWord)" and change["after"] == "1 (DWord)"
        assert change["outcome"] == "changed"
        assert change["journal_run_id"] == remediation["id"]
        assert change["journal"] == remediation["journal"]
    assert entries[1]["operator"]  # who: the account that ran it
    table = story.psfleet("history", "--host", "hq-drift").out
    assert f"journal run {remediation['id']}" in table
    assert "drift: 0 (DWord)" in table  # the value before
    assert story.psfleet("history", "--host", "nosuch").out == "no runs recorded for host nosuch\n"


def test_diff_of_the_last_two_audits_names_what_got_worse_and_exits_4(story: Story) -> None:
    result = story.psfleet("diff", "-f", "json")
    assert result.code == 4, result.err
    diff = result.json()
    found = {(c["category"], c["host"], c["check"]) for c in diff["changes"]}
    assert ("drifted", "hq-ok", "client_signing") in found  # manual drift
    assert ("unreachable", "br-ok", "") in found  # taken down
    assert ("fixed", "hq-drift", "client_signing") in found  # remediated
    assert ("fixed", "br-drift", "server_signing") in found
    assert diff["counts"]["drifted"] == 1 and diff["counts"]["unreachable"] == 1
    assert diff["a"]["id"] == 1 and diff["b"]["id"] == 3  # audits only, same inventory
    table = story.psfleet("diff")
    assert table.code == 4
    assert "newly drifted" in table.out and "became unreachable" in table.out
    assert "run 1 -> run 3: 1 newly drifted, 1 became unreachable, 4 fixed" in table.out


def test_diff_in_reverse_order_sees_the_host_come_back_and_explicit_runs_work(story: Story) -> None:
    result = story.psfleet("diff", "3", "1", "-f", "json")
    assert result.code == 4, result.err  # undoing the remediation drifts two hosts again
    found = {(c["category"], c["host"]) for c in result.json()["changes"]}
    assert ("back", "br-ok") in found and ("fixed", "hq-ok") in found and ("drifted", "hq-drift") in found
    same = story.psfleet("diff", "1", "1")
    assert same.code == 0 and "no change" in same.out
    missing = story.psfleet("diff", "1", "99")
    assert missing.code == 2 and "no run '99'" in missing.err


def test_report_html_is_written_with_the_latest_counts(story: Story) -> None:
    page = story.tmp / "report.html"
    result = story.psfleet("report", "--html", str(page))
    assert result.code == 0, result.err
    html = page.read_text()
    assert '<b id="count-hosts">4</b>' in html
    assert '<b id="count-drift">1</b>' in html and '<b id="count-unassessed">1</b>' in html
    assert 'href="docs/windows-facts.md#signing-client-value"' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html


def test_no_record_leaves_the_store_as_it_was(story: Story) -> None:
    before = json.loads(story.psfleet("history", "-f", "json").out)["runs"]
    result = story.psfleet("audit", "-i", str(story.inventory), "--no-record", "-f", "json")
    assert result.code == 12
    after = json.loads(story.psfleet("history", "-f", "json").out)["runs"]
    assert after == before


def test_audit_prometheus_textfile_for_node_exporter(story: Story) -> None:
    target = story.tmp / "textfile" / "psfleet.prom"
    target.parent.mkdir(exist_ok=True)
    result = story.psfleet(
        "audit", "-i", str(story.inventory), "-f", "prometheus", "-o", str(target), "--no-record"
    )
    assert result.code in (4, 8, 12), result.err  # the story's fleet: drift and a host down
    text = target.read_text()
    assert text.startswith("# HELP psfleet_audit_hosts ")
    statuses = dict(
        re.findall(r'^psfleet_audit_host_status\{host="([^"]+)",status="([^"]+)"\} 1$', text, re.M)
    )
    assert sorted(statuses) == ["br-drift", "br-ok", "hq-drift", "hq-ok"]
    assert statuses["br-ok"] == "unreachable"  # taken down
    for status in set(statuses.values()):
        count = sum(1 for s in statuses.values() if s == status)
        assert f'psfleet_audit_hosts{{status="{status}"}} {count}\n' in text
    assert f"psfleet_audit_exit_code {result.code}\n" in text  # the same exit code as any other format
    assert "4 hosts" in result.err and "wrote" in result.err  # the summary went to the terminal


def test_bad_since_is_a_usage_error(story: Story) -> None:
    result = story.psfleet("history", "--since", "last week")
    assert result.code == 2
    assert result.err.strip() == (
        "psfleet: error: --since: 'last week' is not a duration (30d, 12h, 2w, 90m) or an ISO date"
    )
