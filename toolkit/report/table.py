"""Human tables (any tabulate format) and Markdown: one row per host."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from toolkit.checks.rules import FACTS_DOC, explain_lines
from toolkit.errors import UsageError
from toolkit.report.formats import TABLE_FORMAT_NAMES
from toolkit.report.model import (
    HostView,
    Run,
    check_ids,
    markdown_cell,
    one_line,
    printable,
    short_actual,
    summary_line,
)
from toolkit.report.tabular import text_table
from toolkit.report.words import counted
from toolkit.results import ErrorKind

#: tabulate's formats; tabulate itself is imported only to draw a table (not for JSON or CSV).
TABLE_FORMATS: tuple[str, ...] = tuple(sorted(TABLE_FORMAT_NAMES))

#: Optional per-host sections (``HostResult.extra``) shown as extra columns: (section key,
#: column name). A section is a mapping with ``status``, ``summary`` (the cell) and
#: ``flagged``; its column appears only when some host has it.
EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (("probe", "wire_signing"), ("events", "events"))


def extra_section(host: HostView, key: str) -> Mapping[str, Any] | None:
    """The host's ``key`` section (audit ``--with-probe``/``--events``), or None."""
    extra = getattr(host, "extra", None)
    section = extra.get(key) if isinstance(extra, Mapping) else None
    return section if isinstance(section, Mapping) else None


def extra_columns(run: Run) -> tuple[tuple[str, str], ...]:
    """The :data:`EXTRA_COLUMNS` some host of ``run`` has."""
    return tuple(
        (key, name)
        for key, name in EXTRA_COLUMNS
        if any(extra_section(h, key) is not None for h in run.hosts)
    )


def extra_cell(host: HostView, key: str) -> str:
    section = extra_section(host, key)
    return str(section.get("summary", section.get("status", ""))) if section is not None else ""


def render_table(run: Run, *, table_format: str = "simple") -> str:
    """One row per host: HOST, ADDRESS, OS, STATUS, one column per check (status and the
    value found) and ERROR; then a summary line. Raises :class:`UsageError` for a format
    tabulate does not know."""
    if table_format not in TABLE_FORMATS:
        raise UsageError(
            f"unknown table format {table_format!r}; choose one of: {', '.join(TABLE_FORMATS)}",
            field="--table-format",
        )
    headers, rows = _rows(run, escape=lambda s: s)
    return f"{grid(rows, headers, table_format)}\n{_footnote(run)}\n{summary_line(run)}\n"


def grid(
    rows: list[list[str]], headers: list[str], table_format: str, *, numbers: Collection[int] = ()
) -> str:
    """``tabulate`` in ``table_format`` with every cell as written (:func:`text_table`), except
    ``tsv``: tabulate pads cells with spaces and drops empty trailing cells, so every row gets
    exactly the header's fields here. ``numbers``: see :func:`text_table`."""
    if table_format != "tsv":
        return text_table(rows, headers, tablefmt=table_format, numbers=numbers)
    return "\n".join("\t".join(cell.replace("\t", " ") for cell in row) for row in [headers, *rows])


def render_markdown(run: Run) -> str:
    """GitHub-flavoured Markdown: a heading, the host table, the summary."""
    headers, rows = _rows(run, escape=markdown_cell)
    title = run.schema.split("/", 1)[0].replace(".", " ")
    table = grid(rows, headers, "github")
    return f"# {title}\n\n{table}\n{_footnote(run)}\n{summary_line(run)}\n"


def transport_footnote(fallbacks: Iterable[tuple[str, str | None]], *, shown: int = 5) -> str:
    """Lines under a table naming the hosts pypsrp served after the lean client failed and
    why (``transport_fallback`` in JSON), from (host, why or None) pairs; empty when there
    were none. Every command's table ends with it (audit, remediate, rollback, run)."""
    fallen = [(name, why) for name, why in fallbacks if why]
    if not fallen:
        return ""
    lines = [f"\ntransport: pypsrp served {counted(len(fallen), 'host')} after the lean client failed:"]
    lines += [f"  {name}: {printable(one_line(why))}" for name, why in fallen[:shown]]
    if len(fallen) > shown:
        lines.append(f"  ... and {len(fallen) - shown} more (transport_fallback in --format json)")
    return "\n".join(lines) + "\n"


def fallback_of(host: HostView) -> str | None:
    """Why pypsrp served ``host``: an audit result keeps it in ``extra``, a remediation
    result as a field."""
    why = getattr(host, "transport_fallback", None)
    if why is None:
        extra = getattr(host, "extra", None)
        why = extra.get("transport_fallback") if isinstance(extra, Mapping) else None
    return str(why) if why else None


def _footnote(run: Run) -> str:
    return transport_footnote((h.name, fallback_of(h)) for h in run.hosts)


def legend() -> str:
    """What the table's columns and statuses mean."""
    return "\n".join(
        [
            "Columns:",
            "  HOST, ADDRESS    inventory name and the address connected to",
            "  OS               product and build from the registry (the build decides, not the name)",
            "  STATUS           the host's overall verdict",
            "  secure_negotiate LanmanWorkstation RequireSecureNegotiate (validate negotiate)",
            "  client_signing   LanmanWorkstation RequireSecuritySignature (signing outbound)",
            "  server_signing   LanmanServer RequireSecuritySignature (signing inbound)",
            "                   each shows the check's status and the value found, with its",
            "                   registry kind: 0 (DWord) is not '0' (String)",
            "  wire_signing     with --with-probe: the SMB NEGOTIATE's signing-required flag against",
            "                   LanmanServer RequireSecuritySignature; MISMATCH is reported, not drift",
            "  events           with --events DAYS: SMB client events per id, n/a before 9600",
            "  ERROR            why a host could not be assessed",
            "Host statuses:",
            "  compliant        every check matches the policy (or does not apply)",
            "  drift            at least one check differs from the policy",
            "  " + ", ".join(k.value for k in ErrorKind if k is not ErrorKind.NOT_ATTEMPTED),
            "                   not assessed; the ERROR column says why",
            "  not_attempted    never contacted: its credential failed to log on elsewhere",
            "Check statuses:",
            "  compliant        Windows behaves as the policy wants",
            "  drift            it does not (or the value has the wrong type)",
            "  not_applicable   the setting means nothing on this OS build",
            *explain_lines(),
            f"Every fact, with its public sources: {FACTS_DOC}",
        ]
    )


def _rows(run: Run, *, escape: Callable[[str], str]) -> tuple[list[str], list[list[str]]]:
    ids = check_ids(run, run.check_ids)
    extras = extra_columns(run)
    headers = ["HOST", "ADDRESS", "OS", "STATUS", *ids, *(name for _, name in extras), "ERROR"]
    rows = [[escape(printable(one_line(cell))) for cell in _row(host, ids, extras)] for host in run.hosts]
    return headers, rows


def _row(host: HostView, ids: tuple[str, ...], extras: tuple[tuple[str, str], ...] = ()) -> list[str]:
    by_id = {c.id: c for c in host.checks}
    cells = [host.name, host.address, host.os.display if host.os else "", str(host.status)]
    for check_id in ids:
        check = by_id.get(check_id)
        cells.append(f"{check.status}: {short_actual(check.actual)}" if check else "")
    cells.extend(extra_cell(host, key) for key, _ in extras)
    cells.append(f"{host.error.kind}: {host.error.message}" if host.error else "")
    return cells
