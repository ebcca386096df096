"""JUnit XML for CI dashboards: one testsuite, one testcase per host and check.

drift -> ``<failure>``, host not assessed -> ``<error>`` (kind and message), not_applicable
-> ``<skipped>``. Optional sections (``wire_signing``, ``events``) add one testcase per
assessed host: flagged -> ``<failure>``, error -> ``<error>``, not_applicable/unknown ->
``<skipped>``; they do not change the exit code. Text goes through ElementTree (escaped) after characters XML 1.0 cannot
carry at all (control characters from remote error messages) are replaced.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from toolkit.report.model import ASSESSED, CheckView, HostView, Run, check_ids, one_line, xml_text
from toolkit.report.table import extra_columns, extra_section


def render_junit(run: Run) -> str:
    """The run as ``<testsuites><testsuite>...`` with an XML declaration (UTF-8)."""
    name = run.schema.split("/", 1)[0]
    suites = ET.Element("testsuites", name=xml_text(name))
    suite = ET.SubElement(suites, "testsuite", name=xml_text(name))
    ids = check_ids(run, run.check_ids)
    extras = extra_columns(run)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in run.hosts:
        if str(host.status) in ASSESSED:
            for check in host.checks:
                _check_case(suite, host, check, counts)
            for key, name in extras:
                _section_case(suite, host, key, name, counts)
        else:
            for check_id in ids:
                _error_case(suite, host, check_id, counts)
    for attr in ("tests", "failures", "errors", "skipped"):
        suite.set(attr, str(counts[attr]))
        suites.set(attr, str(counts[attr]))
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _case(suite: ET.Element, host: HostView, check_id: str, counts: dict[str, int]) -> ET.Element:
    counts["tests"] += 1
    return ET.SubElement(
        suite, "testcase", classname=xml_text(host.name), name=xml_text(f"{host.name}.{check_id}")
    )


def _check_case(suite: ET.Element, host: HostView, check: CheckView, counts: dict[str, int]) -> None:
    case = _case(suite, host, check.id, counts)
    status = str(check.status)
    detail = f"expected: {check.expected}\nactual: {check.actual}\nreason: {check.reason}\nrule: {check.rule}"
    if status == "drift":
        counts["failures"] += 1
        failure = ET.SubElement(case, "failure", message=xml_text(one_line(check.reason)), type="drift")
        failure.text = xml_text(detail)
    elif status == "not_applicable":
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=xml_text(one_line(check.reason)))
    else:
        out = ET.SubElement(case, "system-out")
        out.text = xml_text(detail)


def _section_case(suite: ET.Element, host: HostView, key: str, name: str, counts: dict[str, int]) -> None:
    section = extra_section(host, key)
    if section is None:
        return
    case = _case(suite, host, name, counts)
    status = str(section.get("status", ""))
    summary = str(section.get("summary", status))
    detail = str(section.get("text") or section.get("reason") or section.get("error") or summary)
    if section.get("flagged"):
        counts["failures"] += 1
        failure = ET.SubElement(case, "failure", message=xml_text(one_line(summary)), type=xml_text(name))
        failure.text = xml_text(detail)
    elif status == "error":
        counts["errors"] += 1
        error = ET.SubElement(case, "error", message=xml_text(one_line(summary)), type=xml_text(name))
        error.text = xml_text(detail)
    elif status in ("not_applicable", "unknown"):
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=xml_text(one_line(f"{summary}: {detail}")))
    else:
        out = ET.SubElement(case, "system-out")
        out.text = xml_text(f"{summary}\n{detail}" if detail != summary else summary)


def _error_case(suite: ET.Element, host: HostView, check_id: str, counts: dict[str, int]) -> None:
    case = _case(suite, host, check_id, counts)
    counts["errors"] += 1
    kind = str(host.error.kind) if host.error else str(host.status)
    message = host.error.message if host.error else f"host not assessed ({host.status})"
    error = ET.SubElement(case, "error", message=xml_text(one_line(message)), type=xml_text(kind))
    error.text = xml_text(f"{kind}: {message}")
