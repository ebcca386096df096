"""Baselines as plain data: a named, digested set of checks, each check a registry value with
its desired-state vocabulary, what Windows does with each value per build and edition, how to
fix it and what it rests on.

Nothing here reads a file or talks to a host: :mod:`toolkit.baselines.loader` builds these
objects from YAML (docs/baselines.md describes the format), :mod:`toolkit.baselines.engine`
judges and plans with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.baselines.osinfo import is_home_edition, is_server
from toolkit.results import OsInfo

#: Registry kinds a check may name (PowerShell's -Type names).
KINDS = ("DWord", "QWord", "String", "ExpandString", "MultiString", "Binary")
#: OS kinds a condition may name.
OS_KINDS = ("server", "client", "home", "not_home")


@dataclass(frozen=True)
class BuildRange:
    """Builds a condition covers: ``low <= build <= high`` (either bound open), a list of
    exact builds, or ``unknown`` (CurrentBuild unreadable). Written ``">=10240"``,
    ``"<9200"``, ``"9200-9600"``, ``[9200, 9600]``, ``unknown``."""

    low: int | None = None
    high: int | None = None
    exact: tuple[int, ...] = ()
    unknown: bool = False

    def covers(self, build: int | None) -> bool:
        if build is None:  # an unbounded range covers every build, unknown included
            return self.unknown or (self.low is None and self.high is None and not self.exact)
        if self.unknown:
            return False
        if self.exact:
            return build in self.exact
        return (self.low is None or build >= self.low) and (self.high is None or build <= self.high)


ANY_BUILD = BuildRange()


@dataclass(frozen=True)
class When:
    """Where an entry applies: a build range and an OS kind (server, client, home, not_home)."""

    builds: BuildRange = ANY_BUILD
    os: str | None = None
    #: EditionIDs (exact, case-insensitive: ``Professional``, ``Core``...); () = any edition.
    editions: tuple[str, ...] = ()

    def matches(self, os: OsInfo) -> bool:
        if not self.builds.covers(os.build):
            return False
        if self.editions and os.edition.lower() not in self.editions:
            return False
        if self.os is None:
            return True
        if self.os == "server":
            return is_server(os)
        if self.os == "client":
            return not is_server(os)
        if self.os == "home":
            return is_home_edition(os)
        return not is_home_edition(os)


@dataclass(frozen=True)
class State:
    """One word of a check's desired-state vocabulary (``required``, ``disabled``, ``any``).

    ``means`` is the effect it asks for (None: not enforced, anything goes); ``value`` the
    registry data remediation writes for it; ``weakens`` marks a state that lowers security
    (it needs ``--allow-insecure`` and an expiry)."""

    name: str
    expected: str
    means: str | None = None
    value: int | str | None = None
    weakens: bool = False


@dataclass(frozen=True)
class Reading:
    """What a value (or its absence) means: the effect, the words for the reason, the rule."""

    means: str
    text: str
    rule: str
    when: When = field(default_factory=When)
    #: Matched value (None in ``values``: any other value of the right kind).
    equals: int | str | None = None
    #: The OS default in a few words, for wrong-kind texts (``{default}``).
    default: str = ""


@dataclass(frozen=True)
class WrongKind:
    """A value of another kind (or a value ``values`` does not list): not honoured.
    ``means`` None: the OS default (the matching ``absent`` entry) applies."""

    text: str
    rule: str
    means: str | None = None


@dataclass(frozen=True)
class NotApplicable:
    when: When
    reason: str
    rule: str


@dataclass(frozen=True)
class Enforced:
    """From these builds the OS enforces ``means`` whatever the value."""

    when: When
    means: str
    rule: str
    reason: str  # policy asks for what the OS enforces
    refuse: str  # policy asks for something else: not applicable
    relaxed: str  # policy any


@dataclass(frozen=True)
class CmdletWrite:
    """From ``when`` builds, reach registry value ``value`` with ``cmdlet -parameter argument -Force``."""

    when: When
    cmdlet: str
    parameter: str
    value: int | str
    argument: bool | int | str


@dataclass(frozen=True)
class Guardrail:
    """A weakening state is planned only on ``builds``; elsewhere ``elsewhere`` (not
    applicable); without ``--allow-insecure`` ``blocked``."""

    builds: BuildRange
    elsewhere: str
    elsewhere_rule: str
    blocked: str
    rule: str


@dataclass(frozen=True)
class Check:
    """One registry value a baseline judges and manages."""

    id: str
    title: str
    path: str
    name: str
    kind: str
    states: dict[str, State]
    default_state: str
    meanings: dict[str, str]
    values: tuple[Reading, ...]
    absent: tuple[Reading, ...]
    wrong_kind: WrongKind
    facts: str  # anchor in docs/windows-facts.md
    urls: tuple[str, ...]
    prior_kinds: tuple[str, ...]
    not_applicable: tuple[NotApplicable, ...] = ()
    enforced: tuple[Enforced, ...] = ()
    unknown_build: str = ""
    absent_text: str = "{text}"
    also_report: tuple[tuple[str, str], ...] = ()
    cmdlets: tuple[CmdletWrite, ...] = ()
    guardrail: Guardrail | None = None
    reconnect: bool = True
    reboot: bool = False
    #: Set when psfleet must not write the value itself: what the admin does instead.
    manual: str = ""
    #: ``smb:`` checks: the property's type (bool or uint32), read and judged as a DWORD.
    smb_type: str = ""
    #: Line of the check in its file, for messages.
    line: int = 0

    @property
    def smb_getter(self) -> str | None:
        """The Get-Smb*Configuration cmdlet an ``smb:`` check reads (its ``path``), else None."""
        return self.path if self.path.startswith("Get-Smb") else None

    def state(self, name: str | None) -> State:
        return self.states.get(name or self.default_state) or self.states[self.default_state]


@dataclass(frozen=True)
class Baseline:
    """A named set of checks, with where it came from and the SHA-256 of its bytes."""

    name: str
    description: str
    checks: tuple[Check, ...]
    source: str
    digest: str
    shipped: bool = False

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.checks)
