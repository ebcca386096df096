"""``psfleet run`` output in every format: table, json, ndjson, csv, markdown, junit.

Tabular formats have one row per host and output object (a host with no output still gets a
row, an error record gets its own row): HOST, the chosen properties, ERROR. Columns are every
property seen, in first-seen order, without PowerShell's provider bookkeeping
(:data:`NOISE`: PSPath, PSDrive...); ``--property`` chooses and orders them (``*``: all).
Text that looks like a number is shown quoted (``'0'``) so a REG_SZ "0" is not mistaken for a
DWORD 0 (docs/windows-facts.md#registry-read-kinds); JSON keeps every property's .NET type. Renderers never print.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from toolkit.errors import UsageError
from toolkit.report import csvsafe
from toolkit.report.formats import FORMATS
from toolkit.report.model import dumps, markdown_cell, one_line, printable, xml_text
from toolkit.report.table import TABLE_FORMATS, grid, transport_footnote
from toolkit.report.tabular import text_table
from toolkit.transport.model import PSObj, PSValue

if TYPE_CHECKING:  # plain data read by attribute; report/ does not import run_command/ back
    from toolkit.run_command.results import CommandRun, HostRunResult, OutputObject
    from toolkit.transport.model import ErrorRecordData

__all__ = ["NOISE", "SCHEMA", "columns", "ndjson_line", "render_run", "summary_line"]

#: The schema of the runs this module renders (``CommandRun.schema``).
SCHEMA = "psfleet.run/1"

#: Properties PowerShell adds to provider and CIM output; left out unless asked for.
NOISE = frozenset(
    name.lower()
    for name in (
        "PSPath", "PSParentPath", "PSChildName", "PSDrive", "PSProvider", "PSComputerName",
        "PSShowComputerName", "PSSourceJobInstanceId", "RunspaceId", "CimClass",
        "CimInstanceProperties", "CimSystemProperties",
    )
)  # fmt: skip
_NUMBERLIKE = re.compile(
    r"^\s*([+-]?(0x[0-9a-fA-F]+|\d+(\.\d+)?)|true|false|\$true|\$false|\$null)\s*$", re.I
)
CSV_BASE = ("host", "address", "status", "object_type")
CSV_ERRORS = ("error_kind", "error_id", "error_category", "error_message")


def render_run(run: CommandRun, fmt: str, *, table_format: str = "simple") -> str:
    """``run`` as text in ``fmt`` (one of :data:`toolkit.report.render.FORMATS`)."""
    if fmt == "table":
        if table_format not in TABLE_FORMATS:
            raise UsageError(
                f"unknown table format {table_format!r}; choose one of: {', '.join(TABLE_FORMATS)}",
                field="--table-format",
            )
        headers, rows, numbers = _table(run, escape=lambda s: s)
        body = grid(rows, headers, table_format, numbers=numbers) if rows else "(no hosts)"
        return f"{body}\n{_footnote(run)}\n{summary_line(run)}\n"
    if fmt == "markdown":
        headers, rows, numbers = _table(run, escape=markdown_cell)
        table = text_table(rows, headers, tablefmt="github", numbers=numbers)
        code = _md_code(run.command.text)
        return f"# psfleet run\n\n`{code}`\n\n{table}\n{_footnote(run)}\n{summary_line(run)}\n"
    if fmt == "json":
        return dumps(run.to_dict(), indent=2) + "\n"
    if fmt == "ndjson":
        return "".join(ndjson_line(h) + "\n" for h in run.hosts)
    if fmt == "csv":
        return _csv(run)
    if fmt == "junit":
        return _junit(run)
    raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}", field="--format")


def ndjson_line(host: HostRunResult) -> str:
    """One host as one compact JSON line (no newline), for streaming as hosts finish."""
    return dumps(host.to_dict(), indent=None)


def _footnote(run: CommandRun) -> str:
    return transport_footnote([(h.name, h.transport_fallback) for h in run.hosts])


def summary_line(run: CommandRun) -> str:
    """``3 hosts: 2 ok, 1 command_errors (exit 4)``."""
    counts = dict(run.summary)
    total = counts.pop("total", len(run.hosts))
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    noun = "host" if total == 1 else "hosts"
    return f"{total} {noun}: " + (", ".join(parts) if parts else "none") + f" (exit {run.exit_code})"


def columns(run: CommandRun) -> tuple[str, ...]:
    """Property columns: ``run.properties`` when chosen (``*``: all), else every property in
    first-seen order without :data:`NOISE` (all of them if nothing else is left)."""
    seen: list[str] = []
    lowered: set[str] = set()
    for host in run.hosts:
        for obj in host.output:
            for name in obj.names():
                if name.lower() not in lowered:
                    lowered.add(name.lower())
                    seen.append(name)
    if run.properties and run.properties != ("*",):
        return run.properties
    if run.properties == ("*",):
        return tuple(seen)
    chosen = tuple(n for n in seen if n.lower() not in NOISE)
    return chosen or tuple(seen)


def cell(value: PSValue | PSObj | None) -> str:
    """A value as PowerShell's table would show it, except that number-like text is quoted."""
    if value is None:
        return ""
    if isinstance(value, PSObj):
        return (
            value.to_string
            if value.to_string is not None
            else (value.type_names[0] if value.type_names else "")
        )
    data = value.value
    if isinstance(data, bool):
        return "True" if data else "False"
    if isinstance(data, str):
        return f"'{data}'" if _NUMBERLIKE.match(data) or data == "" else data
    if isinstance(data, bytes):
        return "{" + ", ".join(str(b) for b in data[:16]) + (", ..." if len(data) > 16 else "") + "}"
    if isinstance(data, list | tuple):
        items = [cell(v) if isinstance(v, PSValue | PSObj) or v is None else str(v) for v in data]
        return "{" + ", ".join(items) + "}"
    if isinstance(data, dict):
        return (
            "@{"
            + "; ".join(f"{k}={cell(v) if isinstance(v, PSValue | PSObj) else v}" for k, v in data.items())
            + "}"
        )
    return str(data)


