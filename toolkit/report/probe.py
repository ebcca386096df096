"""``psfleet probe smb`` output: table, json, ndjson, csv, markdown and relay-list.

Nothing here prints: the CLI writes what these return.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from toolkit.errors import UsageError
from toolkit.report import csvsafe
from toolkit.report.jsontext import dumps_indented
from toolkit.report.model import markdown_cell, one_line, printable

if TYPE_CHECKING:  # plain data read by attribute; report/ does not import smb/ back
    from toolkit.smb.fleet import ProbeHost, ProbeRun
    from toolkit.smb.probe import SmbProbeResult

#: The schema of the runs this module renders (``ProbeRun.schema``).
SCHEMA = "psfleet.probe/2"


def _short_signing(required: bool | None, supported: bool) -> str:
    if not supported:
        return "n/a"
    return "required" if required else "not required"


PROBE_RUN_FORMATS: tuple[str, ...] = ("table", "json", "ndjson", "csv", "markdown", "relay-list")
PROBE_RUN_HEADERS = (
    "HOST",
    "ADDRESS",
    "STATUS",
    "DIALECT",
    "SIGNING",
    "SMB1",
    "ANSWERED BY",
    "PER DIALECT",
    "ERROR",
)
PROBE_RUN_CSV_COLUMNS = (
    "host",
    "address",
    "port",
    "status",
    "dialect",
    "signing_enabled",
    "signing_required",
    "signing",
    "per_dialect",
    "smb1_accepted",
    "netbios_computer",
    "netbios_domain",
    "dns_computer",
    "dns_domain",
    "os_version",
    "relay_target",
    "error_kind",
    "error_message",
)


def _per_dialect_cell(probe: SmbProbeResult) -> str:
    return "; ".join(
        f"{d.dialect}: {_short_signing(d.signing_required, d.supported)}" for d in probe.per_dialect
    )


def _smb1_cell(probe: SmbProbeResult) -> str:
    if probe.smb1 is None:
        return "-"
    if probe.smb1.accepted is None:
        return "?"
    if not probe.smb1.accepted:
        return "no"
    return "accepted (signing required)" if probe.smb1.signing_required else "accepted"


def _identity_cell(probe: SmbProbeResult) -> str:
    return probe.identity.summary if probe.identity else "-"


def probe_run_rows(run: ProbeRun) -> list[tuple[str, ...]]:
    """One row per host (:data:`PROBE_RUN_HEADERS`)."""
    rows: list[tuple[str, ...]] = []
    for h in run.hosts:
        p = h.probe
        error = f"{h.error.kind.value}: {h.error.message}" if h.error else ""
        rows.append(
            tuple(
                printable(one_line(cell))
                for cell in (
                    h.name,
                    f"{h.address}:{h.port}",
                    h.status.value,
                    (p.dialect or "-") if p and p.ok else "",
                    (p.signing_text or "-") if p and p.ok else "",
                    _smb1_cell(p) if p and p.ok else "",
                    _identity_cell(p) if p and p.ok else "",
                    _per_dialect_cell(p) if p and p.ok else "",
                    error,
                )
            )
        )
    return rows


def probe_run_summary(run: ProbeRun) -> str:
    """``3 hosts: 2 probed, 1 unreachable`` (zero counts left out)."""
    counts = dict(run.summary)
    total = counts.pop("total")
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    return f"{total} host{'' if total == 1 else 's'}: " + (", ".join(parts) if parts else "none")


def render_probe_run(run: ProbeRun, fmt: str, *, table_format: str = "simple") -> str:
    """The run in one of :data:`PROBE_RUN_FORMATS` (ends with a newline unless it is an empty
    relay list); ``table_format`` is the tabulate format of ``table``. Raises
    :class:`toolkit.errors.UsageError` (a ValueError) for an unknown format, as every renderer."""
    if fmt in ("table", "markdown"):
        from toolkit.report.tabular import text_table  # every cell as written ("3.0" stays 3.0)
    if fmt == "table":
        table = text_table(probe_run_rows(run), PROBE_RUN_HEADERS, tablefmt=table_format)
        return f"{table}\n\n{probe_run_summary(run)}\n"
    if fmt == "markdown":
        rows = [tuple(markdown_cell(c) for c in r) for r in probe_run_rows(run)]
        table = text_table(rows, PROBE_RUN_HEADERS, tablefmt="github")
        return f"# psfleet probe\n\n{table}\n\n{probe_run_summary(run)}\n"
    if fmt == "json":
        return dumps_indented(run.to_dict()) + "\n"  # json.dumps(indent=2)'s text, faster
    if fmt == "relay-list":
        return relay_list(run)
    if fmt == "ndjson":
        return "".join(probe_host_line(h) + "\n" for h in run.hosts)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csvsafe.writer(buffer)
        writer.writerow(PROBE_RUN_CSV_COLUMNS)
        for h in run.hosts:
            d = h.to_dict()
            writer.writerow(
                [
                    h.name,
                    h.address,
                    h.port,
                    h.status.value,
                    d["dialect"] or "",
                    _csv_bool(d["signing_enabled"]),
                    _csv_bool(d["signing_required"]),
                    d["signing"] or "",
                    _per_dialect_cell(h.probe) if h.probe and h.probe.ok else "",
                    _csv_bool(d["smb1_accepted"]),
                    *(_identity_field(h.probe, key) for key in _IDENTITY_COLUMNS),
                    _csv_bool(d["relay_target"]),
                    h.error.kind.value if h.error else "",
                    h.error.message if h.error else "",
                ]
            )
        return buffer.getvalue()
    raise UsageError(
        f"unknown format {fmt!r}; choose one of: {', '.join(PROBE_RUN_FORMATS)}", field="--format"
    )


_IDENTITY_COLUMNS = ("netbios_computer", "netbios_domain", "dns_computer", "dns_domain", "os_version")


def _identity_field(probe: SmbProbeResult | None, key: str) -> str:
    if probe is None or probe.identity is None:
        return ""
    return str(probe.identity.to_dict()[key] or "")


def relay_list(run: ProbeRun) -> str:
    """The hosts that do not require SMB signing, one per line (as NetExec's
    ``--gen-relay-list``): the address, or ``address:port`` off port 445. Hosts that were not
    probed are left out (nothing is known about them)."""
    lines = []
    for h in run.hosts:
        if h.probe is not None and h.probe.relay_target:
            address = f"[{h.address}]" if ":" in h.address else h.address
            lines.append(h.address if h.port == 445 else f"{address}:{h.port}")
    return "".join(f"{line}\n" for line in lines)


def probe_host_line(host: ProbeHost) -> str:
    """One host as one compact JSON line (no newline), for streaming as hosts finish."""
    return json.dumps(host.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _csv_bool(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")
