"""HostFacts by key path: the three known keys and any other a baseline reads, whatever the
spelling of the path (provider, hive name, case, trailing backslash); a key not read is a
missing key, never None."""

from __future__ import annotations

import pytest

from tests.unit.checks.helpers import dword, facts
from toolkit.checks.facts import SERVER_KEY, WORKSTATION_KEY, KeyFacts, normalize_key

OTHER = r"HKLM:\SOFTWARE\Policies\Microsoft\Windows\LanmanWorkstation"


@pytest.mark.parametrize(
    "spelling",
    [
        OTHER,
        OTHER.lower() + "\\",
        "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\" + OTHER.split("\\", 1)[1],
        "HKEY_LOCAL_MACHINE/" + OTHER.split("\\", 1)[1].replace("\\", "/"),
    ],
)
def test_any_spelling_of_a_path_finds_the_key(spelling: str) -> None:
    extra = KeyFacts(True, {"AllowInsecureGuestAuth": dword(0)})
    f = facts("2019").with_key(OTHER, extra)
    assert normalize_key(spelling) == normalize_key(OTHER)
    assert f.key(spelling) == extra


def test_the_known_keys_by_path_and_replacing_them() -> None:
    f = facts("2019", workstation={"RequireSecuritySignature": dword(1)})
    assert f.key(WORKSTATION_KEY) is f.workstation and f.key(SERVER_KEY) is f.server
    replaced = f.with_key(SERVER_KEY.upper(), KeyFacts(False))
    assert replaced.server == KeyFacts(False) and replaced.workstation == f.workstation
    assert replaced.keys == {}


def test_a_key_not_read_is_missing() -> None:
    missing = facts("2019").key(OTHER)
    assert missing == KeyFacts(exists=False)
    assert missing.value("Anything").absent


def test_replacing_another_key_keeps_one_entry() -> None:
    f = facts("2019").with_key(OTHER, KeyFacts(True)).with_key(OTHER.lower(), KeyFacts(False))
    assert list(f.keys.values()) == [KeyFacts(False)]
