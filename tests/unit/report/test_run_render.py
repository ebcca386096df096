"""Rendering a run: column choice, number-like text quoted, no escape codes, every format."""

from __future__ import annotations

import json

from toolkit.report.render import render
from toolkit.report.run import columns, render_run
from toolkit.results import ErrorKind, HostError
from toolkit.run_command.command import RunCommand
from toolkit.run_command.results import CommandRun, HostRunResult, OutputObject, RunStatus
from toolkit.transport.model import ErrorRecordData, PSObj, PSValue


def registry_object(**values: PSValue) -> OutputObject:
    props: dict[str, PSValue | PSObj | None] = dict(values)
    props.update(PSPath=PSValue("String", "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\X"),
                 PSDrive=PSValue("String", "HKLM"))  # fmt: skip
    return OutputObject.of(PSObj(("System.Management.Automation.PSCustomObject",), props))


def sample() -> CommandRun:
    hosts = (
        HostRunResult("a", "10.0.0.1", RunStatus.OK,
                      output=(registry_object(Dword=PSValue("Int32", 0), Text=PSValue("String", "0")),)),
        HostRunResult("b", "10.0.0.2", RunStatus.COMMAND_ERRORS,
                      errors=(ErrorRecordData("Cannot find path \x1b[31m'X'", "PathNotFound,Cmd", "ObjectNotFound"),)),
        HostRunResult("c", "10.0.0.3", RunStatus.UNREACHABLE,
                      error=HostError(ErrorKind.UNREACHABLE, "connection refused")),
        HostRunResult("d", "10.0.0.4", RunStatus.OK, output=(OutputObject.of(PSValue("String[]", ["x", "y"])),)),
    )  # fmt: skip
    return CommandRun(RunCommand.script("Get-ItemProperty X"), hosts, "s", "f", "inv.yml", "0.1.0")


def test_columns_drop_provider_noise_and_keep_order() -> None:
    assert columns(sample()) == ("Dword", "Text", "Value")
    assert columns(sample().select(["*"])) == ("Dword", "Text", "PSPath", "PSDrive", "Value")
    assert columns(sample().select(["text", "Dword"])) == ("text", "Dword")


def test_table_rows_quotes_and_no_escape_codes() -> None:
    out = render_run(sample(), "table")
    assert "\x1b" not in out
    lines = out.splitlines()
    assert lines[0].split() == ["HOST", "Dword", "Text", "Value", "ERROR"]
    row_a = lines[2].split()
    assert row_a == ["a", "0", "'0'"]  # DWORD 0 plain, REG_SZ "0" quoted
    assert "PathNotFound,Cmd: Cannot find path ?[31m'X'" in out
    assert "unreachable: connection refused" in out
    assert "{x, y}" in out
    assert out.endswith("4 hosts: 2 ok, 1 command_errors, 1 unreachable (exit 12)\n")


def test_json_keeps_types_and_exit_code() -> None:
    doc = json.loads(render(sample(), "json"))
    assert doc["schema"] == "psfleet.run/1" and doc["run"]["exit_code"] == 12
    a = doc["hosts"][0]["output"][0]
    assert (
        a["properties"]["Text"] == "0" and a["types"]["Text"] == "String" and a["types"]["Dword"] == "Int32"
    )
    assert doc["hosts"][3]["output"][0] == {"type": "String[]", "value": ["x", "y"]}
    assert doc["hosts"][1]["errors"][0]["id"] == "PathNotFound,Cmd"
    assert doc["summary"]["total"] == 4 and doc["summary"]["command_errors"] == 1


def test_selected_properties_filter_json_too() -> None:
    doc = json.loads(render(sample().select(["Text"]), "json"))
    assert doc["hosts"][0]["output"][0]["properties"] == {"Text": "0"}


def test_selected_properties_per_host_as_streamed() -> None:
    """``psfleet run --format ndjson --property`` filters each host as it streams."""
    host = sample().hosts[0]
    assert host.select(["text", "PSDrive"]).output[0].names() == ("Text", "PSDrive")
    assert host.select(["*"]) == host
    assert sample().select(["Text"]).hosts[0] == host.select(["Text"])
