"""Results as plain data: what every command produces and every renderer reads.

Workers build these; nothing here prints. ``to_dict`` gives the JSON shape documented in
the README (schemas ``psfleet.audit/1`` and ``psfleet.remediate/1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import EnumType, StrEnum
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar


class ErrorKind(StrEnum):
    """Why a host could not be assessed. Classified once, in :mod:`toolkit.transport`;
    ``not_attempted`` is the fan-out's: the host was never contacted because its credential
    had already failed to log on elsewhere (:mod:`toolkit.fanout.lockout`)."""

    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    TIMEOUT = "timeout"
    ACCESS_DENIED = "access_denied"
    PROTOCOL_ERROR = "protocol_error"
    ERROR = "error"
    NOT_ATTEMPTED = "not_attempted"


_Status = TypeVar("_Status")


class _WithErrorKinds(EnumType):
    """Metaclass of :class:`ErrorStatus`: each subclass gets every :class:`ErrorKind` as a
    member of the same name and value, after its own members (the order of a run's summary).
    A subclass that names a kind itself is refused when it is defined."""

    def __new__(metacls, cls: str, bases: tuple[type, ...], classdict: Any, **kwargs: Any) -> _WithErrorKinds:
        if any(isinstance(base, _WithErrorKinds) for base in bases):
            for kind in ErrorKind:
                classdict[kind.name] = kind.value  # the enum's namespace refuses a name twice
        return super().__new__(metacls, cls, bases, classdict, **kwargs)

    if TYPE_CHECKING:
        # The kinds are added at run time, so mypy cannot list them: ``HostStatus.TIMEOUT`` is
        # typed as a HostStatus (a misspelt kind fails only when that line runs).
        def __getattr__(cls: type[_Status], name: str) -> _Status: ...


class ErrorStatus(StrEnum, metaclass=_WithErrorKinds):
    """Base of per-host status enums: a subclass lists only its own statuses (``compliant``,
    ``drift``...) and carries every :class:`ErrorKind` as well, defined there once, so a host
    that failed is reported by its error's kind (:meth:`from_error`)."""

    @classmethod
    def from_error(cls, kind: ErrorKind) -> Self:
        return cls(kind.value)


class HostStatus(ErrorStatus):
    """An audited host: ``compliant``, ``drift``, or the kind of error that kept it from
    being assessed."""

    COMPLIANT = "compliant"
    DRIFT = "drift"

    @property
    def assessed(self) -> bool:
        return self in (HostStatus.COMPLIANT, HostStatus.DRIFT)


class CheckStatus(StrEnum):
    COMPLIANT = "compliant"
    DRIFT = "drift"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class HostError:
    """A classified failure. ``sent`` is True once any request may have reached the host
    (retries are only allowed when it is False)."""

    kind: ErrorKind
    message: str
    sent: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "message": self.message}


@dataclass(frozen=True)
class OsInfo:
    product: str
    build: int | None
    display: str
    edition: str = ""
    installation_type: str = ""
    ubr: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"product": self.product, "build": self.build, "display": self.display}


@dataclass(frozen=True)
class CheckResult:
    """One setting judged against the policy.

    ``rule`` names the Windows fact the verdict rests on: ``windows-facts#<anchor>``, the fact
    with that anchor in docs/windows-facts.md (ids: :mod:`toolkit.checks.rules`).
    """

    id: str
    expected: str
    actual: str
    status: CheckStatus
    reason: str
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "expected": self.expected,
            "actual": self.actual,
            "status": self.status.value,
            "reason": self.reason,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class HostResult:
    name: str
    address: str
    status: HostStatus
    os: OsInfo | None = None
    checks: tuple[CheckResult, ...] = ()
    error: HostError | None = None
    duration_s: float = 0.0
    groups: tuple[str, ...] = ()
    #: Extra sections (``probe``, ``events``) added by optional features, already plain data.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "address": self.address,
            "status": self.status.value,
            "os": self.os.to_dict() if self.os else None,
            "checks": [c.to_dict() for c in self.checks],
            "error": self.error.to_dict() if self.error else None,
            "duration_s": round(self.duration_s, 3),
        }
        out.update(self.extra)
        return out


def exit_code(*, drift: bool, unassessed: bool) -> int:
    """The documented exit-code scheme shared by every command: 0 ok; 4 drift (remediate:
    changes pending; run: error records); 8 a host not assessed (not reached, not run);
    12 both."""
    return (4 if drift else 0) | (8 if unassessed else 0)


def exit_code_for(statuses: list[HostStatus]) -> int:
    """:func:`exit_code` of an audit's host statuses."""
    return exit_code(
        drift=any(s is HostStatus.DRIFT for s in statuses),
        unassessed=any(not s.assessed for s in statuses),
    )


def utc_now() -> str:
    """Run timestamps (``started``/``finished``) as every schema writes them."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class AuditRun:
    """The aggregate of one audit: what every renderer reads."""

    hosts: tuple[HostResult, ...]
    started: str
    finished: str
    inventory: str
    version: str
    schema: str = "psfleet.audit/1"
    interrupted: bool = False
    #: The checks judged (the hosts' baselines), in display order: a report's columns even
    #: when no host could be assessed. Not in the JSON document (each check is, per host).
    check_ids: tuple[str, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(h.status.value for h in self.hosts)
        out = {s.value: counts.get(s.value, 0) for s in HostStatus}
        out["total"] = len(self.hosts)
        return out

    @property
    def exit_code(self) -> int:
        return exit_code_for([h.status for h in self.hosts])

    def to_dict(self) -> dict[str, Any]:
        return run_document(self)


class RunDocument(Protocol):
    """What every run aggregate (audit, run, probe) exposes for its JSON document."""

    @property
    def schema(self) -> str: ...
    @property
    def started(self) -> str: ...
    @property
    def finished(self) -> str: ...
    @property
    def inventory(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def interrupted(self) -> bool: ...
    @property
    def exit_code(self) -> int: ...
    @property
    def summary(self) -> Mapping[str, int]: ...
    @property
    def hosts(self) -> Sequence[Any]: ...


def run_document(run: RunDocument, **run_fields: Any) -> dict[str, Any]:
    """The shared JSON shape: ``schema``, ``run`` metadata (plus ``run_fields``), ``summary``,
    ``hosts``. One place, so every schema's header reads the same."""
    return {
        "schema": run.schema,
        "run": {
            "started": run.started,
            "finished": run.finished,
            "inventory": run.inventory,
            "psfleet_version": run.version,
            "interrupted": run.interrupted,
            "exit_code": run.exit_code,
            **run_fields,
        },
        "summary": dict(run.summary),
        "hosts": [h.to_dict() for h in run.hosts],
    }
