"""Edges of one host's audit that mutation testing found unpinned: an extension without
``owns`` claims nothing, a failing extension's message is capped at 300 characters, ``judge``
uses the host's own baselines unless given others and reports no duration unless told, a key
path without a hive is only lower-cased, and a ProbeError reads as its message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.unit.checks.helpers import facts
from toolkit.baselines.loader import resolve
from toolkit.checks.audit import AuditExtension, apply_extensions, judge, split_answer
from toolkit.checks.facts import normalize_key
from toolkit.checks.probe import ProbeError
from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostResult, HostStatus
from toolkit.transport.model import ErrorRecordData, InvocationResult, PSObj, PSValue


def test_an_extension_without_owns_claims_nothing_of_the_answer() -> None:
    reg = PSObj(("X",), {})
    value = PSValue("String", "smb:dialect=3.1.1")
    err = ErrorRecordData("gone", "PathNotFound,X", "ObjectNotFound", activity="Get-ItemProperty")
    answer = InvocationResult(output=(reg, value), errors=(err,), had_errors=True)
    registry, parts = split_answer(answer, [AuditExtension("events", lambda *a: {})])
    assert registry.output == (reg, value) and registry.errors == (err,)
    assert parts["events"].output == () and parts["events"].errors == ()


def test_a_failing_extensions_message_is_cut_at_300_characters() -> None:
    def boom(*args: Any) -> Mapping[str, object]:
        raise ValueError("x" * 1000)

    result = HostResult("fs01", "192.0.2.5", HostStatus.COMPLIANT)
    done = apply_extensions(
        Host("fs01", "192.0.2.5"), facts(), result, {}, [AuditExtension("smb", boom)], 0.0
    )
    error = done.extra["smb"]["error"]  # type: ignore[index]
    assert len(error) == 300 and error.startswith("internal error: ValueError: xxx")
    assert done.extra["smb"]["summary"] == f"error: {error}"  # type: ignore[index]


def test_judge_uses_the_hosts_baselines_unless_given_others() -> None:
    host = Host("fs01", "192.0.2.5", baselines=("smb-hardening",))
    hardening = {c.id for c in resolve("smb-hardening").checks}
    negotiate = {c.id for c in resolve("smb-validate-negotiate").checks}
    assert hardening != negotiate
    own = judge(host, facts("2022"))
    assert {c.id for c in own.checks} == hardening
    other = judge(host, facts("2022"), baselines=(resolve("smb-validate-negotiate"),))
    assert {c.id for c in other.checks} == negotiate


def test_judge_reports_no_duration_unless_told() -> None:
    host = Host("fs01", "192.0.2.5")
    assert judge(host, facts()).duration_s == 0.0
    assert judge(host, facts(), duration=1.5).duration_s == 1.5


def test_a_key_path_without_a_hive_is_only_lower_cased() -> None:
    assert normalize_key("SOFTWARE\\Policies\\X\\") == "software\\policies\\x"
    assert normalize_key("HKLM:\\SOFTWARE\\X") == "hklm\\software\\x"


def test_a_probe_error_reads_as_its_message() -> None:
    exc = ProbeError("no CurrentVersion in the answer")
    assert str(exc) == "no CurrentVersion in the answer" and exc.args == ("no CurrentVersion in the answer",)
    assert exc.kind is ErrorKind.PROTOCOL_ERROR
