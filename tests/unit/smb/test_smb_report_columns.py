"""Renderers with the audit's optional SMB sections, the probe-run renderers, and the CLI's
--server parsing."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from tests.unit.report.sample import sample_run
from toolkit.checks.audit import AuditExtension, apply_extensions
from toolkit.checks.facts import HostFacts, KeyFacts
from toolkit.cli.smb_cmd import parse_server
from toolkit.errors import UsageError
from toolkit.inventory.model import Host
from toolkit.report.probe import render_probe_run
from toolkit.report.render import render
from toolkit.results import AuditRun, ErrorKind, HostError
from toolkit.smb.fleet import ProbeHost, ProbeRun, ProbeStatus
from toolkit.smb.probe import NegotiateInfo, SmbProbeResult

MISMATCH = {
    "status": "mismatch",
    "summary": "MISMATCH: wire required, registry not required",
    "flagged": True,
    "text": "the server's NEGOTIATE says signing required, but ...",
}
MATCH = {"status": "match", "summary": "match: required", "flagged": False, "text": "as it should"}
EVENTS = {"status": "counted", "summary": "31012:3 31013:0 30803:0 30804:0", "flagged": True, "reason": "r"}


def run_with_sections() -> AuditRun:
    run = sample_run()
    fs01, dc01, down = run.hosts
    hosts = (
        replace(fs01, extra={"probe": MISMATCH, "events": EVENTS}),
        replace(
            dc01,
            extra={
                "probe": MATCH,
                "events": {"status": "not_applicable", "summary": "n/a", "flagged": False},
            },
        ),
        down,
    )
    return replace(run, hosts=hosts)


def test_table_without_sections_is_unchanged() -> None:
    header = render(sample_run(), "table").splitlines()[0].split()
    assert "wire_signing" not in header and "events" not in header


def test_table_and_markdown_show_section_columns_before_error() -> None:
    lines = render(run_with_sections(), "table").splitlines()
    assert lines[0].split()[-3:] == ["wire_signing", "events", "ERROR"]
    fs01 = next(line for line in lines if line.startswith("fs01"))
    assert "MISMATCH: wire required, registry not required" in fs01 and "31012:3 31013:0" in fs01
    dc01 = next(line for line in lines if line.startswith("dc01"))
    assert "match: required" in dc01 and "n/a" in dc01

    markdown = render(run_with_sections(), "markdown")
    assert "| wire_signing" in markdown and "| events" in markdown


def test_csv_adds_columns_only_when_present() -> None:
    plain = next(csv.reader(io.StringIO(render(sample_run(), "csv"))))
    assert plain[-1] == "error_message"
    rows = list(csv.DictReader(io.StringIO(render(run_with_sections(), "csv"))))
    fs01 = [r for r in rows if r["host"] == "fs01"]
    assert len(fs01) == 3 and all(r["wire_signing"].startswith("MISMATCH") for r in fs01)
    assert {r["events"] for r in rows if r["host"] == "dc01"} == {"n/a"}
    assert [r["wire_signing"] for r in rows if r["host"].startswith("b")] == [""]


def test_junit_section_cases() -> None:
    suite = ET.fromstring(render(run_with_sections(), "junit").split("\n", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["fs01.wire_signing"].find("failure") is not None
    assert cases["fs01.events"].find("failure") is not None
    assert cases["dc01.wire_signing"].find("system-out") is not None
    assert cases["dc01.events"].find("skipped") is not None
    assert not any(name.endswith("wire_signing") for name in cases if name and name.startswith("b"))


def test_json_carries_sections_and_exit_code_ignores_them() -> None:
    run = run_with_sections()
    doc = json.loads(render(run, "json"))
    assert doc["hosts"][0]["probe"]["status"] == "mismatch"
    assert doc["run"]["exit_code"] == sample_run().exit_code


def test_a_failing_extension_is_recorded_not_fatal() -> None:
    def boom(*args: object) -> dict[str, object]:
        raise RuntimeError("kaput")

    host = Host("h", "10.0.0.1")
    result = sample_run().hosts[0]
    facts = HostFacts(KeyFacts(True), KeyFacts(True), KeyFacts(True))
    out = apply_extensions(host, facts, result, {}, [AuditExtension("probe", finish=boom)], deadline=0.0)
    assert out.status == result.status
    assert out.extra["probe"]["status"] == "error" and "kaput" in out.extra["probe"]["error"]


def probe_run() -> ProbeRun:
    ok = SmbProbeResult("10.0.0.5", 445, ("3.1.1",), NegotiateInfo("3.1.1", 0x2F, 0x03, "g"))
    down = SmbProbeResult(
        "10.0.0.6", 4455, error=HostError(ErrorKind.UNREACHABLE, "10.0.0.6:4455: refused\x1b[0m")
    )
    return ProbeRun(
        hosts=(
            ProbeHost("fs1", "10.0.0.5", 445, ProbeStatus.PROBED, ok),
            ProbeHost("fs2", "10.0.0.6", 4455, ProbeStatus.UNREACHABLE, down, down.error),
        ),
        started="s",
        finished="f",
        inventory="inv.yml",
        version="0",
    )


def test_probe_run_formats() -> None:
    run = probe_run()
    assert run.exit_code == 8
    doc = json.loads(render_probe_run(run, "json"))
    assert doc["schema"] == "psfleet.probe/2" and doc["summary"]["probed"] == 1
    assert doc["hosts"][0]["signing_required"] is True and doc["hosts"][1]["port"] == 4455
    assert doc["hosts"][0]["probe"]["capability_names"] == [
        "DFS",
        "LEASING",
        "LARGE_MTU",
        "MULTI_CHANNEL",
        "DIRECTORY_LEASING",
    ]
    assert doc["hosts"][1]["probe"]["error"]["kind"] == "unreachable"

    table = render_probe_run(run, "table")
    assert "Message signing enabled and required" in table and "\x1b" not in table
    assert table.rstrip().endswith("2 hosts: 1 probed, 1 unreachable")

    rows = list(csv.DictReader(io.StringIO(render_probe_run(run, "csv"))))
    assert [(r["host"], r["status"], r["signing_required"]) for r in rows] == [
        ("fs1", "probed", "true"),
        ("fs2", "unreachable", ""),
    ]
    assert len(render_probe_run(run, "ndjson").splitlines()) == 2
    assert render_probe_run(run, "markdown").startswith("# psfleet probe")
    with pytest.raises(ValueError):
        render_probe_run(run, "junit")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fs01", ("fs01", 445)),
        ("fs01:4455", ("fs01", 4455)),
        ("[::1]:4455", ("::1", 4455)),
        ("[fe80::1]", ("fe80::1", 445)),
        ("fe80::1", ("fe80::1", 445)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["", "fs01:0", "fs01:x", "[::1", "[::1]x"])
def test_parse_server_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_server(text)
