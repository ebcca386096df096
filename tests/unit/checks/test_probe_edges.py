"""Edges of the registry probe that mutation testing found unpinned: an extra key is read once
whatever its spelling and its object is matched (not only the three audit keys), property
values keep their type unless the type says otherwise, a PathNotFound names its key in quotes
(at the start of the message too; one quote is no path), long unexpected output is cut to 80
characters in the error, a policy state a check does not know falls back to its default, a
value the OS ignores is named in the verdict (not when it is the enforced DWORD), and only an
unknown build is judged as one; an object without PSPath is matched by PSParentPath and
PSChildName (both needed) or by PSPath alone; the explain section ends with the pointer to
the other baselines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.unit.checks.helpers import dword, facts, os_for, reg_sz
from tests.unit.checks.test_probe import CV, key_object
from toolkit.baselines.engine import desired_state
from toolkit.baselines.loader import resolve
from toolkit.checks.facts import SERVER_KEY, WORKSTATION_KEY, KeyFacts, RegValue
from toolkit.checks.osinfo import os_info
from toolkit.checks.probe import AUDIT_KEYS, ProbeError, parse_facts, probe_keys
from toolkit.checks.rules import AUDIT_RULES, explain_lines
from toolkit.checks.verdicts import evaluate
from toolkit.inventory.model import Policy
from toolkit.results import CheckStatus
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


NOW = datetime(2026, 5, 1, tzinfo=UTC)
IGNORED = "present but ignored by this OS; "


@pytest.mark.parametrize(
    ("value", "note"),
    [
        (None, ""),
        (dword(1), ""),  # the value the OS enforces anyway: nothing to say
        (dword(0), "value 0 (DWord) " + IGNORED),
        (reg_sz("1"), "value '1' (String) " + IGNORED),  # the enforcing number, but not a DWORD
    ],
)
def test_a_value_the_os_ignores_is_named_in_the_verdict(value: RegValue | None, note: str) -> None:
    workstation = {} if value is None else {"RequireSecureNegotiate": value}
    (verdict,) = [
        c
        for c in evaluate(facts("2019", workstation=workstation), Policy(), os=os_for("2019"), now=NOW)
        if c.id == "secure_negotiate"
    ]
    assert verdict.status is CheckStatus.COMPLIANT
    assert verdict.reason == f"{note}enforced by OS since build 10240, whatever the value"


def test_only_an_unknown_build_is_judged_as_one() -> None:
    unknown = os_info(KeyFacts(True, {}))
    judged = evaluate(facts("2012r2"), Policy(), os=unknown, now=NOW)
    assert judged[0].reason.startswith("OS build unknown, judged as on 9200/9600; ")
    known = evaluate(facts("2012r2"), Policy(), os=os_for("2012r2"), now=NOW)
    assert known[0].reason == "absent means required: Windows validates negotiate"


def test_an_object_without_pspath_is_matched_by_its_parent_and_child() -> None:
    whole = key_object(WORKSTATION_KEY, RequireSecuritySignature=PSValue("Int32", 1))
    props = dict(whole.properties)
    del props["PSPath"]
    facts_ = parse_facts(_answer(CV, PSObj(whole.type_names, props), key_object(SERVER_KEY)))
    assert facts_.workstation.value("RequireSecuritySignature") == RegValue("DWord", 1)
    del props["PSChildName"]
    with pytest.raises(ProbeError, match="without PSPath or PSParentPath/PSChildName"):
        parse_facts(_answer(CV, PSObj(whole.type_names, props), key_object(SERVER_KEY)))


def test_an_object_with_only_pspath_is_matched_by_it() -> None:
    whole = key_object(WORKSTATION_KEY, RequireSecuritySignature=PSValue("Int32", 0))
    props = {k: v for k, v in whole.properties.items() if k not in ("PSParentPath", "PSChildName")}
    facts_ = parse_facts(_answer(CV, PSObj(whole.type_names, props), key_object(SERVER_KEY)))
    assert facts_.workstation.value("RequireSecuritySignature") == RegValue("DWord", 0)


def test_the_explain_section_lists_every_rule_and_points_to_the_other_baselines() -> None:
    lines = explain_lines()
    assert lines[0].startswith("Rules (the `rule` of each check;") and len(lines) == len(AUDIT_RULES) + 2
    assert lines[-1] == "  (other baselines cite their facts the same way: psfleet baseline show NAME)"
