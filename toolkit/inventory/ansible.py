"""Ansible inventories (INI and YAML) read as psfleet inventories.

Only the inventory file itself is read: ``group_vars/`` and ``host_vars/`` folders, plugins,
Jinja templates and vaults are not. Variables are mapped to native settings (see
``VARIABLES``); ``psfleet_<key>`` gives any native key (``psfleet_password_env=VAR``,
``psfleet_smb_port=4455``) and ``psfleet_policy_<key>`` or ``psfleet_<key>`` a policy key
(``psfleet_client_signing=any``). Other variables are kept in ``Host.vars``.

Precedence follows Ansible: group ``all``, then the host's groups by depth (parents before
children), at equal depth by ``ansible_group_priority`` and then by group name (so ``b`` wins
over ``a``), then the host's own variables. At one level, ``ansible_psrp_*`` wins over
``ansible_winrm_*``, which wins over ``ansible_host``/``ansible_port``/``ansible_user``. As in
Ansible, the scheme defaults to http on port 5985 and https otherwise.

Hosts whose ``ansible_connection`` is neither ``winrm`` nor ``psrp`` are skipped (returned with
the reason), not errors: mixed inventories are common. Passwords are refused, except a
``{{ lookup('env', 'VAR') }}`` lookup, which becomes ``password_env: VAR``.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.inventory.model import AUTH_KINDS, Host, Inventory, SourceRef
from toolkit.inventory.settings import (
    POLICY_KEYS,
    SETTING_KEYS,
    BadValue,
    Layer,
    Problems,
    Setting,
    as_bool,
    as_name,
    build_host,
    creates_cycle,
    describe,
    group_depths,
    merge,
    plain,
    read_policy_value,
    read_setting,
    suggest,
    with_ancestors,
)
from toolkit.yamlsrc import SrcDict

#: Ansible variable -> native key, weakest first within one level (see module docstring).
VARIABLES: dict[str, str] = {
    "ansible_host": "address",
    "ansible_port": "port",
    "ansible_user": "username",
    "ansible_winrm_host": "address",
    "ansible_winrm_port": "port",
    "ansible_winrm_user": "username",
    "ansible_winrm_scheme": "scheme",
    "ansible_winrm_transport": "auth",
    "ansible_winrm_server_cert_validation": "cert_validation",
    "ansible_winrm_ca_trust_path": "ca_file",
    "ansible_winrm_connection_timeout": "connection_timeout",
    "ansible_winrm_operation_timeout_sec": "operation_timeout",
    "ansible_winrm_read_timeout_sec": "read_timeout",
    "ansible_winrm_path": "path",
    "ansible_winrm_service": "negotiate_service",
    "ansible_winrm_kerberos_delegation": "negotiate_delegate",
    "ansible_winrm_kerberos_hostname_override": "negotiate_hostname_override",
    "ansible_winrm_cert_pem": "certificate_pem",
    "ansible_winrm_cert_key_pem": "certificate_key_pem",
    "ansible_psrp_host": "address",
    "ansible_psrp_port": "port",
    "ansible_psrp_user": "username",
    "ansible_psrp_protocol": "scheme",
    "ansible_psrp_auth": "auth",
    "ansible_psrp_cert_validation": "cert_validation",
    "ansible_psrp_cert_trust_path": "ca_file",
    "ansible_psrp_ca_cert": "ca_file",
    "ansible_psrp_connection_timeout": "connection_timeout",
    "ansible_psrp_operation_timeout": "operation_timeout",
    "ansible_psrp_read_timeout": "read_timeout",
    "ansible_psrp_path": "path",
    "ansible_psrp_negotiate_service": "negotiate_service",
    "ansible_psrp_negotiate_delegate": "negotiate_delegate",
    "ansible_psrp_negotiate_hostname_override": "negotiate_hostname_override",
    "ansible_psrp_certificate_pem": "certificate_pem",
    "ansible_psrp_certificate_key_pem": "certificate_key_pem",
}
PASSWORD_VARIABLES: tuple[str, ...] = (
    "ansible_password",
    "ansible_pass",
    "ansible_ssh_pass",
    "ansible_winrm_pass",
    "ansible_winrm_password",
    "ansible_psrp_pass",
    "ansible_psrp_password",
)
CONNECTIONS: tuple[str, ...] = ("winrm", "psrp")
#: pywinrm transport names -> psfleet auth ("ssl" and "plaintext" are Basic).
_WINRM_TRANSPORTS = {**{k: k for k in AUTH_KINDS}, "ssl": "basic", "plaintext": "basic"}
_ENV_LOOKUP = re.compile(
    r"""\{\{\s*lookup\(\s*['"](?:ansible\.builtin\.)?env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}"""
)
PASSWORD_ADVICE = (
    "psfleet does not read passwords from inventories; use psfleet_password_env=VARIABLE, "
    "psfleet_password_keyring=SERVICE, psfleet_password_prompt=true or "
    "{{ lookup('env', 'VARIABLE') }}"
)
_MAX_RANGE = 10_000


@dataclass(frozen=True)
class SkippedHost:
    """A host left out of the inventory on purpose (not an error)."""

    name: str
    reason: str
    source: SourceRef


@dataclass
class _Var:
    value: object
    line: int | None
    field: str


@dataclass
class _Group:
    name: str
    line: int | None
    vars: dict[str, _Var] = field(default_factory=dict)
    children: list[tuple[str, int | None, str]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass
class _Host:
    name: str
    line: int | None
    vars: dict[str, _Var] = field(default_factory=dict)


class _Collected:
    """Groups and hosts as Ansible sees them, before any mapping."""

    def __init__(self, file: str, problems: Problems) -> None:
        self.file = file
        self.problems = problems
        self.groups: dict[str, _Group] = {"all": _Group("all", None)}
        self.hosts: dict[str, _Host] = {}

    def group(self, name: str, line: int | None) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name, line)
        return self.groups[name]

    def host(self, name: str, line: int | None, group: str) -> _Host:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = _Host(name, line)
        members = self.group(group, line).hosts
        if name not in members:
            members.append(name)
        return host


# --- host patterns ----------------------------------------------------------------------------


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%")[0])
    except ValueError:
        return False
    return True


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """``web[01:03].lab:5986`` -> ``(["web01.lab", "web02.lab", "web03.lab"], 5986)``.

    IPv6 literals stay whole (``[::1]:5986`` -> ``(["::1"], 5986)``). Raises BadValue.
    """
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", pattern)
    if bracketed and _is_ipv6(bracketed.group(1)):
        port = int(bracketed.group(2)) if bracketed.group(2) else None
        return [bracketed.group(1)], port
    if _is_ipv6(pattern):
        return [pattern], None
    port = None
    with_port = re.fullmatch(r"(.+):(\d+)", pattern)
    if with_port:
        pattern, port = with_port.group(1), int(with_port.group(2))
    names = list(_expand_ranges(pattern))
    if len(names) > _MAX_RANGE:
        raise BadValue(f"host range {pattern!r} expands to more than {_MAX_RANGE} hosts")
    return names, port


def _expand_ranges(pattern: str) -> Iterator[str]:
    match = re.search(r"\[([^\]]*)\]", pattern)
    if match is None:
        if "[" in pattern or "]" in pattern:
            raise BadValue(f"unbalanced brackets in host pattern {pattern!r}")
        yield pattern
        return
    parts = match.group(1).split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise BadValue(f"bad range [{match.group(1)}]; expected [start:end] or [start:end:step]")
    start, end = parts[0], parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not step_text.isdigit() or int(step_text) == 0:
        raise BadValue(f"bad range step {step_text!r}; expected a positive integer")
    step = int(step_text)
    if start.isdigit() and end.isdigit():
        if int(start) > int(end) or (int(end) - int(start)) // step >= _MAX_RANGE:
            raise BadValue(f"bad range [{match.group(1)}]: start after end, or too many hosts")
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        values = [str(i).zfill(width) for i in range(int(start), int(end) + 1, step)]
    elif len(start) == len(end) == 1 and start.isalpha() and end.isalpha() and start <= end:
        values = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    else:
        raise BadValue(f"bad range [{match.group(1)}]; use numbers or single letters, start before end")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    for value in values:
        yield from _expand_ranges(head + value + tail)


# --- INI --------------------------------------------------------------------------------------


def read_ini(text: str, collected: _Collected) -> None:
    """Fill ``collected`` from an INI inventory; errors go to its problems."""
    problems = collected.problems
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        uncommented = re.sub(r"\s[#;].*$", "", line).rstrip()
        if line.startswith("[") and (uncommented.endswith("]") or "]" not in uncommented):
            header = re.fullmatch(r"\[([^\]\s]+)\]\s*(?:[#;].*)?", line)
            if header is None:
                problems.add(
                    "malformed section header; expected [group], [group:vars] or [group:children]", number
                )
                group, kind = "", "broken"
                continue
            group, _, kind = header.group(1).partition(":")
            if kind not in ("", "vars", "children") or not group:
                problems.add(f"unknown section type {header.group(1)!r}; expected :vars or :children", number)
                kind = "broken"
                continue
            kind = kind or "hosts"
            collected.group(group, number)
        elif kind == "hosts":
            _ini_host_line(line, number, group, collected)
        elif kind == "vars":
            key, equals, value = line.partition("=")
            key = key.strip()
            if not equals or not key or any(ch.isspace() for ch in key):
                problems.add("expected key=value in a :vars section", number, f"{group}:vars")
                continue
            value = _ini_value(value)
            collected.group(group, number).vars[key] = _Var(value, number, f"{group}:vars.{key}")
        elif kind == "children":
            try:
                child = as_name(line, "group")
            except BadValue as exc:
                problems.add(str(exc), number, f"{group}:children")
                continue
            collected.group(child, number)
            collected.group(group, number).children.append((child, number, f"{group}:children"))


def _ini_value(raw: str) -> str:
    """A :vars value: quotes removed, or a trailing `` # comment``/`` ; comment`` dropped."""
    value = raw.strip()
    quoted = re.match(r"""(['"])(.*?)\1\s*(?:[#;].*)?$""", value)
    if quoted:
        return quoted.group(2)
    return re.split(r"\s+[#;]", value, maxsplit=1)[0]


def _ini_host_line(line: str, number: int, group: str, collected: _Collected) -> None:
    problems = collected.problems
    try:
        lexer = shlex.shlex(line, posix=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        lexer.escape = ""  # keep DOMAIN\user as written (Ansible would eat the backslash)
        tokens = list(lexer)
    except ValueError as exc:
        problems.add(f"cannot split the host line: {exc}", number, group)
        return
    for index, token in enumerate(tokens):
        if token.startswith(";"):  # "host a=b ; comment"
            tokens = tokens[:index]
            break
    if not tokens:
        return
    if "=" in tokens[0]:
        problems.add("expected a host name before key=value", number, group)
        return
    try:
        names, port = expand_host_pattern(tokens[0])
        names = [as_name(n, "host") for n in names]
    except BadValue as exc:
        problems.add(str(exc), number, f"{group}.{tokens[0]}")
        return
    variables: dict[str, _Var] = {}
    if port is not None:
        variables["ansible_port"] = _Var(port, number, f"{tokens[0]}.ansible_port")
    for token in tokens[1:]:
        key, equals, value = token.partition("=")
        if not equals or not key:
            problems.add(f"expected key=value, got {token!r}", number, tokens[0])
            return
        variables[key] = _Var(value, number, f"{tokens[0]}.{key}")
    for name in names:
        collected.host(name, number, group).vars.update(variables)


# --- YAML -------------------------------------------------------------------------------------

_GROUP_KEYS = ("hosts", "children", "vars")


def read_yaml(data: object, collected: _Collected) -> None:
    """Fill ``collected`` from parsed Ansible YAML (``all: {hosts:, children:, vars:}``)."""
    if not isinstance(data, SrcDict):
        collected.problems.add(f"expected a mapping of groups (all:), got {describe(data)}", 1)
        return
    for name, body in data.items():
        _yaml_group(name, body, data.line_of(name), str(name), None, collected)


def _yaml_group(
    raw_name: object, body: object, line: int, path: str, parent: str | None, collected: _Collected
) -> None:
    problems = collected.problems
    try:
        name = as_name(raw_name, "group")
    except BadValue as exc:
        problems.add(str(exc), line, path)
        return
    group = collected.group(name, line)
    if parent is not None:
        collected.group(parent, line).children.append((name, line, path))
    if body is None:
        return
    if not isinstance(body, SrcDict):
        problems.add(f"expected a mapping with hosts:, children: or vars:, got {describe(body)}", line, path)
        return
    for key in body:
        if key not in _GROUP_KEYS:
            hint = suggest(str(key), _GROUP_KEYS) or " (a group holds hosts:, children: and vars:)"
            problems.add(f"unknown key {key!r}{hint}", body.line_of(key), f"{path}.{key}")
    variables = _yaml_vars(body.get("vars"), body.line_of("vars"), f"{path}.vars", problems)
    group.vars.update(variables)
    hosts = body.get("hosts")
    if isinstance(hosts, SrcDict):
        for pattern, host_body in hosts.items():
            host_line, host_path = hosts.line_of(pattern), f"{path}.hosts.{pattern}"
            try:
                names, port = (
                    expand_host_pattern(str(pattern)) if isinstance(pattern, str) else ([pattern], None)
                )
                names = [as_name(n, "host") for n in names]
            except BadValue as exc:
                problems.add(str(exc), host_line, host_path)
                continue
            host_vars = _yaml_vars(host_body, host_line, host_path, problems)
            if port is not None:
                host_vars["ansible_port"] = _Var(port, host_line, f"{host_path}.ansible_port")
            for host_name in names:
                collected.host(host_name, host_line, name).vars.update(host_vars)
    elif hosts is not None:
        problems.add(
            f"expected a mapping of host names to their variables, got {describe(hosts)}",
            body.line_of("hosts"),
            f"{path}.hosts",
        )
    children = body.get("children")
    if isinstance(children, SrcDict):
        for child, child_body in children.items():
            _yaml_group(
                child, child_body, children.line_of(child), f"{path}.children.{child}", name, collected
            )
    elif children is not None:
        problems.add(
            f"expected a mapping of group names, got {describe(children)}",
            body.line_of("children"),
            f"{path}.children",
        )


def _yaml_vars(body: object, line: int, path: str, problems: Problems) -> dict[str, _Var]:
    if body is None:
        return {}
    if not isinstance(body, SrcDict):
        problems.add(f"expected a mapping of variables, got {describe(body)}", line, path)
        return {}
    out: dict[str, _Var] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            problems.add(f"a variable name must be a string, got {describe(key)}", body.line_of(key), path)
            continue
        out[key] = _Var(value, body.line_of(key), f"{path}.{key}")
    return out


# --- mapping to psfleet -----------------------------------------------------------------------


def _rank(name: str) -> int:
    if name.startswith("ansible_psrp_"):
        return 2
    return 1 if name.startswith("ansible_winrm_") else 0


def _layer(variables: dict[str, _Var], problems: Problems, base_dir: Path) -> tuple[Layer, dict[str, object]]:
    """Native settings and leftover variables from one level's Ansible variables."""
    layer: Layer = {}
    extra: dict[str, object] = {}
    for name in sorted(variables, key=_rank):  # stable: keeps file order within a rank
        var = variables[name]
        value = var.value
        if name in PASSWORD_VARIABLES:
            lookup = _ENV_LOOKUP.fullmatch(value.strip()) if isinstance(value, str) else None
            if lookup is None:
                problems.add(PASSWORD_ADVICE, var.line, var.field)
            else:
                read_setting(
                    layer, "password_env", lookup.group(1), var.line, var.field, problems, base_dir=base_dir
                )
        elif name in VARIABLES or name == "ansible_connection" or name.startswith("psfleet_"):
            if isinstance(value, str) and "{{" in value:
                problems.add(
                    "Jinja templates are not evaluated by psfleet; write the value itself",
                    var.line,
                    var.field,
                )
                continue
            _map_variable(layer, name, var, problems, base_dir)
        elif name != "ansible_group_priority":
            extra[name] = plain(value)
    return layer, extra


def _map_variable(layer: Layer, name: str, var: _Var, problems: Problems, base_dir: Path) -> None:
    value, line, where = var.value, var.line, var.field
    try:
        if name == "ansible_connection":
            layer["connection"] = Setting(str(value).strip().lower().rsplit(".", 1)[-1], line, where)
        elif name == "ansible_winrm_transport":
            layer["auth"] = Setting(_winrm_transport(value), line, where)
        elif name.endswith("cert_validation"):
            text = str(value).strip().lower()
            valid = text == "validate" or (text != "ignore" and as_bool(value, True))
            layer["cert_validation"] = Setting(valid, line, where)
        elif name in VARIABLES:
            read_setting(
                layer, VARIABLES[name], value, line, where, problems, base_dir=base_dir, lenient=True
            )
        else:
            _map_psfleet(layer, name, var, problems, base_dir)
    except BadValue as exc:
        problems.add(str(exc), line, where)


def _winrm_transport(value: object) -> str:
    items = value if isinstance(value, list) else str(value).split(",")
    kinds = [_WINRM_TRANSPORTS.get(str(item).strip().lower(), "") for item in items]
    if "" in kinds or not kinds:
        raise BadValue(f"must be one of {', '.join(_WINRM_TRANSPORTS)}; got {describe(value)}")
    if len(set(kinds)) == 1:
        return kinds[0]
    if set(kinds) <= {"kerberos", "ntlm", "negotiate"}:
        return "negotiate"  # "try Kerberos, then NTLM" is what Negotiate does
    raise BadValue("psfleet uses one authentication protocol per host; give one transport")


def _map_psfleet(layer: Layer, name: str, var: _Var, problems: Problems, base_dir: Path) -> None:
    key = name.removeprefix("psfleet_")
    policy_key = key.removeprefix("policy_")
    if policy_key in POLICY_KEYS:
        read_policy_value(layer, policy_key, var.value, var.line, var.field, problems)
    elif key == "password":
        problems.add(PASSWORD_ADVICE, var.line, var.field)
    elif key in SETTING_KEYS:
        read_setting(layer, key, var.value, var.line, var.field, problems, base_dir=base_dir, lenient=True)
    else:
        known = [f"psfleet_{k}" for k in (*SETTING_KEYS, *POLICY_KEYS)]
        problems.add(f"unknown psfleet variable {name!r}{suggest(name, known)}", var.line, var.field)


def _priority(group: _Group) -> int:
    var = group.vars.get("ansible_group_priority")
    try:
        return 1 if var is None else int(str(var.value).strip())
    except ValueError:
        return 1


def _priority_check(group: _Group, problems: Problems) -> None:
    var = group.vars.get("ansible_group_priority")
    if var is not None and not str(var.value).strip().lstrip("-").isdigit():
        problems.add(f"expected an integer, got {describe(var.value)}", var.line, var.field)


def assemble(collected: _Collected) -> tuple[Inventory | None, list[SkippedHost]]:
    """Map collected groups and hosts to an Inventory (None if problems were reported)."""
    problems, file = collected.problems, collected.file
    base_dir = Path(file).resolve().parent
    parents: dict[str, list[str]] = {name: [] for name in collected.groups}
    for group in collected.groups.values():
        for child, line, path in group.children:
            if creates_cycle(group.name, child, parents):
                problems.add(
                    f"children form a cycle: {group.name} -> {child} -> ... -> {group.name}", line, path
                )
            elif group.name not in parents[child]:
                parents[child].append(group.name)
    for name, ups in parents.items():
        if name != "all" and not ups:
            ups.append("all")
    depth = group_depths(parents)
    # Each level's mapping problems are held back until we know a managed host uses it:
    # a Linux group with ansible_ssh_pass must not stop a run on the Windows hosts.
    layers: dict[str, tuple[Layer, dict[str, object], Problems]] = {}
    for name, group in collected.groups.items():
        scratch = Problems(file)
        layer, extra = _layer(group.vars, scratch, base_dir)
        _priority_check(group, scratch)
        layers[name] = (layer, extra, scratch)
    direct: dict[str, list[str]] = {name: [] for name in collected.hosts}
    for group in collected.groups.values():
        for host_name in group.hosts:
            direct[host_name].append(group.name)
    used: set[str] = set()
    hosts: list[Host] = []
    skipped: list[SkippedHost] = []
    for host in collected.hosts.values():
        member_of = with_ancestors(direct[host.name], parents) | {"all"}
        ordered = sorted(member_of, key=lambda g: (depth[g], _priority(collected.groups[g]), g))
        scratch = Problems(file)
        host_layer, host_extra = _layer(host.vars, scratch, base_dir)
        merged = merge([*(layers[g][0] for g in ordered), host_layer])
        source = SourceRef(file, host.line)
        connection = merged.get("connection")
        if connection is not None and connection.value not in CONNECTIONS:
            reason = f"ansible_connection is {connection.value}; psfleet reaches hosts over winrm or psrp"
            skipped.append(SkippedHost(host.name, reason, source))
            continue
        used.update(ordered)
        problems.absorb(scratch)
        extra = {}
        for g in ordered:
            extra.update(layers[g][1])
        extra.update(host_extra)
        groups = tuple(g for g in collected.groups if g in member_of and g not in ("all", "ungrouped"))
        made = build_host(
            host.name,
            merged,
            groups=groups,
            source=source,
            problems=problems,
            host_vars=extra,
            default_scheme_by_port=True,
        )
        if made is not None:
            hosts.append(made)
    for name, group in collected.groups.items():
        if name in used or (not group.hosts and not group.children):
            problems.absorb(layers[name][2])
    if not collected.hosts and not problems:
        problems.add("the inventory defines no hosts", 1)
    if problems:
        return None, skipped
    members = {
        name: tuple(h.name for h in hosts if name in h.groups)
        for name in collected.groups
        if name not in ("all", "ungrouped")
    }
    return Inventory(hosts=tuple(hosts), groups=members, source=file), skipped


def parse_ansible_ini(text: str, file: str, problems: Problems) -> tuple[Inventory | None, list[SkippedHost]]:
    collected = _Collected(file, problems)
    read_ini(text, collected)
    return assemble(collected)


def parse_ansible_yaml(
    data: object, file: str, problems: Problems
) -> tuple[Inventory | None, list[SkippedHost]]:
    collected = _Collected(file, problems)
    read_yaml(data, collected)
    return assemble(collected)
