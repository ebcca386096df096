"""One host's audit without the lab: one round trip whatever the extensions, their part of the
answer split off before the registry is parsed, a failing extension recorded in its own
section (never failing the host), and the duration and client reported."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from tests.unit.remediate.fakehost import FakeFleet, FakeWindows
from toolkit.checks import audit as audit_module
from toolkit.checks.audit import AuditExtension, apply_extensions, audit_host, split_answer
from toolkit.checks.facts import HostFacts
from toolkit.inventory.model import Host
from toolkit.results import HostResult, HostStatus
from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, PSObj, PSValue

HOST = Host(name="fs01", address="192.0.2.5")


def _mine(item: object) -> bool:
    if isinstance(item, PSValue):
        return str(item.value).startswith("smb:")
    return isinstance(item, ErrorRecordData) and item.activity == "Get-SmbConnection"


def test_split_answer_gives_each_extension_only_what_it_claims() -> None:
    reg = PSObj(("X",), {})
    theirs = PSValue("String", "smb:dialect=3.1.1")
    other = PSValue("String", "not smb")
    err_theirs = ErrorRecordData("no", "X", "NotSpecified", activity="Get-SmbConnection")
    err_reg = ErrorRecordData("gone", "PathNotFound,X", "ObjectNotFound", activity="Get-ItemProperty")
    answer = InvocationResult(output=(reg, theirs, other), errors=(err_theirs, err_reg), had_errors=True)
    registry, parts = split_answer(answer, [AuditExtension("smb", lambda *a: {}, owns=_mine)])
    assert registry.output == (reg, other) and registry.errors == (err_reg,) and registry.had_errors
    assert parts["smb"].output == (theirs,) and parts["smb"].errors == (err_theirs,)
    clean, parts = split_answer(
        InvocationResult(output=(reg,), errors=(err_theirs,)),
        [AuditExtension("smb", lambda *a: {}, owns=_mine)],
    )
    assert clean.errors == () and clean.had_errors is False and parts["smb"].had_errors is True


def test_a_failing_extension_is_an_error_section_not_a_failed_host() -> None:
    def boom(*args: Any) -> Mapping[str, object]:
        raise ValueError("boom")

    result = HostResult("fs01", "192.0.2.5", HostStatus.COMPLIANT, extra={"transport": "lean"})
    facts = HostFacts.__new__(HostFacts)
    done = apply_extensions(
        HOST,
        facts,
        result,
        {},
        [AuditExtension("smb", boom), AuditExtension("events", lambda *a: {"status": "ok"})],
        time.monotonic() + 5,
    )
    assert done.status is HostStatus.COMPLIANT
    assert done.extra["smb"] == {
        "status": "error",
        "summary": "error: internal error: ValueError: boom",
        "error": "internal error: ValueError: boom",
    }
    assert done.extra["events"] == {"status": "ok"} and done.extra["transport"] == "lean"


class CountingFleet(FakeFleet):
    def __init__(self, box: FakeWindows) -> None:
        super().__init__(fs01=box)
        self.runs: list[Any] = []

    def __call__(self, host: Host, credential: Any, *, deadline: float | None = None, **_: Any) -> Any:
        session = super().__call__(host, credential, deadline=deadline)
        real = session.run

        def run(statements: Any) -> InvocationResult:
            self.runs.append(statements)
            answer = real([s for s in statements if s[0].name != "Get-SmbConnection"])
            return InvocationResult(output=(*answer.output, PSValue("String", "smb:3.1.1")))

        session.run = run
        return session


def test_audit_host_is_one_round_trip_with_the_extensions_statements_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box = FakeWindows("17763", client_signing=("DWord", 0), server_signing=("DWord", 1))
    fleet = CountingFleet(box)
    monkeypatch.setattr(audit_module, "open_session", fleet)
    seen: list[InvocationResult] = []

    def finish(host: Host, facts: HostFacts, answer: InvocationResult, result: HostResult, deadline: float):  # type: ignore[no-untyped-def]
        seen.append(answer)
        return {"status": "ok", "dialect": str(answer.output[0].value)}  # type: ignore[union-attr]

    extension = AuditExtension("smb", finish, statements=((Command.of("Get-SmbConnection"),),), owns=_mine)
    result = audit_host(HOST, None, time.monotonic() + 30, extensions=[extension])
    (statements,) = fleet.runs
    assert statements[-1][0].name == "Get-SmbConnection"
    assert [s[0].name for s in statements[:-1]] == ["Get-ItemProperty"] * (len(statements) - 1)
    assert result.status is HostStatus.DRIFT
    assert {c.id: c.status.value for c in result.checks}["client_signing"] == "drift"
    assert result.extra["smb"] == {"status": "ok", "dialect": "smb:3.1.1"}
    assert result.extra["transport"] == "lean"
    assert 0 <= result.duration_s < 30
    assert seen[0].output == (PSValue("String", "smb:3.1.1"),)


def test_audit_host_without_extensions_reads_and_judges(monkeypatch: pytest.MonkeyPatch) -> None:
    box = FakeWindows("17763", client_signing=("DWord", 1), server_signing=("DWord", 1))
    monkeypatch.setattr(audit_module, "open_session", FakeFleet(fs01=box))
    result = audit_host(HOST, None, time.monotonic() + 30)
    assert result.status is HostStatus.COMPLIANT
    assert result.os is not None and result.os.build == 17763
    assert 0 <= result.duration_s < 30 and result.extra["transport"] == "lean"


def test_an_answer_the_probe_cannot_read_is_one_host_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.checks.facts import CURRENT_VERSION_KEY

    box = FakeWindows("17763", client_signing=("DWord", 1), server_signing=("DWord", 1))
    del box.registry[CURRENT_VERSION_KEY]  # neither values nor PathNotFound for that key
    monkeypatch.setattr(audit_module, "open_session", FakeFleet(fs01=box))
    result = audit_host(HOST, None, time.monotonic() + 30)
    assert result.status is HostStatus.PROTOCOL_ERROR
    assert result.error is not None and result.error.message.startswith("unexpected answer: ")
    assert 0 <= result.duration_s < 30 and result.extra["transport"] == "lean"
