"""Edges of the registry probe that mutation testing found unpinned: an extra key is read once
whatever its spelling and its object is matched (not only the three audit keys), property
values keep their type unless the type says otherwise, a PathNotFound names its key in quotes
(at the start of the message too; one quote is no path), long unexpected output is cut to 80
characters in the error, and a policy state a check does not know falls back to its default."""

from __future__ import annotations

import pytest

from tests.unit.checks.test_probe import CV, key_object
from toolkit.baselines.engine import desired_state
from toolkit.baselines.loader import resolve
from toolkit.checks.facts import SERVER_KEY, WORKSTATION_KEY, RegValue
from toolkit.checks.probe import AUDIT_KEYS, ProbeError, parse_facts, probe_keys
from toolkit.inventory.model import Policy
from toolkit.transport.model import ErrorRecordData, InvocationResult, PSObj, PSValue

EXTRA = "HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\LanmanWorkstation"
KEYS = (*AUDIT_KEYS, EXTRA)


def test_an_extra_key_is_read_once_whatever_its_spelling() -> None:
    keys = probe_keys(
        [EXTRA, EXTRA.upper(), "HKEY_LOCAL_MACHINE\\" + EXTRA.split("\\", 1)[1], WORKSTATION_KEY]
    )
    assert keys == KEYS


def _answer(*output: PSObj | PSValue, errors: tuple[ErrorRecordData, ...] = ()) -> InvocationResult:
    return InvocationResult(output=output, errors=errors, had_errors=bool(errors))


def _missing(message: str, target: str = "") -> ErrorRecordData:
    return ErrorRecordData(
        message,
        "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
        "ObjectNotFound",
        target=target,
    )


def test_an_extra_keys_object_is_matched_to_it() -> None:
    extra = key_object(EXTRA, AllowInsecureGuestAuth=PSValue("Int32", 0))
    ws, srv = key_object(WORKSTATION_KEY), key_object(SERVER_KEY)
    facts = parse_facts(_answer(CV, ws, srv, extra), KEYS)
    assert facts.key(EXTRA).value("AllowInsecureGuestAuth") == RegValue("DWord", 0)


def test_values_keep_their_type_unless_the_type_says_otherwise() -> None:
    ws = key_object(
        WORKSTATION_KEY,
        Nested=PSObj(("X",), {}),  # type: ignore[arg-type]
        OddDword=PSValue("Int32", "12"),
        OddQword=PSValue("Int64", "x"),
        IntAsText=PSValue("String", -1),
        Listed=PSValue("Object[]", [1, 2]),
        Multi=PSValue("String[]", ["a", "b"]),
        Big=PSValue("Int64", -1),
    )
    values = parse_facts(_answer(CV, ws, key_object(SERVER_KEY))).workstation
    assert values.value("Nested").kind == "Unknown"
    assert values.value("OddDword") == RegValue("DWord", "12")
    assert values.value("OddQword") == RegValue("QWord", "x")
    assert values.value("IntAsText") == RegValue("String", -1)
    assert values.value("Listed") == RegValue("Unknown", [1, 2])
    assert values.value("Multi") == RegValue("MultiString", ("a", "b"))
    assert values.value("Big") == RegValue("QWord", 0xFFFF_FFFF_FFFF_FFFF)


@pytest.mark.parametrize(
    "message",
    [
        f"'{WORKSTATION_KEY}' does not exist.",  # the quote opens the message
        f"Cannot find path '{WORKSTATION_KEY}' because it does not exist.",
    ],
)
def test_a_missing_key_is_named_in_quotes_anywhere_in_the_message(message: str) -> None:
    facts = parse_facts(_answer(CV, key_object(SERVER_KEY), errors=(_missing(message),)))
    assert not facts.workstation.exists and facts.server.exists


def test_one_quote_names_no_path() -> None:
    message = f"Cannot find path '{WORKSTATION_KEY}."  # the closing quote is missing
    with pytest.raises(ProbeError, match="PathNotFound for an unexpected path"):
        parse_facts(_answer(CV, key_object(SERVER_KEY), errors=(_missing(message),)))


def test_unexpected_output_is_cut_to_80_characters_in_the_error() -> None:
    base = len(repr(PSValue("String", "")))
    exact = PSValue("String", "y" * (80 - base))
    with pytest.raises(ProbeError) as whole:
        parse_facts(_answer(CV, exact))
    assert str(whole.value).endswith(repr(exact))
    longer = PSValue("String", "y" * 200)
    with pytest.raises(ProbeError) as cut:
        parse_facts(_answer(CV, longer))
    assert str(cut.value).endswith(repr(longer)[:77] + "...")


def test_a_policy_state_the_check_does_not_know_falls_back_to_its_default() -> None:
    check = next(
        c for c in resolve("smb-hardening").checks if c.id not in ("client_signing", "server_signing")
    )
    assert desired_state(Policy(checks={check.id: "no-such-state"}), check) == check.default_state
    other = next(s for s in check.states if s != check.default_state)
    assert desired_state(Policy(checks={check.id: other}), check) == other
