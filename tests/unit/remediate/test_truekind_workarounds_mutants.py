"""The true-kind read and the workarounds file, pinned where session 4's mutation run of
toolkit/remediate found them unpinned: reg.exe is asked for the keys of the host's own
baselines, its lines are cut at 4,096 characters and its errors set apart (by error id or by
activity), an unexpanded string keeps the other values of its key; a cleared workaround takes
its host out of the file when it was the last, the file is written sorted and indented, a
file without its format line or with an unreadable expiry is refused, expiries are stored in
UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from toolkit.baselines.loader import resolve
from toolkit.checks.facts import CURRENT_VERSION_KEY, SERVER_KEY, WORKSTATION_KEY, RegValue
from toolkit.errors import JournalError
from toolkit.remediate.model import settings_of
from toolkit.remediate.truekind import (
    is_native_error,
    native_key,
    parse_true_facts,
    read_statements,
    split_native,
)
from toolkit.remediate.workarounds import clear_workaround, load_workarounds, record_workaround
from toolkit.transport.model import ErrorRecordData, InvocationResult, PSObj, PSValue

HEADER = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanWorkstation\\Parameters"
EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


def _obj(key: str, **values: PSValue) -> PSObj:
    path = PSValue(
        "String", "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\" + key.split("\\", 1)[1]
    )
    return PSObj(("System.Management.Automation.PSCustomObject",), {**values, "PSPath": path})


def test_reg_exe_is_asked_for_the_keys_of_the_hosts_own_baselines() -> None:
    assert native_key("HKLM:\\SYSTEM\\CurrentControlSet\\Services\\mrxsmb10") == (
        "HKLM\\SYSTEM\\CurrentControlSet\\Services\\mrxsmb10"
    )
    statements = read_statements(settings_of((resolve("smb-hardening"),)))
    queried = [tuple(p.value for p in s[0].params) for s in statements if s[0].name == "reg.exe"]
    assert ("query", "HKLM\\SYSTEM\\CurrentControlSet\\Services\\mrxsmb10") in queried


def test_reg_exe_lines_are_cut_at_4096_characters_and_its_errors_set_apart() -> None:
    native = ErrorRecordData("ERROR: not found", "NativeCommandError", "NotSpecified", activity="")
    by_activity = ErrorRecordData("ERROR", "Other", "NotSpecified", activity="reg.exe")
    other = ErrorRecordData("denied", "PathNotFound,x", "ObjectNotFound", activity="Get-ItemProperty")
    assert is_native_error(native) and is_native_error(by_activity) and not is_native_error(other)
    lines, rest = split_native(
        InvocationResult(
            output=(PSValue("String", "x" * 5000), PSValue("Int32", 1)),
            errors=(native, other, by_activity),
            had_errors=True,
        )
    )
    assert [len(line) for line in lines] == [4096]
    assert rest.errors == (other,) and rest.output == (PSValue("Int32", 1),)


def test_an_unexpanded_string_keeps_the_other_values_of_its_key() -> None:
    answer = InvocationResult(
        output=(
            _obj(CURRENT_VERSION_KEY, CurrentBuild=PSValue("String", "19045")),
            _obj(
                WORKSTATION_KEY,
                RequireSecuritySignature=PSValue("String", "%x%"),
                RequireSecureNegotiate=PSValue("Int32", 1),
            ),
            _obj(SERVER_KEY),
            *(
                PSValue("String", line)
                for line in ("", HEADER, "    RequireSecuritySignature    REG_EXPAND_SZ    %x%", "")
            ),
        )
    )
    read = parse_true_facts(answer)
    assert read.facts.workstation.value("RequireSecuritySignature") == RegValue("ExpandString", "%x%")
    assert read.facts.workstation.value("RequireSecureNegotiate") == RegValue("DWord", 1)


def test_a_cleared_workaround_takes_its_host_out_when_it_was_the_last(tmp_path: Path) -> None:
    path = tmp_path / "workarounds.json"
    assert clear_workaround("fs01", setting="secure_negotiate", path=path) is False  # no file yet
    for setting in ("secure_negotiate", "smb1_server"):
        record_workaround(
            "fs01", setting=setting, expires=EXPIRES, run_id="r1", journal="j", address="a", path=path
        )
    assert clear_workaround("fs01", setting="secure_negotiate", path=path) is True
    assert load_workarounds(path) == {"fs01": {"smb1_server": EXPIRES}}
    assert clear_workaround("fs01", setting="smb1_server", path=path) is True
    assert json.loads(path.read_text(encoding="utf-8"))["hosts"] == {}


def test_the_workarounds_file_is_written_sorted_and_indented_with_utc_expiries(tmp_path: Path) -> None:
    path = tmp_path / "workarounds.json"
    record_workaround(
        "fs01",
        setting="secure_negotiate",
        expires=datetime(2030, 1, 1, 12),
        run_id="r1",
        journal="j",
        address="a",
        path=path,
    )
    record_workaround(
        "fs02",
        setting="secure_negotiate",
        expires=datetime(2030, 1, 1, 14, tzinfo=timezone(timedelta(hours=2))),
        run_id="r1",
        journal="j",
        address="b",
        path=path,
    )
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert data["hosts"]["fs01"]["secure_negotiate"]["expires"] == "2030-01-01T12:00:00+00:00"
    assert data["hosts"]["fs02"]["secure_negotiate"]["expires"] == "2030-01-01T12:00:00+00:00"


@pytest.mark.parametrize(
    "content",
    [
        {"hosts": {}},
        {"psfleet": "workarounds/1", "hosts": {"fs01": {"secure_negotiate": {"expires": "soon"}}}},
    ],
)
def test_a_workarounds_file_without_its_format_or_with_a_bad_expiry_is_refused(
    tmp_path: Path, content: dict[str, object]
) -> None:
    path = tmp_path / "workarounds.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(JournalError, match="bad workarounds file"):
        load_workarounds(path)


def test_reg_exe_lines_count_only_for_the_settings_of_their_own_key() -> None:
    from toolkit.remediate.truekind import parse_kinds

    server = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters"
    kinds = parse_kinds(
        [
            HEADER,
            "    RequireSecureNegotiate    REG_SZ    0",
            "",
            server,
            "    RequireSecureNegotiate    REG_SZ    1",  # not a value of this key's settings
        ]
    )
    assert kinds == {(WORKSTATION_KEY, "requiresecurenegotiate"): RegValue("String", "0")}
