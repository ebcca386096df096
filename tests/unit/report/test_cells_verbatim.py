"""Every table psfleet draws shows each cell as written. tabulate reads a column whose cells
all look like numbers as numbers and rewrites them ("3.0" -> 3, "010" -> 10, "1e5" ->
100000.0, right-aligned): a host named 010, a value 3.0, an operator 1e5 must stay what they
are, in the table and in Markdown. Columns of counts (HOSTS, EXIT...) stay right-aligned, and
the tables of ordinary fleets are the text tabulate drew before, byte for byte."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tabulate import tabulate, tabulate_formats

from toolkit.checks.facts import RegValue
from toolkit.remediate.model import HostRemediation, Outcome, RemediateRun, RemediateStatus, SettingResult
from toolkit.report.audit import render_report
from toolkit.report.diagnose import diagnosis_text
from toolkit.report.history import render_diff, render_history, render_timeline
from toolkit.report.listing import render_baseline, render_baseline_list, render_hosts
from toolkit.report.remediate import changes_table, restores_table
from toolkit.report.run import render_run
from toolkit.report.tabular import text_table
from toolkit.results import AuditRun, ErrorKind, HostError, HostResult, HostStatus
from toolkit.run_command.command import RunCommand
from toolkit.run_command.results import CommandRun, HostRunResult, OutputObject, RunStatus
from toolkit.smb.diagnose import DiagnosisResult, DiagnosisStatus
from toolkit.store.query import DiffEntry, RunDiff, RunInfo, TimelineEntry
from toolkit.transport.model import PSObj, PSValue

#: Text tabulate would rewrite (as one column: 3, 10, 100000.0).
NUMBERLIKE = ("3.0", "010", "1e5")


def assert_verbatim(text: str, values: tuple[str, ...] = NUMBERLIKE) -> None:
    """Each value is a whole cell of ``text`` (parsed, it would have become another text)."""
    tokens = text.replace("|", " ").split()
    for value in values:
        assert value in tokens, text
    assert "100000" not in text, text


def row_of(text: str, first: str) -> str:
    """The table row whose first cell is ``first`` (markdown: after the pipe)."""
    rows = [line for line in text.splitlines() if line.lstrip("| ").split(" ", 1)[0] == first]
    assert len(rows) == 1, text
    return rows[0]


# --- audit, remediate, rollback host report (report/table.py) ---------------------------------


def audit_run(names: tuple[str, ...]) -> AuditRun:
    hosts = tuple(
        HostResult(
            name, f"10.0.0.{i}", HostStatus.UNREACHABLE, error=HostError(ErrorKind.UNREACHABLE, "refused")
        )
        for i, name in enumerate(names, 1)
    )
    return AuditRun(hosts=hosts, started="s", finished="f", inventory="fleet.yml", version="0.1.0")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_audit_host_names_that_look_like_numbers_are_shown_as_named(fmt: str) -> None:
    text = render_report(audit_run(NUMBERLIKE), fmt)
    assert_verbatim(text)
    if fmt == "table":
        assert row_of(text, "010").startswith("010 ")  # text, at the left like every name


@pytest.mark.parametrize("table_format", ["grid", "github", "psql", "pretty", "html"])
def test_every_table_format_shows_the_names_as_named(table_format: str) -> None:
    text = render_report(audit_run(NUMBERLIKE), "table", table_format=table_format)
    for value in NUMBERLIKE:
        assert value in text
    assert "100000" not in text


# --- psfleet run (report/run.py) ---------------------------------------------------------------


def command_run() -> CommandRun:
    def answer(name: str, version: str, ratio: float) -> HostRunResult:
        obj = PSObj(("System.Version",), {}, to_string=version)
        props: dict[str, PSValue | PSObj | None] = {
            "Version": obj,
            "Price": PSValue("Decimal", Decimal(version.replace("1e5", "1.50"))),
            "Ratio": PSValue("Double", ratio),
        }
        return HostRunResult(
            name,
            "10.0.0.1",
            RunStatus.OK,
            output=(OutputObject.of(PSObj(("System.Management.Automation.PSCustomObject",), props)),),
        )

    hosts = (answer("010", "3.0", 3.0), answer("1e5", "010", 2.5), answer("h3", "1e5", 10.0))
    return CommandRun(RunCommand.script("Get-Thing"), hosts, "s", "f", "inv.yml", "0.1.0")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_run_answers_that_look_like_numbers_are_shown_as_answered(fmt: str) -> None:
    text = render_run(command_run(), fmt)
    assert_verbatim(text)
    assert "10.0" in text.split()  # the Double 10.0 as PowerShell's value, not 10
    assert {"3.0", "010", "1.50"} <= set(text.replace("|", " ").split())  # Decimals as they came
    if fmt == "table":
        header = text.splitlines()[0]
        row = row_of(text, "1e5")
        assert row.startswith("1e5 ")  # host names are text
        assert row.index(" 010 ") == header.index("Version") - 1  # a version is text, at the left
        # .NET numbers stay aligned as numbers (right, on the point), still as written
        assert row_of(text, "h3").rstrip().endswith("10.0") and row.rstrip().endswith(" 2.5")


# --- history, timeline, diff (report/history.py) -----------------------------------------------


def run_info(run_id: int, operator: str, hosts: int) -> RunInfo:
    return RunInfo(
        run_id, f"u{run_id}", "audit", "audit", "2026-11-30T08:00:00+00:00", "f", operator, operator, 0, False,
        hosts, {"compliant": hosts},
    )  # fmt: skip


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_history_operators_and_inventories_are_shown_as_recorded(fmt: str) -> None:
    text = render_history([run_info(8 + i, name, 3 + 9 * i) for i, name in enumerate(NUMBERLIKE)], fmt)
    assert_verbatim(text)
    if fmt == "table":
        header = text.splitlines()[0]
        row = row_of(text, "9")
        assert row.index("010") == header.index("INVENTORY")  # text at the left
        assert row[header.index("HOSTS") + len("HOSTS") - 2 :].startswith("12")  # counts at the right


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_timeline_shows_operators_and_values_as_recorded(fmt: str) -> None:
    entries = [
        TimelineEntry(i, "audit", "audit", "2026-11-30T08:00:00+00:00", name, "drift",
                      {"version": {"status": "drift", "actual": f"Version={name}"}})
        for i, name in enumerate(NUMBERLIKE, 1)
    ]  # fmt: skip
    text = render_timeline("fs01", entries, fmt)
    assert_verbatim(text)
    assert "drift: 3.0" in text and "drift: 010" in text


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_diff_shows_hosts_and_values_as_recorded(fmt: str) -> None:
    entries = tuple(DiffEntry("changed", name, "version", name, "1e5") for name in ("3.0", "010"))
    diff = RunDiff(run_info(1, "op", 2), run_info(2, "op", 2), entries)
    assert_verbatim(render_diff(diff, fmt))


# --- remediate and rollback tables (report/remediate.py) ---------------------------------------


def remediation(names: tuple[str, ...]) -> RemediateRun:
    def setting(value: str) -> SettingResult:
        return SettingResult(
            "version", "K", "Version", RegValue("String", value), RegValue("String", value), "Set-Thing",
            Outcome.PENDING, "why", "windows-facts#x",
        )  # fmt: skip

    hosts = tuple(
        HostRemediation(name, "10.0.0.1", RemediateStatus.DRIFT, checks=(setting(name),)) for name in names
    )
    return RemediateRun(
        hosts=hosts, mode="check", run_id="r", started="s", finished="f", inventory="i", version="0"
    )


@pytest.mark.parametrize("table_format", ["simple", "github"])
def test_changes_show_hosts_as_named(table_format: str) -> None:
    text = changes_table(remediation(NUMBERLIKE), table_format=table_format)
    assert_verbatim(text)
    assert "'3.0' (String)" in text


def test_restores_show_hosts_and_values_as_recorded() -> None:
    text = restores_table([(name, name, name, "Set-Thing") for name in NUMBERLIKE])
    assert_verbatim(text)
    assert row_of(text, "010").split() == ["010", "010", "010", "Set-Thing"]


# --- listings (report/listing.py) ---------------------------------------------------------------


def test_baseline_list_shows_names_and_digests_as_they_are() -> None:
    rows = [
        {"name": name, "checks": ["a"] * (i + 1), "description": name, "sha256": f"{i}12345678e1234"}
        for i, name in enumerate(NUMBERLIKE)
    ]
    text = render_baseline_list(rows, "table")
    assert_verbatim(text)
    assert "012345678e12" in text  # a digest prefix that tabulate read as 1.2e+21
    header = text.splitlines()[0]
    assert row_of(text, "1e5")[header.index("checks") : header.index("checks") + 6].strip() == "3"


def test_baseline_show_states_and_defaults_as_they_are() -> None:
    checks = [
        {
            "id": name,
            "registry": {"path": "HKLM\\K", "name": "V", "kind": "String"},
            "smb": None,
            "states": [name],
            "default_state": name,
            "remediation": {"cmdlets": [], "registry": "Set-Thing"},
            "references": {"facts": "docs/windows-facts.md#x"},
        }
        for name in NUMBERLIKE
    ]
    data = {"name": "b", "description": "d", "sha256": "0" * 64, "source": "shipped", "checks": checks}
    assert_verbatim(render_baseline(data, "table"))


def test_inventory_list_shows_hosts_as_named() -> None:
    rows = [
        {"name": name, "address": name, "port": port, "scheme": "http", "auth": "negotiate",
         "cert_validation": "validate", "username": name, "password_from": None, "groups": [name],
         "policy": {}}
        for name, port in zip(NUMBERLIKE, (5985, 443, 15985), strict=True)
    ]  # fmt: skip
    text = render_hosts(rows, "table")
    assert_verbatim(text)
    header = text.splitlines()[0]
    end = header.index("port") + len("port")
    assert [line[:end].split()[-1] for line in text.splitlines()[2:]] == ["5985", "443", "15985"]
    assert row_of(text, "010")[end - 5 : end] == "  443"  # ports stay right-aligned


# --- diagnose (report/diagnose.py: aligned by hand, no tabulate) -------------------------------


def test_a_diagnosis_shows_the_dialect_as_negotiated() -> None:
    result = DiagnosisResult("010", 445, DiagnosisStatus.PASS, "010:445: ok", dialect="3.0")
    lines = diagnosis_text(result).splitlines()
    assert lines[0].split() == ["server", "010:445"] and "dialect  3.0" in lines


# --- ordinary tables: the text tabulate drew before ---------------------------------------------

ORDINARY_HEADERS = ["RUN", "HOST", "STATUS", "HOSTS", "COMPLIANT", "VALUE", "ERROR"]
ORDINARY = [
    [
        ["1", "fs01", "compliant", "3", "3", "1 (DWord)", ""],
        ["12", "dc01", "drift", "12", "0", "0 (DWord)", ""],
    ],
    [["1", "fs01", "restored", "3", "-", "'0' (String)", "x"], ["2", "10.0.0.1", "drift", "1", "1", "", ""]],
    [["7", "fs01", "unreachable", "", "", "", "refused"]],
    [],
]


@pytest.mark.parametrize("table_format", tabulate_formats)
def test_ordinary_tables_are_what_tabulate_drew(table_format: str) -> None:
    for rows in ORDINARY:
        before = tabulate(rows, ORDINARY_HEADERS, tablefmt=table_format)
        assert text_table(rows, ORDINARY_HEADERS, tablefmt=table_format, numbers=(0, 3, 4)) == before, rows
