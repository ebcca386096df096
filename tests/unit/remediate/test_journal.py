"""The journal format: what is written, what a reader accepts, what it refuses (file:line)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.unit.checks.helpers import dword, reg_sz
from toolkit.checks.facts import RegValue
from toolkit.errors import JournalError
from toolkit.remediate.journal import JournalWriter, intent_record, outcome_record, read_journal
from toolkit.remediate.model import value_dict, value_from_dict

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"


def _intent(host: str = "h1", before: RegValue | None = None) -> dict[str, object]:
    return intent_record(
        run_id="r1",
        host=host,
        address="10.0.0.1",
        setting="secure_negotiate",
        path=WS,
        name="RequireSecureNegotiate",
        before=before or reg_sz("0"),
        after=dword(1),
        command="Set-ItemProperty ...",
    )


def _journal(path: Path, *records: dict[str, object]) -> Path:
    writer = JournalWriter.create(path, {"run_id": "r1", "command": "remediate"})
    writer.append(*records)
    writer.close()
    return path


def test_round_trip(tmp_path: Path) -> None:
    path = _journal(
        tmp_path / "j.jsonl",
        _intent(),
        outcome_record(
            run_id="r1", host="h1", setting="secure_negotiate", outcome="changed", observed=dword(1)
        ),
    )
    journal = read_journal(path)
    assert journal.run_id == "r1" and not journal.ended and journal.damaged_line is None
    (intent,) = journal.intents
    assert intent.before == reg_sz("0") and intent.after == dword(1) and intent.line == 2
    assert journal.outcome_of("h1", "secure_negotiate") == "changed"
    assert os.stat(path).st_mode & 0o777 == 0o600
    first = json.loads(path.read_text().splitlines()[0])
    assert first["psfleet"] == "journal/1" and first["type"] == "run"


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text("precious\n")
    with pytest.raises(JournalError, match="refusing to overwrite"):
        JournalWriter.create(path, {"run_id": "r"})
    assert path.read_text() == "precious\n"


def test_damaged_last_line_is_tolerated(tmp_path: Path) -> None:
    path = _journal(tmp_path / "j.jsonl", _intent("h1"), _intent("h2"))
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # crash mid-append of the last intent
    journal = read_journal(path)
    assert journal.damaged_line == 3
    assert [i.host for i in journal.intents] == ["h1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "1: empty file"),
        ("hello world\n", "1: not a psfleet journal"),
        ('{"type": "run"}\n', "1: not a psfleet journal"),
        ("[1, 2]\n", "1: not a psfleet journal"),
    ],
)
def test_not_a_journal(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(content)
    with pytest.raises(JournalError) as exc:
        read_journal(path)
    assert str(exc.value).startswith(f"{path}:{message}")
    assert "\n" not in str(exc.value)


def test_damage_before_the_last_line_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = _journal(tmp_path / "j.jsonl", _intent("h1"), _intent("h2"))
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:30]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalError, match=r"j\.jsonl:2: damaged record"):
        read_journal(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(setting="nope"), "unknown setting 'nope'"),
        (lambda r: r.update(host=""), "'host' must be a non-empty string"),
        (lambda r: r.update(before={"kind": "DWord", "value": "1"}), "DWord value must be an integer"),
        (lambda r: r.update(type="mystery"), "unknown record type 'mystery'"),
    ],
)
def test_bad_records_name_their_line(tmp_path: Path, mutate: object, message: str) -> None:
    record = _intent()
    mutate(record)  # type: ignore[operator]
    path = _journal(tmp_path / "j.jsonl", record, _intent("h2"))
    with pytest.raises(JournalError, match=rf":2: bad record: {message}"):
        read_journal(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="journal not found"):
        read_journal(tmp_path / "none.jsonl")


@pytest.mark.parametrize(
    "value",
    [
        RegValue(None),
        dword(0),
        dword(0xFFFFFFFF),
        reg_sz("0"),
        RegValue("QWord", 5),
        RegValue("MultiString", ("a", "b")),
        RegValue("Binary", b"\x00\xff"),
    ],
)
def test_values_round_trip_through_json(value: RegValue) -> None:
    assert value_from_dict(json.loads(json.dumps(value_dict(value)))) == value
