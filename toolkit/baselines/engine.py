"""Judge and plan with baseline checks. Pure: facts + desired state in, verdicts and writes out.

One algorithm for every check (docs/baselines.md, "How a check is judged"):

1. ``not_applicable`` entries matching the OS: nothing to judge.
2. A weakening desired state with a recorded expiry: expired, it reverts to the check's
   default state ("temporary workaround expired on DATE"); not yet, it is noted.
3. ``enforced`` entries matching the OS: the OS does it whatever the value (compliant when the
   policy asks for it, not applicable when it asks for something else).
4. Otherwise the value decides: absent -> the first matching ``absent`` entry (the OS default
   per build and edition); another kind, or a value ``values`` does not list -> ``wrong_kind``
   (not honoured; drift under any enforcing policy); else the matching ``values`` entry.
   Its meaning is compared with the one the desired state asks for.

Each verdict names the fact it rests on (``rule``) and says in one line what Windows does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from toolkit.baselines.facts import HostFacts, KeyFacts, RegValue
from toolkit.baselines.model import Baseline, Check, Reading
from toolkit.results import CheckResult, CheckStatus, OsInfo

_KIND_WORDS = {"DWord": "DWORD", "QWord": "QWORD", "String": "string"}


def desired_state(policy: Any, check: Check) -> str:
    """The desired state ``policy`` sets for ``check``: its field of that name (the three
    validate-negotiate checks), else its ``checks`` mapping, else the check's default."""
    state = getattr(policy, check.id, None)
    if not isinstance(state, str):
        extra = getattr(policy, "checks", None) or {}
        state = extra.get(check.id) if isinstance(extra, Mapping) else None
    return state if isinstance(state, str) and state in check.states else check.default_state


def evaluate(
    baselines: Iterable[Baseline],
    facts: HostFacts,
    policy: Any,
    *,
    os: OsInfo,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
) -> tuple[CheckResult, ...]:
    """Judge every check of ``baselines`` in order (see the module docstring)."""
    moment = now or datetime.now(UTC)
    expiries = workarounds or {}
    return tuple(
        judge(
            check,
            facts.key(check.path),
            desired_state(policy, check),
            os=os,
            expiry=expiries.get(check.id),
            now=moment,
        )
        for baseline in baselines
        for check in baseline.checks
    )


@dataclass(frozen=True)
class Effective:
    """The desired state after a workaround expiry, and the note the reason starts with."""

    state: str
    note: str = ""


def effective_state(check: Check, state: str, *, expiry: datetime | None, now: datetime | None) -> Effective:
    """A weakening ``state`` with an ``expiry``: past it, the check's default state again."""
    if expiry is None or not check.state(state).weakens:
        return Effective(state)
    expiry_utc = _utc(expiry)
    if expiry_utc <= _utc(now or datetime.now(UTC)):
        return Effective(
            check.default_state, f"temporary workaround expired on {expiry_utc.date().isoformat()}; "
        )
    return Effective(state, f"temporary workaround until {expiry_utc.date().isoformat()}; ")


def actual_text(check: Check, key: KeyFacts) -> str:
    """``Name=value (Kind)``, ``(key missing)`` when the key is, plus the reported neighbours."""
    text = f"{check.name}={key.value(check.name).describe()}"
    if not key.exists:
        text += " (key missing)"
    for name, note in check.also_report:
        text += f"; {name}={key.value(name).describe()}" + (f", {note}" if note else "")
    return text


def judge(
    check: Check,
    key: KeyFacts,
    state: str,
    *,
    os: OsInfo,
    expiry: datetime | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """One check against one desired state on one host."""
    value = key.value(check.name)
    actual = actual_text(check, key)
    build = os.build

    def result(expected: str, status: CheckStatus, reason: str, rule: str) -> CheckResult:
        return CheckResult(check.id, expected, actual, status, reason, rule)

    for na in check.not_applicable:
        if na.when.matches(os):
            return result(
                check.state(state).expected,
                CheckStatus.NOT_APPLICABLE,
                na.reason.format(build=build if build is not None else "unknown"),
                na.rule,
            )

    effective = effective_state(check, state, expiry=expiry, now=now)
    wanted = check.state(effective.state)
    note = effective.note
    expected = wanted.expected

    for enforced in check.enforced:
        if not enforced.when.matches(os):
            continue
        ignored = ""
        enforcing = next((s for s in check.states.values() if s.means == enforced.means), None)
        if not value.absent and not (
            enforcing is not None and value.kind == check.kind and value.value == enforcing.value
        ):
            ignored = f"value {value.describe()} present but ignored by this OS; "
        if wanted.means is None:
            return result(
                expected,
                CheckStatus.COMPLIANT,
                f"not enforced by policy; {ignored}{enforced.relaxed}",
                enforced.rule,
            )
        if wanted.means == enforced.means:
            return result(expected, CheckStatus.COMPLIANT, f"{note}{ignored}{enforced.reason}", enforced.rule)
        return result(
            expected, CheckStatus.NOT_APPLICABLE, f"{note}{ignored}{enforced.refuse}", enforced.rule
        )

    means, text, rule, wrong = read_value(check, value, os)
    unknown = f"{check.unknown_build}; " if build is None and check.unknown_build else ""
    effect = check.meanings[means]
    if wanted.means is None:
        return result(
            expected, CheckStatus.COMPLIANT, f"not enforced by policy; {unknown}{text}: {effect}", rule
        )
    prefix = f"{note}{unknown}"
    if wrong:
        word = _KIND_WORDS.get(check.kind, check.kind)
        return result(
            expected, CheckStatus.DRIFT, f"{prefix}{text}: {effect}; replace it with a {word}", rule
        )
    status = CheckStatus.COMPLIANT if means == wanted.means else CheckStatus.DRIFT
    return result(expected, status, f"{prefix}{text}: {effect}", rule)


def read_value(check: Check, value: RegValue, os: OsInfo) -> tuple[str, str, str, bool]:
    """What ``value`` means on ``os``: (meaning, the reason's words, rule, whether it is of the
    wrong kind or an unlisted value: not honoured). Plain tuples: this runs for every check of
    every host."""
    if value.kind == check.kind:
        for entry in check.values:
            if entry.equals is None or entry.equals == value.value:
                return entry.means, entry.text.format(value=value.value), entry.rule, False
    default = _absent_entry(check, os)
    if value.kind is None:
        text = check.absent_text.format(text=default.text, default=default.default or default.text)
        return default.means, text, default.rule, False
    wrong = check.wrong_kind
    text = wrong.text.format(value=value.describe(), default=default.default or default.text)
    return wrong.means or default.means, text, wrong.rule, True


def _absent_entry(check: Check, os: OsInfo) -> Reading:
    for entry in check.absent:
        if entry.when.matches(os):
            return entry
    return check.absent[-1]  # the loader makes the last entry unconditional


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
