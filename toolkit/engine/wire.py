"""What travels through the broker: hosts (settings and credential *sources*) and results,
as JSON-ready dicts. A password never does: :func:`host_to_wire` refuses a host whose only
password is in the inventory itself (an Ansible ``ansible_password``) or must be typed at a
prompt, and the worker resolves every source on its own machine (:func:`worker_credential`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from toolkit.errors import CredentialError
from toolkit.inventory.credentials import Credential, resolve_credentials
from toolkit.inventory.model import Host, PasswordSource, Policy, SourceRef, Transport
from toolkit.results import CheckResult, CheckStatus, ErrorKind, HostError, HostResult, HostStatus, OsInfo

_TRANSPORT_FIELDS = tuple(f.name for f in fields(Transport))
_POLICY_FIELDS = tuple(f.name for f in fields(Policy))
#: Variables holding the broker's credentials: never sent to a host as a password, whatever a
#: message on the broker asks.
BROKER_SECRETS = frozenset({"PSFLEET_BROKER", "REDISCLI_AUTH"})
#: HostResult.to_dict's own keys; any other key is an ``extra`` section.
_RESULT_KEYS = frozenset({"name", "address", "status", "os", "checks", "error", "duration_s"})


class NotPortable(Exception):
    """A host that cannot be sent to a site worker; the message says why and what to do."""


def host_to_wire(host: Host) -> dict[str, Any]:
    """The host as JSON-ready data, its password source by name only."""
    kind = host.password.kind
    if kind == "inventory":
        raise NotPortable(
            "its password is in the inventory (ansible_password) and passwords never go through "
            "the broker; give it password_env or password_keyring, resolved on the site's worker"
        )
    if kind == "prompt":
        raise NotPortable(
            "password_prompt cannot be answered on a site worker; use password_env or password_keyring"
        )
    return {
        "name": host.name,
        "address": host.address,
        "transport": asdict(host.transport),
        "policy": asdict(host.policy),
        "username": host.username,
        "password": {"kind": kind, "ref": host.password.ref},
        "groups": list(host.groups),
        "smb_port": host.smb_port,
        "source": {"file": host.source.file, "line": host.source.line} if host.source else None,
        "site": host.site,
        "baselines": list(host.baselines),
    }


def host_from_wire(data: Mapping[str, Any]) -> Host:
    transport = data.get("transport") or {}
    policy = data.get("policy") or {}
    password = data.get("password") or {}
    source = data.get("source")
    kind = str(password.get("kind", "none"))
    if kind not in ("env", "keyring", "file", "none"):
        raise ValueError(f"password source {kind!r} is not accepted from the broker")
    if kind == "env" and str(password.get("ref", "")) in BROKER_SECRETS:
        raise ValueError("the broker's own credentials are never a host's password source")
    return Host(
        name=str(data["name"]),
        address=str(data["address"]),
        transport=Transport(**{k: transport[k] for k in _TRANSPORT_FIELDS if k in transport}),
        policy=Policy(**{k: policy[k] for k in _POLICY_FIELDS if k in policy}),
        username=data.get("username"),
        password=PasswordSource(kind, str(password.get("ref", ""))),  # type: ignore[arg-type]
        groups=tuple(data.get("groups") or ()),
        smb_port=int(data.get("smb_port", 445)),
        source=SourceRef(str(source["file"]), source.get("line")) if source else None,
        site=data.get("site"),
        baselines=tuple(str(b) for b in data.get("baselines") or ()),
    )


def worker_credential(host: Host, site: str, env: Mapping[str, str]) -> Credential | HostError:
    """The host's credential from its source on this worker, or the error to report (no
    password is in the message, only the source's name)."""
    try:
        return resolve_credentials([host], interactive=False, env=env)[host.name]
    except CredentialError as exc:
        return HostError(ErrorKind.AUTH_FAILED, f"site {site} worker: {exc.message}", sent=False)


def result_to_wire(result: HostResult) -> dict[str, Any]:
    out = result.to_dict()
    out["groups"] = list(result.groups)
    out["duration_s"] = result.duration_s
    if result.os is not None:
        out["os"] = asdict(result.os)
    return out


def result_from_wire(data: Mapping[str, Any]) -> HostResult:
    """The inverse of :func:`result_to_wire`: ``to_dict`` of the result is the worker's."""
    os_info = data.get("os")
    error = data.get("error")
    extra = {k: v for k, v in data.items() if k not in _RESULT_KEYS and k != "groups"}
    return HostResult(
        name=str(data["name"]),
        address=str(data["address"]),
        status=HostStatus(data["status"]),
        os=OsInfo(**os_info) if os_info else None,
        checks=tuple(
            CheckResult(
                id=c["id"],
                expected=c["expected"],
                actual=c["actual"],
                status=CheckStatus(c["status"]),
                reason=c["reason"],
                rule=c["rule"],
            )
            for c in data.get("checks") or ()
        ),
        error=HostError(ErrorKind(error["kind"]), str(error["message"])) if error else None,
        duration_s=float(data.get("duration_s") or 0.0),
        groups=tuple(data.get("groups") or ()),
        extra=extra,
    )
