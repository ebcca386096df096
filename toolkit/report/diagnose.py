"""``psfleet diagnose validate-negotiate`` output: a short human report, or the JSON document.

Nothing here prints: the CLI writes what these return.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # plain data read by attribute; report/ does not import smb/ back
    from toolkit.smb.diagnose import DiagnosisResult, Workaround

DIAGNOSIS_SCHEMA = "psfleet.smb-diagnosis/1"

Row = tuple[str, str]


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
    if result.dialect_requested and result.dialect_requested != result.dialect:
        rows.append(("dialect requested", result.dialect_requested))
    if result.stage is not None and result.status.value != "pass":
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


def render_diagnosis(result: DiagnosisResult, fmt: str) -> str:
    """``result`` as ``table`` (the short report, unprintable characters from the server shown
    as ``?``) or ``json`` (:func:`diagnosis_document`), ending with a newline."""
    if fmt == "json":
        return json.dumps(diagnosis_document(result), indent=2, ensure_ascii=False) + "\n"
    text = diagnosis_text(result)
    return "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text) + "\n"
