from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from toolkit.errors import UsageError
from toolkit.report.machine import CSV_COLUMNS
from toolkit.report.render import FORMATS, legend, ndjson_line, render
from toolkit.results import AuditRun, CheckStatus

from .sample import sample_run


@pytest.fixture
def run() -> AuditRun:
    return sample_run()


def test_json_has_the_documented_schema(run: AuditRun) -> None:
    data = json.loads(render(run, "json"))
    assert data["schema"] == "psfleet.audit/1"
    assert set(data) == {"schema", "run", "summary", "hosts"}
    assert data["run"]["exit_code"] == 12
    assert data["summary"]["total"] == 3 and data["summary"]["drift"] == 1
    first = data["hosts"][0]
    assert {"name", "address", "status", "os", "checks", "error", "duration_s"} <= set(first)
    assert set(first["checks"][0]) == {"id", "expected", "actual", "status", "reason", "rule"}
    assert data["hosts"][2]["name"] == "büro-<7>&"  # non-ASCII kept, not mangled


def test_ndjson_one_host_per_line(run: AuditRun) -> None:
    text = render(run, "ndjson")
    lines = text.splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["fs01", "dc01", "büro-<7>&"]
    assert ndjson_line(run.hosts[0]) == lines[0]
    assert "\n" not in ndjson_line(run.hosts[2])  # a multi-line error message stays on one line


def test_csv_rows_per_host_and_check(run: AuditRun) -> None:
    rows = list(csv.DictReader(io.StringIO(render(run, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3 + 3 + 1
    trap = rows[0]
    assert (trap["host"], trap["check"], trap["check_status"], trap["rule"]) == (
        "fs01",
        "secure_negotiate",
        "drift",
        "windows-facts#rsn-wrong-kind",
    )
    assert trap["actual"] == "RequireSecureNegotiate='0' (String)"
    error = rows[-1]
    assert (error["host_status"], error["check"], error["error_kind"]) == ("unreachable", "", "unreachable")
    assert error["error_message"].startswith('connect "refused" | <port 5985>')


def test_junit_counts_and_escaping(run: AuditRun) -> None:
    root = ET.fromstring(render(run, "junit").encode("utf-8"))
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    assert len(cases) == 9 == int(suite.get("tests", ""))
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "3", "0")
    names = [c.get("name") for c in cases]
    assert "fs01.secure_negotiate" in names and "büro-<7>&.server_signing" in names
    failure = cases[0].find("failure")
    assert failure is not None and "wrong type" in failure.get("message", "")
    error = cases[-1].find("error")
    assert error is not None and error.get("type") == "unreachable"
    assert "<port 5985>" in error.get("message", "")


def test_junit_not_applicable_is_skipped() -> None:
    host = sample_run().hosts[0]
    checks = tuple(
        replace(c, status=CheckStatus.NOT_APPLICABLE) if c.id == "secure_negotiate" else c
        for c in host.checks
    )
    run = AuditRun((replace(host, checks=checks),), "s", "f", "inv", "0.1.0")
    suite = ET.fromstring(render(run, "junit")).find("testsuite")
    assert suite is not None
    assert suite.get("skipped") == "1"
    assert suite.find("testcase/skipped") is not None


def test_table_shows_hosts_statuses_values_and_errors(run: AuditRun) -> None:
    text = render(run, "table")
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["HOST", "ADDRESS", "OS", "STATUS"]
    assert "secure_negotiate" in lines[0] and "ERROR" in lines[0]
    fs01 = next(line for line in lines if line.startswith("fs01"))
    assert "drift" in fs01 and "'0' (String)" in fs01 and "Windows Server 2012 R2 (9600)" in fs01
    assert "unreachable: connect" in text
    assert "\x1b" not in text  # remote text cannot drive the terminal
    assert lines[-1] == "3 hosts: 1 compliant, 1 drift, 1 unreachable"


@pytest.mark.parametrize("table_format", ["grid", "plain", "github", "rounded_outline"])
def test_table_format_is_passed_to_tabulate(run: AuditRun, table_format: str) -> None:
    text = render(run, "table", table_format=table_format)
    assert "fs01" in text and "dc01" in text
    assert text != render(run, "table")


def test_markdown_table_escapes_pipes(run: AuditRun) -> None:
    text = render(run, "markdown")
    assert text.startswith("# psfleet audit\n")
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].startswith("| HOST")
    assert len(table) == 2 + 3
    columns = {line.replace("\\|", "").count("|") for line in table}
    assert len(columns) == 1  # the error's "|" did not add a column
    assert "\\|" in table[-1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_with_one_newline(run: AuditRun, fmt: str) -> None:
    text = render(run, fmt)
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_empty_run_renders() -> None:
    run = AuditRun((), "s", "f", "inv", "0.1.0")
    assert json.loads(render(run, "json"))["hosts"] == []
    assert render(run, "ndjson") == ""
    assert ET.fromstring(render(run, "junit")).get("tests") == "0"
    assert "0 hosts: none" in render(run, "table")


def test_unknown_formats_are_usage_errors(run: AuditRun) -> None:
    with pytest.raises(UsageError, match="choose one of"):
        render(run, "yaml")
    with pytest.raises(UsageError, match="--table-format"):
        render(run, "table", table_format="nope")


def test_legend_explains_columns_and_statuses() -> None:
    text = legend()
    for word in ("HOST", "STATUS", "secure_negotiate", "not_applicable", "drift", "auth_failed", "(DWord)"):
        assert word in text
    assert "windows-facts#rsn-wrong-kind" in text and "docs/windows-facts.md" in text
    assert "DOMAIN" not in text
