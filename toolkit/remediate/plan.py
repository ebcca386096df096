"""Plan: the audit's verdicts turned into writes. Pure: facts + policy in, writes out.

The same probe and the same verdicts as ``psfleet audit`` (:func:`toolkit.checks.verdicts.evaluate`
over the selected baselines) decide what drifts; this module only decides how to fix it, and
where not to, from each check's data (docs/baselines.md):

* A desired state that weakens security (secure negotiate ``disabled``) is planned only on
  the builds of the check's guardrail (9200 and 9600, docs/windows-facts.md#rsn-enforced-since-10240):
  elsewhere it is ``not_applicable`` with the guardrail's advice; even there it needs
  ``allow_insecure`` (a temporary workaround with an expiry, docs/windows-facts.md#rsn-workaround).
* Every registry write sends ``-Type <the check's kind> -Force`` (docs/windows-facts.md#smbshare-set-force,
  docs/windows-facts.md#registry-write-kind). ``-Type`` also replaces a value of the wrong kind
  (a REG_SZ "0" trap becomes a DWORD): only a write *without* ``-Type`` keeps the existing kind.
* A check's ``remediate.cmdlets`` entry for the build and target value is used instead
  (``Set-SmbClientConfiguration -RequireSecuritySignature $true -Force`` from build 9200,
  docs/windows-facts.md#smbshare-configuration-cmdlets); the registry before
  (docs/windows-facts.md#smbshare-availability) or when the build is unknown.
* A key that does not exist is not created (the service is missing or broken): the setting
  is ``blocked``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from toolkit.baselines.engine import desired_state, effective_state
from toolkit.baselines.model import Baseline, Check
from toolkit.baselines.select import baselines_for
from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.checks.osinfo import BUILD_WIN8, BUILD_WIN81, os_info
from toolkit.checks.smbconfig import smb_write
from toolkit.checks.verdicts import default_baselines, evaluate
from toolkit.errors import UsageError
from toolkit.inventory.model import Host
from toolkit.remediate.model import SETTINGS, Outcome, Setting, SettingResult, settings_of
from toolkit.results import CheckResult, CheckStatus, OsInfo
from toolkit.transport.model import Command

AMBIGUOUS_REASON = (
    "the value reads as a string but its true kind (REG_SZ or REG_EXPAND_SZ) and unexpanded text "
    "could not be read (reg.exe query gave no answer for it): not written, so that its prior value "
    "can be journaled and restored exactly"
)
INSECURE_BUILDS = (BUILD_WIN8, BUILD_WIN81)


@dataclass(frozen=True)
class PlannedWrite:
    """One setting to write: the commands (sent as structured PSRP commands, never text).

    Planned here for remediation, built from the journal by rollback; both send it through
    :func:`toolkit.remediate.execute.write_and_verify`."""

    setting: Setting
    before: RegValue
    after: RegValue
    commands: tuple[Command, ...]
    #: Set when this write disables secure negotiate: a temporary workaround until then.
    workaround_expires: datetime | None = None

    @property
    def command_text(self) -> str:
        return "; ".join(c.render() for c in self.commands)


@dataclass(frozen=True)
class HostPlan:
    """What to do on one host: every selected setting judged, and the writes."""

    os: OsInfo
    items: tuple[SettingResult, ...]
    writes: tuple[PlannedWrite, ...]


_host_settings: dict[tuple[str, ...], dict[str, Setting]] = {}


def host_settings(host: Host) -> dict[str, Setting]:
    """The settings of the host's baselines (computed once per baseline selection)."""
    found = _host_settings.get(host.baselines)
    if found is None:
        found = _host_settings.setdefault(host.baselines, settings_of(baselines_for(host)))
    return found


def run_settings(hosts: Iterable[Host]) -> dict[str, Setting]:
    """The settings of every baseline these hosts are judged against (for ``--only``)."""
    out: dict[str, Setting] = {}
    for host in hosts:
        out.update(host_settings(host))
    return out or dict(SETTINGS)


def validate_only(
    only: Iterable[str] | None, settings: Mapping[str, Setting] | None = None
) -> tuple[str, ...] | None:
    """Check ``--only`` ids against ``settings`` (default: the default baseline's); raises
    :class:`UsageError` for an unknown one."""
    if not only:
        return None
    known = SETTINGS if settings is None else settings
    ids = tuple(dict.fromkeys(only))
    for check_id in ids:
        if check_id not in known:
            raise UsageError(f"unknown check {check_id!r}; choose from: {', '.join(known)}", field="--only")
    return ids


def registry_write(path: str, name: str, value: RegValue) -> Command:
    """The registry command that leaves ``value`` (kind and data) at ``path``/``name``;
    deletes it when ``value`` is absent. Always ``-Type``/``-Force``
    (docs/windows-facts.md#registry-write-kind, docs/windows-facts.md#smbshare-set-force)."""
    if value.kind is None:
        return Command.of("Remove-ItemProperty", Path=path, Name=name, switches=["Force"])
    data = value.value
    kind = value.kind
    if kind == "DWord" and isinstance(data, int) and data > 0x7FFF_FFFF:
        data -= 1 << 32  # as Windows shows it (Int32); converts back to the same DWORD
    elif kind == "QWord" and isinstance(data, int) and data > 0x7FFF_FFFF_FFFF_FFFF:
        data -= 1 << 64
    elif kind == "MultiString":
        data = list(data)
    elif kind == "Unknown":
        raise ValueError(f"cannot write a value of unknown kind at {path}\\{name}")
    return Command.of("Set-ItemProperty", Path=path, Name=name, Value=data, Type=kind, switches=["Force"])


