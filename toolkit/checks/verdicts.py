"""Pure judgements: host facts + policy -> one :class:`CheckResult` per check.

The checks are data: the shipped baseline ``smb-validate-negotiate``
(toolkit/baselines/data/smb-validate-negotiate.yaml) holds the three checks of
:data:`CHECK_IDS`, what Windows does with each value per build and edition, and the Windows
fact each verdict rests on (``rule``, ``windows-facts#<anchor>`` in docs/windows-facts.md).
:mod:`toolkit.baselines.engine` judges them; this module keeps the audit's entry points.

Decisions Windows' documentation leaves open (each a fact marked "psfleet's assumption" in
docs/windows-facts.md, written in the baseline so it is easy to change):

* A value of the wrong kind (REG_SZ "0", QWORD...) is drift under any enforcing policy
  (docs/windows-facts.md#rsn-wrong-kind, #string-default-trap); on builds >= 10240 secure
  negotiate is enforced whatever the value (docs/windows-facts.md#rsn-enforced-since-10240),
  so there it is only noted.
* Secure negotiate on builds < 9200 is ``not_applicable`` under every policy.
* An unknown build is judged as on 9200/9600, where the value matters; the reason says so.
* An expired temporary workaround turns policy ``disabled`` back into ``required``.
* RequireSecuritySignature other than DWORD 0/1 is not honoured
  (docs/windows-facts.md#signing-nonbinary-values); absent values take the OS default
  (docs/windows-facts.md#signing-defaults-legacy, #signing-defaults-24h2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from toolkit.baselines import engine
from toolkit.baselines.facts import HostFacts
from toolkit.baselines.model import Baseline
from toolkit.baselines.select import resolve_specs
from toolkit.inventory.model import Policy
from toolkit.results import CheckResult, CheckStatus, HostStatus, OsInfo

CHECK_IDS = ("secure_negotiate", "client_signing", "server_signing")

SECURE_NEGOTIATE_VALUE = "RequireSecureNegotiate"
REQUIRE_SIGNING_VALUE = "RequireSecuritySignature"
ENABLE_SIGNING_VALUE = "EnableSecuritySignature"


def default_baselines() -> tuple[Baseline, ...]:
    """The baselines judged when none is selected: ``smb-validate-negotiate`` (parsed once
    per process)."""
    return resolve_specs(())


def evaluate(
    facts: HostFacts,
    policy: Policy,
    *,
    os: OsInfo,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
    baselines: Sequence[Baseline] | None = None,
) -> tuple[CheckResult, ...]:
    """Judge every check of ``baselines`` (default: :data:`CHECK_IDS` of
    ``smb-validate-negotiate``), in baseline order.

    ``workarounds`` maps a check id to the expiry of a temporary exception; naive datetimes
    are taken as UTC. ``now`` defaults to the current UTC time (pass it for reproducible
    results).
    """
    chosen = default_baselines() if baselines is None else baselines
    return engine.evaluate(chosen, facts, policy, os=os, now=now, workarounds=workarounds)


def host_status(checks: Iterable[CheckResult]) -> HostStatus:
    """Drift if any check drifts, else compliant (not_applicable counts as compliant)."""
    if any(c.status is CheckStatus.DRIFT for c in checks):
        return HostStatus.DRIFT
    return HostStatus.COMPLIANT
