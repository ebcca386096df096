"""Plain rows, text and dicts for the SMB probe, the diagnosis and the wire comparison.

Nothing here prints: the CLI hands rows to tabulate (or rich) and dicts to ``json.dumps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolkit.smb.compare import WireComparison
from toolkit.smb.diagnose import DiagnosisResult, DiagnosisStatus, Workaround
from toolkit.smb.probe import SmbProbeResult
from toolkit.smb.wire import describe_capabilities, describe_security_mode

PROBE_SCHEMA = "psfleet.smb-probe/1"
DIAGNOSIS_SCHEMA = "psfleet.smb-diagnosis/1"

Row = tuple[str, str]

PROBE_TABLE_HEADERS = ("server", "dialect", "signing", "per dialect", "error")


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def probe_rows(probe: SmbProbeResult) -> list[Row]:
    """One server's probe as (field, value) rows, nmap-like wording for signing (DOMAIN 7.1)."""
    rows: list[Row] = [("server", f"{probe.address}:{probe.port}")]
    if probe.error is not None:
        rows.append(("error", f"{probe.error.kind.value}: {probe.error.message}"))
        return rows
    n = probe.negotiated
    assert n is not None  # ok without error means negotiated
    rows += [
        ("dialect", n.dialect or "-"),
        ("dialects offered", ", ".join(probe.dialects_offered)),
        ("signing", probe.signing_text or "-"),
        ("signing required", _yes_no(n.signing_required)),
        ("security mode", describe_security_mode(n.security_mode)),
        ("server GUID", n.server_guid),
        ("capabilities", describe_capabilities(n.capabilities)),
    ]
    rows += [(f"SMB {d.dialect}", d.text) for d in probe.per_dialect]
    return rows


def probe_table(probes: Sequence[SmbProbeResult]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Headers and one row per server, for a fleet-wide table."""
    rows: list[tuple[str, ...]] = []
    for p in probes:
        per_dialect = "; ".join(
            f"{d.dialect}: {_short_signing(d.signing_required, d.supported)}" for d in p.per_dialect
        )
        error = f"{p.error.kind.value}: {p.error.message}" if p.error else ""
        rows.append((f"{p.address}:{p.port}", p.dialect or "-", p.signing_text or "-", per_dialect, error))
    return PROBE_TABLE_HEADERS, rows


def _short_signing(required: bool | None, supported: bool) -> str:
    if not supported:
        return "n/a"
    return "required" if required else "not required"


def probe_document(probes: Sequence[SmbProbeResult]) -> dict[str, Any]:
    """The JSON document for ``--format json``."""
    return {"schema": PROBE_SCHEMA, "servers": [p.to_dict() for p in probes]}


def comparison_row(probe: SmbProbeResult, comparison: WireComparison) -> Row:
    return (f"{probe.address}:{probe.port}", f"{comparison.status}: {comparison.text} ({comparison.rule})")


def workaround_line(w: Workaround) -> str:
    applies = {True: "applies", False: "does not apply", None: "may apply"}[w.applies]
    return f"{w.title} [{applies}: {w.reason}]: {w.command} -- {w.risk}"


def diagnosis_rows(result: DiagnosisResult) -> list[Row]:
    """One diagnosis as (field, value) rows; differences and workarounds one row each."""
    rows: list[Row] = [
        ("server", f"{result.server}:{result.port}"),
        ("status", result.status.value),
        ("message", result.message),
    ]
    if result.dialect:
        rows.append(("dialect", result.dialect))
    if result.stage is not None and result.status is not DiagnosisStatus.PASS:
        rows.append(("stage", result.stage.value))
    if result.error is not None:
        rows.append(("error", f"{result.error.kind.value}: {result.error.message}"))
    for d in result.differences:
        rows.append((f"differs: {d.field}", f"client saw {d.client_saw}; server says {d.server_says}"))
    if result.connection_dropped:
        rows.append(("connection", "dropped during validate negotiate"))
    if result.likely_cause:
        rows.append(("likely cause", result.likely_cause))
    for w in result.workarounds:
        rows.append((f"workaround: {w.id}", workaround_line(w)))
    recommended = result.recommended
    if recommended is not None:
        rows.append(("recommended", recommended.title))
    elif result.workarounds:
        rows.append(("recommended", "depends on the client's build (pass it to choose)"))
    return rows


def diagnosis_text(result: DiagnosisResult) -> str:
    """A short human report (no trailing newline)."""
    width = max(len(k) for k, _ in diagnosis_rows(result))
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in diagnosis_rows(result))


def diagnosis_document(result: DiagnosisResult) -> dict[str, Any]:
    """The JSON document for ``--format json``."""
    return {"schema": DIAGNOSIS_SCHEMA, **result.to_dict()}