def write_commands(check: Check, after: RegValue, os: OsInfo) -> tuple[Command, ...]:
    """How to reach ``after`` for ``check`` on ``os``: the check's SMB cmdlet for that build
    and value (always ``-Force``), else the registry; an ``smb:`` check through its
    Set-Smb*Configuration cmdlet."""
    if check.smb_getter is not None and isinstance(after.value, int):
        return (smb_write(check.smb_getter, check.name, check.smb_type, after.value),)
    if after.kind == check.kind:
        for entry in check.cmdlets:
            if entry.value == after.value and os.build is not None and entry.when.matches(os):
                return (Command.of(entry.cmdlet, **{entry.parameter: entry.argument}, switches=["Force"]),)
    return (registry_write(check.path, check.name, after),)


def plan_host(
    host: Host,
    facts: HostFacts,
    *,
    only: Iterable[str] | None = None,
    allow_insecure: bool = False,
    expires: datetime | None = None,
    now: datetime | None = None,
    workarounds: Mapping[str, datetime] | None = None,
    ambiguous: Iterable[str] = (),
    baselines: Sequence[Baseline] | None = None,
) -> HostPlan:
    """Judge ``facts`` like the audit does and plan a write for every drifted setting.

    ``baselines``: the checks to judge and fix (default: ``smb-validate-negotiate``).
    ``ambiguous``: settings whose value reads as a String of unknown true kind (REG_SZ or
    REG_EXPAND_SZ, see :mod:`toolkit.remediate.truekind`): never written, ``blocked``.

    ``expires`` is the expiry recorded for a weakening workaround planned here;
    ``workarounds`` are the host's recorded ones (an expired one makes the audit, and thus
    the plan, go back to the check's default state).
    """
    chosen = tuple(baselines) if baselines is not None else default_baselines()
    settings = settings_of(chosen)
    checks_by_id = {c.id: c for b in chosen for c in b.checks}
    os = os_info(facts.current_version)
    moment = now or datetime.now(UTC)
    results = evaluate(facts, host.policy, os=os, now=moment, workarounds=workarounds, baselines=chosen)
    selected = validate_only(only, settings) or tuple(settings)
    blocked = set(ambiguous)
    items: list[SettingResult] = []
    writes: list[PlannedWrite] = []
    for result in results:
        if result.id not in selected:
            continue
        setting, check = settings[result.id], checks_by_id[result.id]
        state = effective_state(
            check,
            desired_state(host.policy, check),
            expiry=(workarounds or {}).get(check.id),
            now=moment,
        ).state
        item, write = _plan_setting(
            setting,
            check,
            result,
            setting.key_in(facts),
            state=state,
            os=os,
            allow_insecure=allow_insecure,
            expires=expires,
        )
        if write is not None and setting.id in blocked:
            item, write = (
                replace(item, outcome=Outcome.BLOCKED, reason=AMBIGUOUS_REASON, after=None, command=""),
                None,
            )
        items.append(item)
        if write is not None:
            writes.append(write)
    return HostPlan(os=os, items=tuple(items), writes=tuple(writes))


def _plan_setting(
    setting: Setting,
    check: Check,
    result: CheckResult,
    key: KeyFacts,
    *,
    state: str,
    os: OsInfo,
    allow_insecure: bool,
    expires: datetime | None,
) -> tuple[SettingResult, PlannedWrite | None]:
    before = key.value(setting.name)

    def item(
        outcome: Outcome,
        reason: str,
        rule: str = result.rule,
        after: RegValue | None = None,
        command: str = "",
    ) -> SettingResult:
        return SettingResult(
            id=setting.id,
            path=setting.path,
            name=setting.name,
            before=before,
            after=after,
            command=command,
            outcome=outcome,
            reason=reason,
            rule=rule,
            expected=result.expected,
        )

    if result.status is CheckStatus.COMPLIANT:
        return item(Outcome.COMPLIANT, result.reason), None
    if result.status is CheckStatus.NOT_APPLICABLE:
        return item(Outcome.NOT_APPLICABLE, result.reason), None

    wanted = check.state(state)
    guardrail = check.guardrail if wanted.weakens else None
    if guardrail is not None:
        if not guardrail.builds.covers(os.build):
            build = "unknown" if os.build is None else str(os.build)
            return item(
                Outcome.NOT_APPLICABLE, guardrail.elsewhere.format(build=build), guardrail.elsewhere_rule
            ), None
        if not allow_insecure:
            return item(Outcome.BLOCKED, guardrail.blocked, guardrail.rule), None
    if check.manual:
        return item(
            Outcome.BLOCKED, f"{result.reason}; psfleet does not write this value: {check.manual}"
        ), None
    if not key.exists:
        return item(
            Outcome.BLOCKED,
            f"key {setting.path} does not exist: psfleet does not create service keys",
        ), None
    if wanted.value is None:  # drift under a state that writes nothing cannot happen; be safe
        return item(Outcome.BLOCKED, f"desired state {wanted.name!r} names no value to write"), None

    after = RegValue(check.kind, wanted.value)  # type: ignore[arg-type]
    commands = write_commands(check, after, os)
    weakening = guardrail is not None
    write = PlannedWrite(setting, before, after, commands, expires if weakening else None)
    reason = f"{result.reason}; will write {after.describe()}"
    if weakening and expires is not None:
        reason += f" as a temporary workaround until {expires.isoformat(timespec='minutes')}"
    if check.reboot:
        reason += "; takes effect after a restart"
    return item(Outcome.PENDING, reason, after=after, command=write.command_text), write
