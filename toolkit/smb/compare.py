"""Does the server's wire behaviour match its registry? Pure.

The SMB2 NEGOTIATE response's SIGNING_REQUIRED flag is what the server enforces; LanmanServer
``RequireSecuritySignature`` (REG_DWORD 0/1, docs/windows-facts.md#signing-server-value) is what it is
configured to do. ``EnableSecuritySignature`` is SMB1-only and plays no part
(docs/windows-facts.md#signing-enable-smb1-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from toolkit.checks.rules import SIGNING_EITHER_SIDE
from toolkit.smb.probe import SmbProbeResult

ComparisonStatus = Literal["match", "mismatch", "unknown"]
RULE = SIGNING_EITHER_SIDE


class RegValueLike(Protocol):
    """A registry value and its kind, as :class:`toolkit.checks.facts.RegValue` has them;
    ``kind`` None means the value is absent."""

    @property
    def kind(self) -> str | None: ...

    @property
    def value(self) -> Any: ...


@dataclass(frozen=True)
class WireComparison:
    status: ComparisonStatus
    text: str
    #: The server's NEGOTIATE SIGNING_REQUIRED flag (None without wire data).
    wire_required: bool | None = None
    #: What the registry makes the server do (None when it cannot be told).
    registry_required: bool | None = None
    rule: str = RULE

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "text": self.text,
            "wire_required": self.wire_required,
            "registry_required": self.registry_required,
            "rule": self.rule,
        }


def _describe(kind: str | None, value: Any) -> str:
    if kind is None:
        return "absent"
    return f"{value} (DWord)" if kind == "DWord" else f"{value!r} ({kind})"


def registry_requires_signing(
    server_require_signature: RegValueLike | tuple[str | None, Any], *, default_required: bool | None
) -> tuple[bool | None, str]:
    """What LanmanServer RequireSecuritySignature makes the server do, and why
    (docs/windows-facts.md#signing-server-value, signing-defaults-legacy).

    A DWORD: non-zero means required (policy writes 1). Absent or not a DWORD (assumed not
    honoured, psfleet's assumption: docs/windows-facts.md#signing-nonbinary-values): the OS default,
    ``default_required``, which depends on role and build (docs/windows-facts.md#signing-defaults-24h2)
    and is None when the caller does not know it.
    """
    if isinstance(server_require_signature, tuple):
        kind, value = server_require_signature
    else:
        kind, value = server_require_signature.kind, server_require_signature.value
    described = f"LanmanServer RequireSecuritySignature = {_describe(kind, value)}"
    if kind == "DWord" and isinstance(value, int) and not isinstance(value, bool):
        return value != 0, described
    why = "value absent" if kind is None else "not a DWORD, so not honoured"
    if default_required is None:
        return None, f"{described}: {why}, and the OS default is not known here"
    default = "required" if default_required else "not required"
    return default_required, f"{described}: {why}, so the OS default applies ({default})"


def compare_wire_with_registry(
    probe: SmbProbeResult,
    server_require_signature: RegValueLike | tuple[str | None, Any] | None,
    *,
    default_required: bool | None = None,
) -> WireComparison:
    """The server's wire signing-required flag against LanmanServer RequireSecuritySignature.

    ``server_require_signature`` None means the registry was not read. ``default_required``
    says what an absent value means on this host (True on domain controllers and Windows 11
    24H2 Pro/Enterprise/Education, False elsewhere: docs/windows-facts.md#signing-defaults-24h2); leave it
    None when unknown.
    ``unknown`` when either side cannot be told.
    """
    if not probe.ok or probe.signing_required is None:
        why = probe.error.message if probe.error else "no NEGOTIATE answer"
        return WireComparison("unknown", f"no wire data to compare: {why}")
    wire_required = probe.signing_required
    wire = f"the server's NEGOTIATE says signing {'required' if wire_required else 'not required'}"
    disagreeing = [
        d.dialect for d in probe.per_dialect if d.supported and d.signing_required is not wire_required
    ]
    if disagreeing:
        wire += f" (but not on {', '.join(disagreeing)})"
    if server_require_signature is None:
        return WireComparison("unknown", f"{wire}; the registry was not read", wire_required)

    registry_required, described = registry_requires_signing(
        server_require_signature, default_required=default_required
    )
    if registry_required is None:
        return WireComparison("unknown", f"{wire}; {described}", wire_required)
    if registry_required == wire_required:
        return WireComparison("match", f"{wire}, as {described} makes it", wire_required, registry_required)
    expected = "required" if registry_required else "not required"
    text = (
        f"{wire}, but {described} means {expected}: the probe may have reached another server "
        "(address, load balancer, device in the path), or the running server does not use this "
        "registry value"
    )
    return WireComparison("mismatch", text, wire_required, registry_required)