def _rows(
    run: CommandRun, cols: Sequence[str]
) -> list[tuple[HostRunResult, OutputObject | None, ErrorRecordData | None]]:
    rows: list[tuple[HostRunResult, OutputObject | None, ErrorRecordData | None]] = []
    for host in run.hosts:
        start = len(rows)
        rows += [(host, obj, None) for obj in host.output if _shown(obj, cols)]
        rows += [(host, None, err) for err in host.errors]
        if len(rows) == start:
            rows.append((host, None, None))
    return rows


def _shown(obj: OutputObject, cols: Sequence[str]) -> bool:
    """An object with none of the chosen columns would be an empty row: leave it out, unless
    nothing at all was chosen."""
    return not cols or any(obj.has(c) for c in cols) or not obj.properties


def _error_text(host: HostRunResult, err: ErrorRecordData | None) -> str:
    if err is not None:
        return (
            f"{err.fully_qualified_error_id}: {err.message}" if err.fully_qualified_error_id else err.message
        )
    if host.error is not None:
        return f"{host.error.kind.value}: {host.error.message}"
    return ""


def _table(run: CommandRun, *, escape: Callable[[str], str]) -> tuple[list[str], list[list[str]], list[int]]:
    """Headers, rows of text cells, and the columns whose every value is a .NET number (aligned
    as numbers; any other column is text, whatever its cells look like)."""
    cols = columns(run)
    headers = ["HOST", *cols, "ERROR"]
    out: list[list[str]] = []
    not_numbers: set[int] = set()
    for host, obj, err in _rows(run, cols):
        values = [obj.get(c) if obj is not None else None for c in cols]
        not_numbers.update(i for i, v in enumerate(values, 1) if v is not None and not _is_number(v))
        cells = [host.name, *(cell(v) for v in values), _error_text(host, err)]
        out.append([escape(printable(one_line(c))) for c in cells])
    return headers, out, [i for i in range(1, len(cols) + 1) if i not in not_numbers]


def _is_number(value: PSValue | PSObj) -> bool:
    data = value.value if isinstance(value, PSValue) else None
    return isinstance(data, int | float | Decimal) and not isinstance(data, bool)


def _csv_value(value: PSValue | PSObj | None) -> str:
    if value is None:
        return ""
    if isinstance(value, PSValue) and isinstance(value.value, str):
        return value.value
    if isinstance(value, PSValue) and isinstance(value.value, list | tuple):
        return ";".join(
            _csv_value(v) if isinstance(v, PSValue | PSObj) or v is None else str(v) for v in value.value
        )
    return cell(value)


def _csv(run: CommandRun) -> str:
    cols = columns(run)
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)
    writer.writerow([*CSV_BASE, *cols, *CSV_ERRORS])
    for host, obj, err in _rows(run, cols):
        base = [host.name, host.address, host.status.value, obj.type_name if obj else ""]
        values = [_csv_value(obj.get(c)) if obj is not None else "" for c in cols]
        if err is not None:
            errors = ["", err.fully_qualified_error_id, err.category, err.message]
        elif host.error is not None:
            errors = [host.error.kind.value, "", "", host.error.message]
        else:
            errors = ["", "", "", ""]
        writer.writerow([*base, *values, *errors])
    return buffer.getvalue()


def _junit(run: CommandRun) -> str:
    """One testcase per host: error records -> ``<failure>`` (type = FullyQualifiedErrorId),
    a host that did not run -> ``<error>`` (type = error kind)."""
    suites = ET.Element("testsuites", name="psfleet.run")
    suite = ET.SubElement(suites, "testsuite", name="psfleet.run")
    counts = {"tests": 0, "failures": 0, "errors": 0}
    cols = columns(run)
    for host in run.hosts:
        counts["tests"] += 1
        case = ET.SubElement(
            suite, "testcase", classname=xml_text(host.name), name=xml_text(f"{host.name}.run")
        )
        case.set("time", f"{host.duration_s:.3f}")
        if host.error is not None:
            counts["errors"] += 1
            node = ET.SubElement(
                case, "error", message=xml_text(one_line(host.error.message)), type=host.error.kind.value
            )
            node.text = xml_text(f"{host.error.kind.value}: {host.error.message}")
        elif host.errors:
            counts["failures"] += 1
            first = host.errors[0]
            node = ET.SubElement(
                case,
                "failure",
                message=xml_text(one_line(first.message)),
                type=xml_text(first.fully_qualified_error_id),
            )
            node.text = xml_text("\n".join(f"{e.fully_qualified_error_id}: {e.message}" for e in host.errors))
        if host.output:
            out = ET.SubElement(case, "system-out")
            out.text = xml_text(
                "\n".join("; ".join(f"{c}={cell(o.get(c))}" for c in cols if o.has(c)) for o in host.output)
            )
    for key, value in counts.items():
        suite.set(key, str(value))
        suites.set(key, str(value))
    suite.set("skipped", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _md_code(text: str) -> str:
    return one_line(printable(text)).replace("`", "'")
