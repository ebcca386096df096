"""Verdict and probe rules a plausible bug would break silently: a naive workaround expiry is
UTC whatever this machine's time zone, absent signing on an unknown build is not taken as
required, and a missing key is recognised by PathNotFound in the FullyQualifiedErrorId (the
message text is localized), never by the message alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.unit.checks.helpers import dword, facts, os_for
from tests.unit.checks.test_probe import CV, key_object
from toolkit.checks.facts import SERVER_KEY, WORKSTATION_KEY
from toolkit.checks.probe import ProbeError, parse_facts
from toolkit.checks.verdicts import evaluate
from toolkit.inventory.model import Policy
from toolkit.results import CheckStatus, ErrorKind, OsInfo
from toolkit.transport.model import ErrorRecordData, InvocationResult

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Set this process's local time zone (TZ + tzset) for one test."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("tz", "expiry", "status", "word"),
    [
        # 10:00 UTC is past 12:00 UTC; read as New York time it would be 14:00 UTC, not past
        ("America/New_York", datetime(2026, 5, 1, 10, 0), CheckStatus.DRIFT, "expired on 2026-05-01"),
        # 13:00 UTC is not past; read as Tokyo time it would be 04:00 UTC, past
        ("Asia/Tokyo", datetime(2026, 5, 1, 13, 0), CheckStatus.COMPLIANT, "workaround until 2026-05-01"),
    ],
)
def test_a_naive_expiry_is_utc_in_any_local_time_zone(
    zone, tz: str, expiry: datetime, status: CheckStatus, word: str
) -> None:  # type: ignore[no-untyped-def]
    zone(tz)
    host = facts("2012r2", workstation={"RequireSecureNegotiate": dword(0)})
    check = evaluate(
        host,
        Policy(secure_negotiate="disabled"),
        os=os_for("2012r2"),
        now=NOW,
        workarounds={"secure_negotiate": expiry},
    )[0]
    assert check.status is status, check.reason
    assert word in check.reason


@pytest.mark.parametrize("side", ["client_signing", "server_signing"])
def test_absent_signing_on_an_unknown_build_is_not_taken_as_required(side: str) -> None:
    unknown = OsInfo(product="Windows", build=None, display="Windows (build unknown)")
    checks = {c.id: c for c in evaluate(facts("2012r2"), Policy(), os=unknown)}
    check = checks[side]
    assert check.status is CheckStatus.DRIFT, check.reason
    assert "build unknown" in check.reason and "not required" in check.reason
    # and nothing is said to be required when policy does not ask for it
    lenient = {
        c.id: c
        for c in evaluate(facts("2012r2"), Policy(client_signing="any", server_signing="any"), os=unknown)
    }
    assert lenient[side].status is CheckStatus.COMPLIANT


def _error(message: str, fqid: str, category: str, target: str = "") -> ErrorRecordData:
    return ErrorRecordData(message, fqid, category, target=target)


GERMAN = 'Der Pfad "{}" kann nicht gefunden werden, da er nicht vorhanden ist.'
FQID_NOT_FOUND = "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand"


@pytest.mark.parametrize("target", [SERVER_KEY, ""])
def test_path_not_found_is_recognised_by_its_error_id_in_any_language(target: str) -> None:
    error = _error(GERMAN.format(SERVER_KEY), FQID_NOT_FOUND, "ObjectNotFound", target)
    if not target:  # no target: the key is named in the message (between quotes there)
        error = _error(f"Der Pfad '{SERVER_KEY}' wurde nicht gefunden.", FQID_NOT_FOUND, "ObjectNotFound")
    found = parse_facts(InvocationResult(output=(CV, key_object(WORKSTATION_KEY)), errors=(error,)))
    assert found.workstation.exists and not found.server.exists


def test_a_not_found_text_with_another_error_id_is_not_a_missing_key() -> None:
    error = _error(
        f"Cannot find path '{SERVER_KEY}' because it does not exist.",
        "System.Security.SecurityException,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
        "PermissionDenied",
        SERVER_KEY,
    )
    with pytest.raises(ProbeError) as caught:
        parse_facts(InvocationResult(output=(CV, key_object(WORKSTATION_KEY)), errors=(error,)))
    assert caught.value.kind is ErrorKind.ACCESS_DENIED
