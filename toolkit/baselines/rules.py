"""Rule ids: the Windows fact each verdict rests on.

A rule id is ``windows-facts#<anchor>``: the fact with that anchor in docs/windows-facts.md
(``docs/windows-facts.md#<anchor>``), where it is stated with its public sources. Every
:class:`~toolkit.results.CheckResult` carries exactly one rule id in ``rule``; JSON, CSV,
JUnit and ``audit --explain`` show it unchanged. Anchors are stable: a fact that is corrected
keeps its anchor (tests/unit/checks/test_rules.py checks that every id used in toolkit/
resolves to an anchor of the doc).
"""

from __future__ import annotations

#: The document the rule ids point into, relative to the repository root.
FACTS_DOC = "docs/windows-facts.md"
#: Every rule id starts with this.
RULE_PREFIX = "windows-facts#"


def rule_id(anchor: str) -> str:
    """``windows-facts#<anchor>`` for an anchor of :data:`FACTS_DOC`."""
    return f"{RULE_PREFIX}{anchor}"


def anchor_of(rule: str) -> str:
    """The anchor a rule id points to (``ValueError`` for anything else)."""
    if not rule.startswith(RULE_PREFIX) or len(rule) == len(RULE_PREFIX):
        raise ValueError(f"not a rule id: {rule!r} (expected {RULE_PREFIX}<anchor>)")
    return rule[len(RULE_PREFIX) :]


def doc_link(rule: str) -> str:
    """Where a rule id is explained: ``docs/windows-facts.md#<anchor>``."""
    return f"{FACTS_DOC}#{anchor_of(rule)}"


# --- secure negotiate (RequireSecureNegotiate) ------------------------------------------
NO_VALIDATE_NEGOTIATE_BEFORE_SMB3 = rule_id("no-validate-negotiate-before-smb3")
RSN_ENFORCED_SINCE_10240 = rule_id("rsn-enforced-since-10240")
RSN_ABSENT_DEFAULT = rule_id("rsn-absent-default")
RSN_DWORD_VALUES = rule_id("rsn-dword-values")
RSN_WRONG_KIND = rule_id("rsn-wrong-kind")

# --- SMB signing (RequireSecuritySignature) ---------------------------------------------
SIGNING_CLIENT_VALUE = rule_id("signing-client-value")
SIGNING_SERVER_VALUE = rule_id("signing-server-value")
SIGNING_DEFAULTS_LEGACY = rule_id("signing-defaults-legacy")
SIGNING_DEFAULTS_24H2 = rule_id("signing-defaults-24h2")
SIGNING_NONBINARY_VALUES = rule_id("signing-nonbinary-values")
SIGNING_EITHER_SIDE = rule_id("signing-either-side")
SIGNING_SAFER_WORKAROUND = rule_id("signing-safer-workaround")

# --- SMB hardening (the smb-hardening baseline) -----------------------------------------
SMB1_SERVER_VALUE = rule_id("smb1-server-value")
SMB1_NOT_INSTALLED_BY_DEFAULT = rule_id("smb1-not-installed-by-default")
SMB1_CLIENT_DRIVER = rule_id("smb1-client-driver")
INSECURE_GUEST_LOGONS = rule_id("insecure-guest-logons")
INSECURE_GUEST_DEFAULTS = rule_id("insecure-guest-defaults")
SMB_ENCRYPTION_VALUE = rule_id("smb-encryption-value")

# --- workarounds, evidence ---------------------------------------------------------------
RSN_WORKAROUND = rule_id("rsn-workaround")
VALIDATE_NEGOTIATE_ABORT = rule_id("validate-negotiate-abort")
SMBCLIENT_EVENTS = rule_id("smbclient-events")

#: What each rule used by the audit says, in one line, for ``audit --explain``.
AUDIT_RULES: dict[str, str] = {
    NO_VALIDATE_NEGOTIATE_BEFORE_SMB3: "builds before 9200 (SMB 2.1 at most) have no validate negotiate",
    RSN_ENFORCED_SINCE_10240: "Windows 10 / Server 2016 and later enforce it whatever the value",
    RSN_ABSENT_DEFAULT: "RequireSecureNegotiate absent means required (builds 9200/9600)",
    RSN_DWORD_VALUES: "DWORD 1 required, 0 disabled; other DWORDs judged disabled (psfleet's assumption)",
    RSN_WRONG_KIND: "a value that is not a DWORD is not honoured: drift, wrong type (psfleet's assumption)",
    SIGNING_CLIENT_VALUE: "LanmanWorkstation RequireSecuritySignature DWORD 1 requires signing outbound",
    SIGNING_SERVER_VALUE: "LanmanServer RequireSecuritySignature DWORD 1 requires signing inbound",
    SIGNING_DEFAULTS_LEGACY: "absent before Windows 11 24H2 / Server 2025: not required (DCs excepted)",
    SIGNING_DEFAULTS_24H2: "absent on 24H2 / Server 2025: required per edition (Home not, Server outbound only)",
    SIGNING_NONBINARY_VALUES: "not DWORD 0 or 1: not counted, OS default applies (psfleet's assumption)",
    SIGNING_EITHER_SIDE: "SMB2/3 traffic is signed if either side requires it (wire probe)",
    SMBCLIENT_EVENTS: "SMB client events 31012/31013/30803/30804 (audit --events)",
    SMB1_SERVER_VALUE: "LanmanServer SMB1 DWORD 0 disables the SMB1 server; absent = enabled where installed",
    SMB1_NOT_INSTALLED_BY_DEFAULT: "no SMB 1.0 by default: Windows 11, Server 2019+, Windows 10 1709+ but Home/Pro",
    SMB1_CLIENT_DRIVER: "mrxsmb10 Start 4 = SMB1 client off (psfleet says what to run; Workstation depends on it)",
    INSECURE_GUEST_LOGONS: "LanmanWorkstation AllowInsecureGuestAuth 0 refuses insecure guest logons",
    INSECURE_GUEST_DEFAULTS: "absent: refused from 1709 (not Home/Pro before 24H2) and Server 2019; allowed before",
    SMB_ENCRYPTION_VALUE: "LanmanServer EncryptData 1 encrypts every SMB 3 session (policy smb_encryption)",
}


def explain_lines() -> list[str]:
    """The rule section of ``audit --explain``: each id and what it says."""
    width = max(len(rule) for rule in AUDIT_RULES)
    lines = [f"Rules (the `rule` of each check; the facts and sources are in {FACTS_DOC}#<id>):"]
    lines.extend(f"  {rule:<{width}}  {text}" for rule, text in AUDIT_RULES.items())
    lines.append("  (other baselines cite their facts the same way: psfleet baseline show NAME)")
    return lines
