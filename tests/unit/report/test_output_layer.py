"""One output layer: ``render`` takes any run and prints what its command prints; every
command's table names the hosts pypsrp served after the lean client failed; report/ reads
plain data and imports none of the packages whose runs it renders."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from tests.unit.report.sample import sample_run
from tests.unit.report.test_probe_render import host as probe_host
from tests.unit.report.test_probe_render import run as probe_run
from tests.unit.report.test_run_render import sample as command_run
from toolkit.checks.facts import RegValue
from toolkit.errors import UsageError
from toolkit.remediate.model import HostRemediation, Outcome, RemediateRun, RemediateStatus, SettingResult
from toolkit.report.audit import render_report
from toolkit.report.probe import render_probe_run
from toolkit.report.remediate import (
    busy_lines,
    changes_table,
    confirm_question,
    render_remediation,
    summary_text,
)
from toolkit.report.render import render
from toolkit.report.run import render_run
from toolkit.results import AuditRun, ErrorKind, HostError

WHY = "lean: the server's SPNEGO answer\nwas not understood"
FOOTNOTE = "transport: pypsrp served 1 host after the lean client failed:\n  a: lean: the server's SPNEGO answer was not understood\n"


def remediation(fallback: str | None = None, *, mode: str = "check") -> RemediateRun:
    item = SettingResult(
        "client_signing",
        "K",
        "RequireSecuritySignature",
        RegValue("DWord", 0),
        RegValue("DWord", 1),
        "Set-ItemProperty -Path 'K' -Name 'RequireSecuritySignature' -Value 1",
        Outcome.PENDING,
        "why",
        "windows-facts#client-signing",
    )
    hosts = (
        HostRemediation("a", "10.0.0.1", RemediateStatus.DRIFT, checks=(item,), transport_fallback=fallback),
        HostRemediation(
            "b", "10.0.0.2", RemediateStatus.BUSY, error=HostError(ErrorKind.ERROR, "held by run r-9")
        ),
    )
    return RemediateRun(
        hosts=hosts, mode=mode, run_id="r", started="s", finished="f", inventory="i", version="0"
    )


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_run_tables_name_transport_fallbacks(fmt: str) -> None:
    plain = command_run()
    fallen = replace(plain, hosts=(replace(plain.hosts[0], transport_fallback=WHY), *plain.hosts[1:]))

    assert "transport:" not in render_run(plain, fmt)
    text = render_run(fallen, fmt)
    assert FOOTNOTE in text
    # The footnote sits between the table and the summary, and nothing else moved.
    assert text.replace(FOOTNOTE, "").replace("\n\n\n", "\n\n") == render_run(plain, fmt)


def test_run_table_without_fallback_keeps_its_layout() -> None:
    text = render_run(command_run(), "table")
    assert text.endswith("\n\n4 hosts: 2 ok, 1 command_errors, 1 unreachable (exit 12)\n")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_remediation_tables_name_transport_fallbacks(fmt: str) -> None:
    assert "transport:" not in render(remediation(), fmt)
    assert FOOTNOTE in render(remediation(WHY), fmt)


def test_audit_table_names_transport_fallbacks() -> None:
    run = sample_run()
    first = replace(run.hosts[0], extra={**run.hosts[0].extra, "transport_fallback": WHY})
    text = render(replace(run, hosts=(first, *run.hosts[1:])), "table")
    assert f"transport: pypsrp served 1 host after the lean client failed:\n  {first.name}: " in text


def test_render_takes_every_run_and_prints_what_its_command_prints() -> None:
    ran = command_run()
    probed = probe_run(probe_host("fs", "10.0.0.9", 445, security_mode=0x01))
    plan = remediation()
    for fmt in ("table", "json", "csv", "markdown", "junit", "ndjson"):
        assert render(ran, fmt) == render_run(ran, fmt)
    for fmt in ("table", "json", "relay-list"):
        assert render(probed, fmt) == render_probe_run(probed, fmt)
    assert render_remediation(plan, "table") == f"{changes_table(plan)}\n\n{render_report(plan, 'table')}"
    assert render_remediation(plan, "table").startswith("HOST    SETTING")
    assert "## Changes" in render_remediation(plan, "markdown")
    for fmt in ("table", "json", "csv", "markdown", "junit", "ndjson"):
        assert render(plan, fmt) == render_remediation(plan, fmt)
    assert json.loads(render_remediation(plan, "json")) == plan.to_dict()  # json is the document alone


def test_remediation_lines_for_the_terminal() -> None:
    plan = remediation()
    assert confirm_question(plan) == "Apply 1 change to 1 host?"
    assert busy_lines(plan) == ["busy: b: held by run r-9"]
    assert summary_text(plan) == "check: 2 hosts: 1 drift, 1 busy; settings: 1 pending (exit 12)"
    applied = replace(plan, hosts=(replace(plan.hosts[0], checks=()),))
    assert confirm_question(applied) is None


def test_report_imports_none_of_the_packages_it_renders() -> None:
    """Renderers read plain data by attribute: importing every one of them loads no module of
    remediate/, run_command/ or smb/ (which would also close an import cycle with report/)."""
    code = (
        "import sys, pkgutil, importlib, toolkit.report as r\n"
        "for m in pkgutil.iter_modules(r.__path__): importlib.import_module('toolkit.report.' + m.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['toolkit', 'remediate'], ['toolkit', 'run_command'], ['toolkit', 'smb'])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_check_columns_come_with_the_run() -> None:
    """Nobody assessed: the columns (and JUnit's error cases) are the checks the run says it
    judged, whichever baseline they come from."""
    down = next(h for h in sample_run().hosts if h.error is not None)
    run = AuditRun((down,), "s", "f", "inv", "0.1.0", check_ids=("smb1_server", "smb_encryption"))
    header = render(run, "table").splitlines()[0].split()
    assert header == ["HOST", "ADDRESS", "OS", "STATUS", "smb1_server", "smb_encryption", "ERROR"]
    suite = ET.fromstring(render(run, "junit")).find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in suite.iter("testcase")] == [
        f"{down.name}.smb1_server",
        f"{down.name}.smb_encryption",
    ]
    assert suite.get("errors") == "2"
    assert render(replace(run, check_ids=()), "table").splitlines()[0].split() == [
        "HOST",
        "ADDRESS",
        "OS",
        "STATUS",
        "ERROR",
    ]


def test_an_unknown_format_is_a_usage_error_for_every_run() -> None:
    probed = probe_run(probe_host("fs", "10.0.0.9", 445, security_mode=0x01))
    for run, fmt in (
        (command_run(), "yaml"),
        (probed, "junit"),
        (remediation(), "relay-list"),
        (sample_run(), "x"),
    ):
        with pytest.raises(UsageError, match="unknown format"):
            render(run, fmt)
