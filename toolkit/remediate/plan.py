"""Plan: the audit's verdicts turned into writes. Pure: facts + policy in, writes out.

The same probe and the same verdicts as ``psfleet audit`` (:func:`toolkit.checks.verdicts.evaluate`)
decide what drifts; this module only decides how to fix it, and where not to:

* secure negotiate ``disabled`` is planned only on builds 9200 and 9600 (docs/windows-facts.md#rsn-enforced-since-10240): elsewhere
  it is ``not_applicable`` with the advice to require SMB signing instead; even there it needs
  ``allow_insecure`` (it is a temporary workaround with an expiry, docs/windows-facts.md#rsn-workaround).
* Every registry write sends ``-Type DWord -Force`` (docs/windows-facts.md#smbshare-set-force, docs/windows-facts.md#registry-write-kind). ``-Type`` also replaces
  a value of the wrong kind (a REG_SZ "0" trap becomes a DWORD): only a write *without*
  ``-Type`` keeps the existing kind.
* Signing goes through ``Set-SmbClientConfiguration`` / ``Set-SmbServerConfiguration
  -RequireSecuritySignature $true -Force`` from build 9200 (docs/windows-facts.md#smbshare-configuration-cmdlets), through the registry
  before (docs/windows-facts.md#smbshare-availability) or when the build is unknown.
* A key that does not exist is not created (the LanmanWorkstation/LanmanServer service is
  missing or broken): the setting is ``blocked``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.checks.osinfo import BUILD_WIN8, BUILD_WIN81, os_info
from toolkit.checks.rules import RSN_ENFORCED_SINCE_10240, RSN_WORKAROUND
from toolkit.checks.verdicts import CHECK_IDS, evaluate
from toolkit.errors import UsageError
from toolkit.inventory.model import Host
from toolkit.remediate.model import SETTINGS, Outcome, Setting, SettingResult
from toolkit.results import CheckResult, CheckStatus, OsInfo
from toolkit.transport.model import Command

REQUIRED = RegValue("DWord", 1)

AMBIGUOUS_REASON = (
    "the value reads as a string but its true kind (REG_SZ or REG_EXPAND_SZ) and unexpanded text "
    "could not be read (reg.exe query gave no answer for it): not written, so that its prior value "
    "can be journaled and restored exactly"
)
DISABLED = RegValue("DWord", 0)

INSECURE_BUILDS = (BUILD_WIN8, BUILD_WIN81)

_SMB_CMDLETS = {
    "client_signing": "Set-SmbClientConfiguration",
    "server_signing": "Set-SmbServerConfiguration",
}


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


def validate_only(only: Iterable[str] | None) -> tuple[str, ...] | None:
    """Check ``--only`` ids; raises :class:`UsageError` for an unknown one."""
    if not only:
        return None
    ids = tuple(dict.fromkeys(only))
    for check_id in ids:
        if check_id not in SETTINGS:
            raise UsageError(
                f"unknown check {check_id!r}; choose from: {', '.join(CHECK_IDS)}", field="--only"
            )
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


def write_commands(setting: Setting, after: RegValue, build: int | None) -> tuple[Command, ...]:
    """How to reach ``after`` for ``setting`` on ``build``."""
    cmdlet = _SMB_CMDLETS.get(setting.id)
    if cmdlet is not None and build is not None and build >= BUILD_WIN8 and after == REQUIRED:
        return (Command.of(cmdlet, RequireSecuritySignature=True, switches=["Force"]),)
    return (registry_write(setting.path, setting.name, after),)


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
) -> HostPlan:
    """Judge ``facts`` like the audit does and plan a write for every drifted setting.

    ``ambiguous``: settings whose value reads as a String of unknown true kind (REG_SZ or
    REG_EXPAND_SZ, see :mod:`toolkit.remediate.truekind`): never written, ``blocked``.

    ``expires`` is the expiry recorded for a secure-negotiate workaround planned here;
    ``workarounds`` are the host's recorded ones (an expired one makes the audit, and thus
    the plan, go back to ``required``).
    """
    os = os_info(facts.current_version)
    checks = evaluate(facts, host.policy, os=os, now=now, workarounds=workarounds)
    selected = validate_only(only) or CHECK_IDS
    items: list[SettingResult] = []
    writes: list[PlannedWrite] = []
    for check in checks:
        if check.id not in selected:
            continue
        setting = SETTINGS[check.id]
        item, write = _plan_setting(
            setting, check, setting.key_in(facts), os=os, allow_insecure=allow_insecure, expires=expires
        )
        if write is not None and setting.id in set(ambiguous):
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
    check: CheckResult,
    key: KeyFacts,
    *,
    os: OsInfo,
    allow_insecure: bool,
    expires: datetime | None,
) -> tuple[SettingResult, PlannedWrite | None]:
    before = key.value(setting.name)

    def item(
        outcome: Outcome,
        reason: str,
        rule: str = check.rule,
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
            expected=check.expected,
        )

    if check.status is CheckStatus.COMPLIANT:
        return item(Outcome.COMPLIANT, check.reason), None
    if check.status is CheckStatus.NOT_APPLICABLE:
        return item(Outcome.NOT_APPLICABLE, check.reason), None

    disable = setting.id == "secure_negotiate" and check.expected.startswith("disabled")
    if disable:
        if os.build not in INSECURE_BUILDS:
            build = "unknown" if os.build is None else str(os.build)
            return item(
                Outcome.NOT_APPLICABLE,
                f"not planned: disabling validate negotiate is done only on builds 9200 and 9600 "
                f"(this build: {build}); require SMB signing instead for WAN accelerators",
                RSN_ENFORCED_SINCE_10240,
            ), None
        if not allow_insecure:
            return item(
                Outcome.BLOCKED,
                "disabling validate negotiate weakens SMB security: pass --allow-insecure to apply it "
                "as a temporary workaround (with --expires); safer: require SMB signing",
                RSN_WORKAROUND,
            ), None
    if not key.exists:
        return item(
            Outcome.BLOCKED,
            f"key {setting.path} does not exist: psfleet does not create service keys",
        ), None

    after = DISABLED if disable else REQUIRED
    commands = write_commands(setting, after, os.build)
    write = PlannedWrite(setting, before, after, commands, expires if disable else None)
    reason = f"{check.reason}; will write {after.describe()}"
    if disable and expires is not None:
        reason += f" as a temporary workaround until {expires.isoformat(timespec='minutes')}"
    return item(Outcome.PENDING, reason, after=after, command=write.command_text), write
