"""Pure judgements: host facts + policy -> one :class:`CheckResult` per check.

Nothing here talks to a host or prints. Every result names the Windows fact it rests on
(``rule``, an id of :mod:`toolkit.checks.rules`: ``windows-facts#<anchor>`` in
docs/windows-facts.md) and says in one line what Windows does with the value it found
(``reason``).

Decisions Windows' documentation leaves open (each is a fact marked "psfleet's assumption" in
docs/windows-facts.md, kept here so it is easy to change):

* A value of the wrong kind (REG_SZ "0", QWORD...) is drift under any enforcing policy
  (``required`` or ``disabled``), even when the effect happens to match
  (docs/windows-facts.md#rsn-wrong-kind). The effect is unconfirmed, and such a value is
  usually a botched workaround (Ansible/DSC string default,
  docs/windows-facts.md#string-default-trap) waiting to bite if the assumption is wrong.
  Remediation replaces it with a DWORD. On builds >= 10240 secure negotiate is enforced
  whatever the value (docs/windows-facts.md#rsn-enforced-since-10240), so there it is only
  noted.
* Secure negotiate on builds < 9200 is ``not_applicable`` under every policy, ``any``
  included: there is nothing to judge.
* An unknown build (CurrentBuild unreadable) is judged as on 9200/9600, where the value
  matters; the reason says the build is unknown.
* An expired temporary workaround turns policy ``disabled`` back into ``required``: the
  check is drift when the host still has validate negotiate disabled ("temporary workaround
  expired on DATE"), compliant when it is already required again. A workaround that has
  not expired yet is compliant and its reason names the expiry date.
* RequireSecuritySignature other than DWORD 0/1 is not honoured (only 0/1 are documented,
  docs/windows-facts.md#signing-nonbinary-values): the OS default applies and the check is
  drift under policy ``required``.
* Absent signing values take the OS default (docs/windows-facts.md#signing-defaults-legacy,
  #signing-defaults-24h2). Domain controllers (server side required by default) cannot be
  told apart from the registry keys read here: their default is taken as "not required" and
  the reason says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from toolkit.checks import rules
from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.checks.osinfo import (
    BUILD_24H2,
    BUILD_WIN8,
    BUILD_WIN10,
    is_home_edition,
    is_server,
)
from toolkit.inventory.model import Policy
from toolkit.results import CheckResult, CheckStatus, HostStatus, OsInfo

CHECK_IDS = ("secure_negotiate", "client_signing", "server_signing")

SECURE_NEGOTIATE_VALUE = "RequireSecureNegotiate"
REQUIRE_SIGNING_VALUE = "RequireSecuritySignature"
ENABLE_SIGNING_VALUE = "EnableSecuritySignature"


def evaluate(
    facts: HostFacts,
    policy: Policy,
    *,
    os: OsInfo,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
) -> tuple[CheckResult, ...]:
    """Judge the three checks of :data:`CHECK_IDS`, in that order.

    ``workarounds`` maps a check id (only ``secure_negotiate`` is used) to the expiry of a
    temporary exception; naive datetimes are taken as UTC. ``now`` defaults to the current
    UTC time (pass it for reproducible results).
    """
    expiry = (workarounds or {}).get("secure_negotiate")
    return (
        secure_negotiate(facts.workstation, policy.secure_negotiate, os=os, expiry=expiry, now=now),
        signing(facts.workstation, policy.client_signing, os=os, side="client"),
        signing(facts.server, policy.server_signing, os=os, side="server"),
    )


def host_status(checks: Iterable[CheckResult]) -> HostStatus:
    """Drift if any check drifts, else compliant (not_applicable counts as compliant)."""
    if any(c.status is CheckStatus.DRIFT for c in checks):
        return HostStatus.DRIFT
    return HostStatus.COMPLIANT


# --- secure negotiate (docs/windows-facts.md#1-validate-negotiate-and-requiresecurenegotiate)


@dataclass(frozen=True)
class _NegotiateState:
    required: bool  # what Windows does on 9200/9600
    wrong_type: bool
    what: str  # the value as Windows reads it, for the reason
    rule: str  # the fact that reading rests on


def _negotiate_state(value: RegValue) -> _NegotiateState:
    if value.absent:
        return _NegotiateState(True, False, "absent means required", rules.RSN_ABSENT_DEFAULT)
    if value.kind != "DWord":
        what = f"{value.describe()} is not a DWORD, not honoured (wrong type)"
        return _NegotiateState(True, True, what, rules.RSN_WRONG_KIND)
    if value.value == 1:
        return _NegotiateState(True, False, "DWORD 1 means required", rules.RSN_DWORD_VALUES)
    return _NegotiateState(False, False, f"DWORD {value.value} means disabled", rules.RSN_DWORD_VALUES)


def secure_negotiate(
    workstation: KeyFacts,
    policy: str,
    *,
    os: OsInfo,
    expiry: datetime | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """RequireSecureNegotiate against the policy, by OS build (docs/windows-facts.md#rsn-value,
    #rsn-enforced-since-10240)."""
    value = workstation.value(SECURE_NEGOTIATE_VALUE)
    actual = _actual(SECURE_NEGOTIATE_VALUE, value, workstation)
    build = os.build

    def result(expected: str, status: CheckStatus, reason: str, rule: str) -> CheckResult:
        return CheckResult("secure_negotiate", expected, actual, status, reason, rule)

    if build is not None and build < BUILD_WIN8:
        return result(
            _NEGOTIATE_EXPECTED.get(policy, policy),
            CheckStatus.NOT_APPLICABLE,
            f"no validate negotiate before SMB 3.0: build {build} speaks at most SMB 2.1",
            rules.NO_VALIDATE_NEGOTIATE_BEFORE_SMB3,
        )

    note = ""
    if policy == "disabled" and expiry is not None:
        expiry_utc = _utc(expiry)
        if expiry_utc <= _utc(now or datetime.now(UTC)):
            policy = "required"
            note = f"temporary workaround expired on {expiry_utc.date().isoformat()}; "
        else:
            note = f"temporary workaround until {expiry_utc.date().isoformat()}; "
    expected = _NEGOTIATE_EXPECTED.get(policy, policy)

    if build is not None and build >= BUILD_WIN10:
        ignored = ""
        if not value.absent and not (value.kind == "DWord" and value.value == 1):
            ignored = f"value {value.describe()} present but ignored by this OS; "
        if policy == "disabled":
            return result(
                expected,
                CheckStatus.NOT_APPLICABLE,
                f"{note}{ignored}cannot be disabled since build 10240 (enforced, or pre-auth "
                "integrity on SMB 3.1.1); require SMB signing instead for WAN accelerators",
                rules.RSN_ENFORCED_SINCE_10240,
            )
        if policy == "required":
            return result(
                expected,
                CheckStatus.COMPLIANT,
                f"{note}{ignored}enforced by OS since build 10240, whatever the value",
                rules.RSN_ENFORCED_SINCE_10240,
            )
        return result(
            expected,
            CheckStatus.COMPLIANT,
            f"not enforced by policy; {ignored}Windows enforces it since build 10240",
            rules.RSN_ENFORCED_SINCE_10240,
        )

    state = _negotiate_state(value)
    unknown = "OS build unknown, judged as on 9200/9600; " if build is None else ""
    effect = "Windows validates negotiate" if state.required else "Windows skips validate negotiate"
    prefix = f"{note}{unknown}"
    if policy == "any":
        return result(
            expected,
            CheckStatus.COMPLIANT,
            f"not enforced by policy; {unknown}{state.what}: {effect}",
            state.rule,
        )
    if state.wrong_type:
        return result(
            expected,
            CheckStatus.DRIFT,
            f"{prefix}{state.what}: {effect}; replace it with a DWORD",
            state.rule,
        )
    want_required = policy == "required"
    status = CheckStatus.COMPLIANT if state.required == want_required else CheckStatus.DRIFT
    return result(expected, status, f"{prefix}{state.what}: {effect}", state.rule)


_NEGOTIATE_EXPECTED = {
    "required": "required (absent or 1 (DWord))",
    "disabled": "disabled (0 (DWord))",
    "any": "any (not enforced)",
}


# --- SMB signing (docs/windows-facts.md#2-smb-signing) ------------------------------


def signing(key: KeyFacts, policy: str, *, os: OsInfo, side: str) -> CheckResult:
    """RequireSecuritySignature of the client (LanmanWorkstation) or server (LanmanServer)
    side against the policy (docs/windows-facts.md#2-smb-signing). EnableSecuritySignature is
    reported but never judged: it only matters for SMB1
    (docs/windows-facts.md#signing-enable-smb1-only)."""
    check_id = f"{side}_signing"
    value = key.value(REQUIRE_SIGNING_VALUE)
    enable = key.value(ENABLE_SIGNING_VALUE)
    actual = (
        f"{_actual(REQUIRE_SIGNING_VALUE, value, key)}; {ENABLE_SIGNING_VALUE}={enable.describe()}, SMB1 only"
    )
    expected = "required (1 (DWord))" if policy == "required" else "any (not enforced)"
    direction = "outbound" if side == "client" else "inbound"

    wrong = ""
    rule = rules.SIGNING_CLIENT_VALUE if side == "client" else rules.SIGNING_SERVER_VALUE
    if value.kind == "DWord" and value.value in (0, 1):
        required = value.value == 1
        what = f"DWORD {value.value}"
    else:
        default_required, default_text = _signing_default(os, side)
        required = default_required
        rule = _signing_default_rule(os)
        if value.absent:
            what = f"absent, OS default: {default_text}"
        else:
            rule = rules.SIGNING_NONBINARY_VALUES
            wrong = f"{value.describe()} is not DWORD 0 or 1, not honoured (wrong type or value)"
            what = f"{wrong}; OS default: {default_text}"

    effect = (
        f"Windows requires signing {direction}"
        if required
        else f"Windows does not require signing {direction} (signed only if the peer requires it)"
    )
    reason = f"{what}: {effect}"
    if policy != "required":
        return CheckResult(
            check_id, expected, actual, CheckStatus.COMPLIANT, f"not enforced by policy; {reason}", rule
        )
    if wrong:
        return CheckResult(
            check_id, expected, actual, CheckStatus.DRIFT, f"{reason}; replace it with a DWORD", rule
        )
    status = CheckStatus.COMPLIANT if required else CheckStatus.DRIFT
    return CheckResult(check_id, expected, actual, status, reason, rule)


def _signing_default_rule(os: OsInfo) -> str:
    """Which defaults apply: 24H2 / Server 2025 (build 26100) and later, or the older ones."""
    if os.build is not None and os.build >= BUILD_24H2:
        return rules.SIGNING_DEFAULTS_24H2
    return rules.SIGNING_DEFAULTS_LEGACY


def _signing_default(os: OsInfo, side: str) -> tuple[bool, str]:
    """The OS default when RequireSecuritySignature is absent
    (docs/windows-facts.md#signing-defaults-legacy, #signing-defaults-24h2)."""
    build = os.build
    if build is None:
        return False, "unknown (build unknown), taken as not required"
    if build >= BUILD_24H2:
        if is_server(os):
            if side == "client":
                return True, "required (Server 2025 requires outbound signing)"
            return False, "not required (Server 2025 requires outbound only; domain controllers not detected)"
        if is_home_edition(os):
            return False, "not required (Windows 11 24H2 Home)"
        return True, "required (Windows 11 24H2 requires signing both ways)"
    if side == "server":
        return False, "not required (domain controllers require it, not detected here)"
    return False, "not required before Windows 11 24H2"


# --- helpers -----------------------------------------------------------------------


def _actual(name: str, value: RegValue, key: KeyFacts) -> str:
    text = f"{name}={value.describe()}"
    return text if key.exists else f"{text} (key missing)"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
