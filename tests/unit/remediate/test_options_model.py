"""--batch, --expires, exit codes, the workaround registry and the renderers on a remediation run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.checks.helpers import dword, reg_sz
from toolkit.errors import JournalError, UsageError
from toolkit.inventory.model import Host
from toolkit.remediate.model import (
    HostRemediation,
    Outcome,
    RemediateRun,
    RemediateStatus,
    SettingResult,
    exit_code,
)
from toolkit.remediate.options import parse_batch, parse_expires, split_batches
from toolkit.remediate.workarounds import (
    clear_workaround,
    load_workarounds,
    record_workaround,
    workarounds_from_journals,
)
from toolkit.report.render import render

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "total", "size"),
    [(None, 7, 7), ("2", 7, 2), ("10%", 7, 1), ("50%", 7, 4), ("100%", 3, 3), ("5", 0, 5)],
)
def test_parse_batch(text: str | None, total: int, size: int) -> None:
    assert parse_batch(text, total) == size


@pytest.mark.parametrize("text", ["0", "-1", "0%", "150%", "many"])
def test_bad_batch(text: str) -> None:
    with pytest.raises(UsageError, match="--batch"):
        parse_batch(text, 10)


def test_split_batches() -> None:
    assert split_batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW + timedelta(days=7)),
        ("12h", NOW + timedelta(hours=12)),
        ("90m", NOW + timedelta(minutes=90)),
        ("2026-05-03", datetime(2026, 5, 3, 23, 59, 59, tzinfo=UTC)),
        ("2026-05-03T08:00:00+02:00", datetime(2026, 5, 3, 6, 0, tzinfo=UTC)),
    ],
)
def test_parse_expires(text: str, expected: datetime) -> None:
    assert parse_expires(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["0d", "soon", "2020-01-01"])
def test_bad_expires(text: str) -> None:
    with pytest.raises(UsageError, match="--expires"):
        parse_expires(text, now=NOW)


def _host(status: RemediateStatus, outcome: Outcome = Outcome.CHANGED) -> HostRemediation:
    item = SettingResult(
        "client_signing",
        "K",
        "RequireSecuritySignature",
        dword(0),
        dword(1),
        "Set-SmbClientConfiguration -RequireSecuritySignature $true -Force",
        outcome,
        "why",
        "DOMAIN 2.1",
    )
    return HostRemediation(name=f"h-{status}", address="10.0.0.1", status=status, checks=(item,))


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([RemediateStatus.COMPLIANT], 0),
        ([RemediateStatus.COMPLIANT, RemediateStatus.DRIFT], 4),
        ([RemediateStatus.UNREACHABLE], 8),
        ([RemediateStatus.SKIPPED, RemediateStatus.COMPLIANT], 8),
        ([RemediateStatus.DRIFT, RemediateStatus.ACCESS_DENIED], 12),
    ],
)
def test_exit_codes(statuses: list[RemediateStatus], code: int) -> None:
    assert exit_code(tuple(_host(s) for s in statuses)) == code


def _run() -> RemediateRun:
    hosts = (_host(RemediateStatus.COMPLIANT), _host(RemediateStatus.DRIFT, Outcome.FAILED))
    return RemediateRun(
        hosts=hosts, mode="apply", run_id="r", started="s", finished="f", inventory="i", version="0"
    )


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown", "junit", "ndjson"])
def test_every_renderer_reads_a_remediation_run(fmt: str) -> None:
    text = render(_run(), fmt)
    assert "h-compliant" in text
    if fmt == "json":
        doc = json.loads(text)
        assert doc["schema"] == "psfleet.remediate/1" and doc["run"]["exit_code"] == 4
        assert doc["hosts"][1]["changes"][0]["outcome"] == "failed"
        assert doc["changes"] == {"changed": 1, "failed": 1}
    if fmt == "junit":
        assert 'failures="1"' in text  # the failed change fails the build
    if fmt == "table":
        assert "changed: 0 (DWord) -> 1 (DWord)" in text and "drift: 0 (DWord) -> 1 (DWord) [failed]" in text


def test_workaround_registry(tmp_path: Path) -> None:
    path = tmp_path / "workarounds.json"
    expires = NOW + timedelta(days=7)
    record_workaround(
        "fs1",
        setting="secure_negotiate",
        expires=expires,
        run_id="r1",
        journal="j",
        address="10.0.0.5",
        path=path,
    )
    assert load_workarounds(path) == {"fs1": {"secure_negotiate": expires}}
    lookup = workarounds_from_journals(tmp_path)
    assert lookup(Host(name="fs1", address="x")) == {"secure_negotiate": expires}
    assert lookup(Host(name="other", address="x")) is None
    assert not clear_workaround("fs1", setting="secure_negotiate", run_id="r2", path=path)
    assert clear_workaround("fs1", setting="secure_negotiate", run_id="r1", path=path)
    assert load_workarounds(path) == {}


def test_clearing_nothing_leaves_the_registry_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "workarounds.json"
    record_workaround(
        "fs1",
        setting="secure_negotiate",
        expires=NOW,
        run_id="r1",
        journal="j",
        address="10.0.0.5",
        path=path,
    )
    inode = path.stat().st_ino
    assert not clear_workaround("other", setting="secure_negotiate", path=path)
    assert path.stat().st_ino == inode  # not replaced
    assert load_workarounds(path) == {"fs1": {"secure_negotiate": NOW}}


def test_no_registry_means_no_workarounds(tmp_path: Path) -> None:
    assert workarounds_from_journals(tmp_path)(Host(name="a", address="b")) is None


def test_a_broken_registry_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "workarounds.json").write_text("{nope")
    with pytest.raises(JournalError, match=r"workarounds\.json:1: bad workarounds file"):
        workarounds_from_journals(tmp_path)


def test_setting_result_describes_before_and_after() -> None:
    item = SettingResult(
        "secure_negotiate",
        "K",
        "RequireSecureNegotiate",
        reg_sz("0"),
        dword(1),
        "cmd",
        Outcome.PENDING,
        "r",
        "DOMAIN 1.3",
    )
    assert item.actual == "RequireSecureNegotiate='0' (String) -> 1 (DWord) [pending]"
    assert item.status == "drift"
