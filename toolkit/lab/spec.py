"""Lab spec: which hosts the emulated fleet has, what they run, and how they misbehave.

``load_spec(path)`` reads YAML (via :mod:`toolkit.yamlsrc`, so every error names
``file:line: field``); ``spec_from_args(hosts, profile)`` builds the spec behind
``--hosts N --profile P|mixed``. Both return frozen :class:`LabSpec` data;
:func:`build_host` turns one :class:`HostSpec` into a :class:`~toolkit.lab.host.SimHost`.

Schema (every key optional except ``hosts[].name``)::

    users: [{name: LAB\\admin, password: "P@ss", admin: true}]   # remoting: false = may not
                                                             # use the endpoint (Access is denied)
    defaults: {profile: server2019, latency_ms: 0, auth: negotiate, pool_open_ms: 0, scheme: http}
    hosts:
      - name: web              # count: 3 expands to web-01..web-03
        profile: win81         # or mixed: cycles PROFILE_NAMES over count
        count: 3
        registry:
          'HKLM:\\SYSTEM\\...\\Parameters':
            RequireSecureNegotiate: {kind: DWord, value: 0}
            EnableSecuritySignature: null      # null deletes the value
        events: [{id: 31012, log: Microsoft-Windows-SMBClient/Connectivity, count: 3, days_ago: 1}]
        fault: {kind: flaky, count: 2}         # or a bare kind: refuse
        auth: negotiate | ntlm | basic | kerberos | credssp
        scheme: http | https
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit import yamlsrc
from toolkit.errors import LabSpecError
from toolkit.lab.cmdlets_events import LEVELS, EventSpec
from toolkit.lab.host import LabUser, SimHost
from toolkit.lab.profiles import MIXED, PROFILE_NAMES, mixed
from toolkit.lab.registry import ValueKind, check_data, parse_path

AUTH_KINDS = ("negotiate", "ntlm", "basic", "kerberos", "credssp")
SCHEMES = ("http", "https")
FAULT_KINDS = (
    "refuse",
    "reset",
    "hang",
    "slow",
    "http500",
    "auth_fail",
    "flaky",
    "non_admin",
    # HTTP-level misbehaviour for the transports (toolkit/lab/server.py): a 307 to plain HTTP,
    # an endless chunked body (``ms`` between chunks), Connection: close after every answer,
    # a 401 on a connection's first encrypted message, and an encrypted answer with a MIME
    # boundary other than Windows' own (legal; only the lean client refuses it).
    "redirect",
    "endless_body",
    "conn_close",
    "reauth",
    "odd_boundary",
)
MAX_HOSTS_PER_ENTRY = 10_000
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")

RegistrySetting = tuple[str, Any] | None  # (kind, data) or None = delete the value


@dataclass(frozen=True)
class FaultSpec:
    """How a host misbehaves at the transport level (the network glue acts on it).

    ``slow`` uses ``ms``; ``flaky`` fails the first ``count`` connections.
    """

    kind: str
    ms: int = 0
    count: int = 0


@dataclass(frozen=True)
class HostSpec:
    name: str
    profile: str
    # A plain dict (picklable for lab worker processes); left out of the hash.
    registry: Mapping[str, Mapping[str, RegistrySetting]] = field(hash=False)
    events: tuple[EventSpec, ...]
    fault: FaultSpec | None
    auth: str
    scheme: str
    latency_ms: int
    pool_open_ms: int
    #: Client addresses the host accepts connections from (empty: any), as a firewall allows
    #: only a site's jump host; others are reset before any byte is read.
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabSpec:
    users: tuple[LabUser, ...]
    hosts: tuple[HostSpec, ...]
    latency_ms: int = 0
    pool_open_ms: int = 0

    @property
    def admin(self) -> LabUser:
        """The first admin user (the one tests connect as by default)."""
        return next(u for u in self.users if u.admin)


def default_users(password: str | None = None) -> tuple[LabUser, ...]:
    """``admin`` (administrator) and ``reader`` (non-admin) sharing ``password`` (random if None)."""
    secret = password if password is not None else secrets.token_urlsafe(12)
    return (LabUser("admin", secret, True), LabUser("reader", secret, False))


def spec_from_args(
    hosts: int,
    profile: str,
    *,
    password: str | None = None,
    auth: str = "negotiate",
    scheme: str = "http",
    latency_ms: int = 0,
    pool_open_ms: int = 0,
    prefix: str = "lab",
) -> LabSpec:
    """The spec behind ``--hosts N --profile P|mixed``: hosts ``lab-01`` .. ``lab-NN``."""
    where = "--hosts/--profile"
    if hosts < 1 or hosts > MAX_HOSTS_PER_ENTRY:
        raise LabSpecError(
            f"must be between 1 and {MAX_HOSTS_PER_ENTRY}, got {hosts}", file=where, field="hosts"
        )
    if profile.lower() != MIXED and profile.lower() not in PROFILE_NAMES:
        raise LabSpecError(_unknown_profile(profile), file=where, field="profile")
    if auth not in AUTH_KINDS:
        raise LabSpecError(
            f"unknown auth {auth!r}; expected one of {', '.join(AUTH_KINDS)}", file=where, field="auth"
        )
    if scheme not in SCHEMES:
        raise LabSpecError(f"unknown scheme {scheme!r}; expected http or https", file=where, field="scheme")
    names = _expand_names(prefix, hosts, always_number=True)
    profiles = _profiles_for(profile.lower(), hosts)
    specs = tuple(
        HostSpec(name, prof, {}, (), None, auth, scheme, latency_ms, pool_open_ms)
        for name, prof in zip(names, profiles, strict=True)
    )
    return LabSpec(default_users(password), specs, latency_ms, pool_open_ms)


def load_spec(path: str | Path) -> LabSpec:
    """Read and validate a lab spec YAML file; LabSpecError names file:line: field."""
    return _Loader(str(path)).spec(yamlsrc.load(path))


def loads_spec(text: str, file: str = "<lab spec>") -> LabSpec:
    return _Loader(file).spec(yamlsrc.loads(text, file))


def build_host(spec: HostSpec, *, state_dir: str | Path | None = None) -> SimHost:
    """A SimHost for ``spec`` (registry kept in ``state_dir/<name>.json`` when given)."""
    return SimHost(
        spec.name, spec.profile, registry_overrides=spec.registry, events=spec.events, state_dir=state_dir
    )


def _unknown_profile(name: str) -> str:
    return f"unknown profile {name!r}; expected one of {', '.join(PROFILE_NAMES)} or mixed"


def _expand_names(base: str, count: int, *, always_number: bool = False) -> list[str]:
    if count == 1 and not always_number:
        return [base]
    width = max(2, len(str(count)))
    return [f"{base}-{index:0{width}d}" for index in range(1, count + 1)]


def _profiles_for(profile: str, count: int) -> list[str]:
    if profile == MIXED:
        return [p.name for p in mixed(count)]
    return [profile] * count


class _Loader:
    """Validates the parsed YAML; each check knows the line of what it looks at."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, message: str, node: Any, key: Any, field: str) -> LabSpecError:
        line = node.line_of(key) if hasattr(node, "line_of") else getattr(node, "line", None)
        return LabSpecError(message, file=self.file, line=line, field=field)

    def mapping(self, node: Any, parent: Any, key: Any, field: str, allowed: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            raise self.fail(f"must be a mapping, got {_type_of(node)}", parent, key, field)
        for name in node:
            if name not in allowed:
                raise self.fail(
                    f"unknown key {name!r}; expected one of {', '.join(allowed)}",
                    node,
                    name,
                    _join(field, name),
                )
        return node

    def integer(self, node: Any, key: str, field: str, *, low: int = 0, high: int | None = None) -> int:
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"must be an integer, got {_type_of(value)}", node, key, field)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise self.fail(f"must be {bound}, got {value}", node, key, field)
        return value

    def number(self, node: Any, key: str, field: str) -> float:
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(f"must be a number >= 0, got {value!r}", node, key, field)
        return float(value)

    def string(self, node: Any, key: str, field: str, choices: tuple[str, ...] = ()) -> str:
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"must be a non-empty string, got {_type_of(value)}", node, key, field)
        if choices and value not in choices:
            raise self.fail(
                f"unknown value {value!r}; expected one of {', '.join(choices)}", node, key, field
            )
        return value

    def addresses(self, node: Any, key: str, field: str) -> tuple[str, ...]:
        """One IP address or a list of them."""
        import ipaddress

        value = node[key]
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for item in items:
            try:
                out.append(str(ipaddress.ip_address(str(item).strip())))
            except ValueError:
                raise self.fail(f"{item!r} is not an IP address", node, key, field) from None
        return tuple(out)

    # -- sections --------------------------------------------------------------------------
    def spec(self, root: Any) -> LabSpec:
        if root is None:
            raise LabSpecError("the lab spec is empty", file=self.file, line=1)
        if not isinstance(root, dict):
            raise LabSpecError(f"must be a mapping, got {_type_of(root)}", file=self.file, line=1)
        self.mapping(root, root, None, "", ("users", "defaults", "hosts"))
        users = self.users(root) if "users" in root else default_users()
        defaults = self.defaults(root)
        if "hosts" not in root:
            raise LabSpecError("is required", file=self.file, line=1, field="hosts")
        hosts_node = root["hosts"]
        if not isinstance(hosts_node, list) or not hosts_node:
            raise self.fail("must be a non-empty list", root, "hosts", "hosts")
        hosts: list[HostSpec] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(hosts_node):
            field = f"hosts[{index}]"
            for host in self.host(item, hosts_node, index, field, defaults):
                if host.name.lower() in seen:
                    raise self.fail(
                        f"duplicate host name {host.name!r} (also from hosts[{seen[host.name.lower()]}])",
                        item,
                        "name",
                        f"{field}.name",
                    )
                seen[host.name.lower()] = index
                hosts.append(host)
        return LabSpec(users, tuple(hosts), int(defaults["latency_ms"]), int(defaults["pool_open_ms"]))

    def users(self, root: Any) -> tuple[LabUser, ...]:
        node = root["users"]
        if not isinstance(node, list) or not node:
            raise self.fail("must be a non-empty list", root, "users", "users")
        users: list[LabUser] = []
        for index, item in enumerate(node):
            field = f"users[{index}]"
            self.mapping(item, node, index, field, ("name", "password", "admin", "remoting"))
            for required in ("name", "password"):
                if required not in item:
                    raise self.fail("is required", node, index, f"{field}.{required}")
            name = self.string(item, "name", f"{field}.name")
            password = item["password"]
            if not isinstance(password, str) or not password:
                raise self.fail("must be a non-empty string", item, "password", f"{field}.password")
            admin = item.get("admin", False)
            if not isinstance(admin, bool):
                raise self.fail(f"must be true or false, got {admin!r}", item, "admin", f"{field}.admin")
            remoting = item.get("remoting", True)
            if not isinstance(remoting, bool):
                raise self.fail(
                    f"must be true or false, got {remoting!r}", item, "remoting", f"{field}.remoting"
                )
            if any(u.name.lower() == name.lower() for u in users):
                raise self.fail(f"duplicate user {name!r}", item, "name", f"{field}.name")
            users.append(LabUser(name, password, admin, remoting))
        if not any(u.admin for u in users):
            raise self.fail("needs at least one user with admin: true", root, "users", "users")
        return tuple(users)

    def defaults(self, root: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "profile": "server2019",
            "latency_ms": 0,
            "auth": "negotiate",
            "pool_open_ms": 0,
            "scheme": "http",
        }
        if "defaults" not in root:
            return result
        node = self.mapping(root["defaults"], root, "defaults", "defaults", tuple(result))
        self.common(node, "defaults", result)
        return result

    def common(self, node: Any, field: str, into: dict[str, Any]) -> None:
        """Keys shared by ``defaults`` and a host entry."""
        if "profile" in node:
            value = self.string(node, "profile", f"{field}.profile")
            if value.lower() != MIXED and value.lower() not in PROFILE_NAMES:
                raise self.fail(_unknown_profile(value), node, "profile", f"{field}.profile")
            into["profile"] = value.lower()
        for key in ("latency_ms", "pool_open_ms"):
            if key in node:
                into[key] = self.integer(node, key, f"{field}.{key}", high=600_000)
        if "auth" in node:
            into["auth"] = self.string(node, "auth", f"{field}.auth", AUTH_KINDS)
        if "scheme" in node:
            into["scheme"] = self.string(node, "scheme", f"{field}.scheme", SCHEMES)

    def host(
        self, item: Any, parent: Any, index: int, field: str, defaults: dict[str, Any]
    ) -> list[HostSpec]:
        allowed = ("name", "profile", "count", "registry", "events", "fault", "auth", "scheme", "latency_ms")
        self.mapping(item, parent, index, field, (*allowed, "pool_open_ms", "allow_from"))
        if "name" not in item:
            raise self.fail("is required", parent, index, f"{field}.name")
        name = self.string(item, "name", f"{field}.name")
        if not _HOST_NAME.match(name):
            raise self.fail(
                f"{name!r} is not a valid host name (letters, digits and '-', up to 63)",
                item,
                "name",
                f"{field}.name",
            )
        settings = dict(defaults)
        self.common(item, field, settings)
        count = (
            self.integer(item, "count", f"{field}.count", low=1, high=MAX_HOSTS_PER_ENTRY)
            if "count" in item
            else 1
        )
        registry = self.registry(item, f"{field}.registry") if "registry" in item else {}
        events = self.events(item, f"{field}.events") if "events" in item else ()
        fault = self.fault(item, f"{field}.fault") if "fault" in item else None
        allow_from = self.addresses(item, "allow_from", f"{field}.allow_from") if "allow_from" in item else ()
        names = _expand_names(name, count)
        profiles = _profiles_for(settings["profile"], count)
        return [
            HostSpec(
                host_name,
                profile,
                registry,
                events,
                fault,
                settings["auth"],
                settings["scheme"],
                settings["latency_ms"],
                settings["pool_open_ms"],
                allow_from,
            )
            for host_name, profile in zip(names, profiles, strict=True)
        ]

    def registry(self, item: Any, field: str) -> Mapping[str, Mapping[str, RegistrySetting]]:
        node = item["registry"]
        if not isinstance(node, dict):
            raise self.fail(f"must be a mapping of key paths, got {_type_of(node)}", item, "registry", field)
        result: dict[str, Mapping[str, RegistrySetting]] = {}
        for path, values in node.items():
            key_field = f"{field}['{path}']"
            reg = parse_path(str(path))
            if reg is None or not reg.parts:
                raise self.fail(
                    f"'{path}' is not a registry key path like 'HKLM:\\SOFTWARE\\X'", node, path, key_field
                )
            if not isinstance(values, dict):
                raise self.fail(
                    f"must be a mapping of value names, got {_type_of(values)}", node, path, key_field
                )
            settings: dict[str, RegistrySetting] = {}
            for value_name in values:
                settings[str(value_name)] = self.registry_value(
                    values, value_name, f"{key_field}.{value_name}"
                )
            result[reg.provider_path] = settings
        return result

    def registry_value(self, values: Any, name: Any, field: str) -> RegistrySetting:
        setting = values[name]
        if setting is None:
            return None
        self.mapping(setting, values, name, field, ("kind", "value"))
        for required in ("kind", "value"):
            if required not in setting:
                raise self.fail("is required", values, name, f"{field}.{required}")
        kind_text = setting["kind"]
        try:
            kind = ValueKind.parse(str(kind_text))
        except ValueError:
            kinds = ", ".join(k.value for k in ValueKind)
            raise self.fail(
                f"unknown kind {kind_text!r}; expected one of {kinds}", setting, "kind", f"{field}.kind"
            ) from None
        data = setting["value"]
        if kind is ValueKind.Binary:
            data = self.binary(setting, f"{field}.value")
        try:
            stored = check_data(kind, data)
        except ValueError as exc:
            raise self.fail(str(exc), setting, "value", f"{field}.value") from None
        return (kind.value, stored)

    def binary(self, setting: Any, field: str) -> bytes:
        data = setting["value"]
        if isinstance(data, str):
            try:
                return bytes.fromhex(data.replace(" ", "").replace(",", ""))
            except ValueError:
                raise self.fail(
                    "Binary value must be hex text or a list of bytes", setting, "value", field
                ) from None
        if isinstance(data, list) and all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in data
        ):
            return bytes(data)
        raise self.fail("Binary value must be hex text or a list of bytes", setting, "value", field)

    def events(self, item: Any, field: str) -> tuple[EventSpec, ...]:
        node = item["events"]
        if not isinstance(node, list):
            raise self.fail(f"must be a list, got {_type_of(node)}", item, "events", field)
        events: list[EventSpec] = []
        for index, entry in enumerate(node):
            entry_field = f"{field}[{index}]"
            self.mapping(
                entry, node, index, entry_field, ("id", "log", "count", "days_ago", "message", "level")
            )
            for required in ("id", "log"):
                if required not in entry:
                    raise self.fail("is required", node, index, f"{entry_field}.{required}")
            event_id = self.integer(entry, "id", f"{entry_field}.id", low=1, high=65535)
            log = self.string(entry, "log", f"{entry_field}.log")
            count = (
                self.integer(entry, "count", f"{entry_field}.count", low=1, high=100_000)
                if "count" in entry
                else 1
            )
            days_ago = (
                self.number(entry, "days_ago", f"{entry_field}.days_ago") if "days_ago" in entry else 0.0
            )
            message = None
            if "message" in entry:
                if not isinstance(entry["message"], str):
                    raise self.fail("must be a string", entry, "message", f"{entry_field}.message")
                message = entry["message"]
            level = (
                self.string(entry, "level", f"{entry_field}.level", tuple(LEVELS))
                if "level" in entry
                else None
            )
            events.append(EventSpec(event_id, log, count, days_ago, message, level))
        return tuple(events)

    def fault(self, item: Any, field: str) -> FaultSpec:
        node = item["fault"]
        if isinstance(node, str):
            if node not in FAULT_KINDS:
                raise self.fail(_unknown_fault(node), item, "fault", f"{field}.kind")
            if node in ("slow", "flaky"):
                need = "ms" if node == "slow" else "count"
                raise self.fail(
                    f"fault {node!r} needs {need}: use {{kind: {node}, {need}: N}}", item, "fault", field
                )
            return FaultSpec(node)
        self.mapping(node, item, "fault", field, ("kind", "ms", "count"))
        if "kind" not in node:
            raise self.fail("is required", item, "fault", f"{field}.kind")
        kind = node["kind"]
        if not isinstance(kind, str) or kind not in FAULT_KINDS:
            raise self.fail(_unknown_fault(kind), node, "kind", f"{field}.kind")
        ms = self.integer(node, "ms", f"{field}.ms", high=3_600_000) if "ms" in node else 0
        count = self.integer(node, "count", f"{field}.count", high=1_000_000) if "count" in node else 0
        if kind == "slow" and ms <= 0:
            raise self.fail(
                "fault 'slow' needs ms > 0", node, "ms" if "ms" in node else "kind", f"{field}.ms"
            )
        if kind == "flaky" and count <= 0:
            raise self.fail(
                "fault 'flaky' needs count > 0",
                node,
                "count" if "count" in node else "kind",
                f"{field}.count",
            )
        return FaultSpec(kind, ms, count)


def _unknown_fault(kind: Any) -> str:
    return f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}"


def _join(field: str, key: Any) -> str:
    return f"{field}.{key}" if field else str(key)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    for cls, text in (
        (bool, "a boolean"),
        (dict, "a mapping"),
        (list, "a list"),
        (str, "a string"),
        (int, "an integer"),
    ):
        if isinstance(value, cls):
            return text
    return type(value).__name__
