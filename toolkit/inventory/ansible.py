"""Ansible inventories read as ansible-core reads them, without Ansible: the built-in reader.

What it reads, as ``ansible-inventory --list`` would: an INI or YAML inventory file, or a
directory of them (files in name order; ``.yml``/``.yaml``/``.json`` are YAML, others INI,
names ending in ``~ .orig .cfg .retry .pyc .pyo .swp .bak .rpm .md .txt .rst`` are skipped),
and the ``group_vars/`` and ``host_vars/`` next to it (``NAME``, ``NAME.yml``, ``NAME.yaml``,
``NAME.json`` or a directory ``NAME/`` of such files).

Variable precedence (weakest first), as Ansible's default ``VARIABLE_PRECEDENCE``: the ``all``
group's inventory variables; the other groups' inventory variables, ordered by depth (parents
before children), ``ansible_group_priority`` and name; ``group_vars/all``; ``group_vars/GROUP``
in the same order; the host's inventory variables; ``host_vars/HOST``.

INI values follow Ansible's INI plugin: host lines are split like a POSIX shell (so
``LAB\\\\admin`` gives ``LAB\\admin``), ``[group:vars]`` lines at the first ``=`` with no
comment stripping, and every value goes through Python's ``ast.literal_eval`` (``5985`` is a
number, ``'LAB\\\\admin'`` a string with one backslash, anything else stays text).

What it cannot evaluate it does not guess: inventory plugins (a YAML file with ``plugin:``),
scripts and Ansible Vault values in the variables psfleet uses are refused with one line naming
file:line and ``--inventory-backend ansible``, which reads them through ansible-core. Jinja
templates in those variables are refused by both backends (``ansible-inventory --list`` does
not render them either). :mod:`toolkit.inventory.ansible_hosts` turns the result into hosts.
"""

from __future__ import annotations

import ast
import ipaddress
import re
import shlex
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import InputError
from toolkit.inventory.model import SourceRef
from toolkit.inventory.settings import (
    BadValue,
    Problems,
    as_name,
    creates_cycle,
    describe,
    group_depths,
    suggest,
)
from toolkit.inventory.vault_yaml import Vaulted as Vaulted  # its home before vault_yaml
from toolkit.inventory.vault_yaml import load_yaml
from toolkit.yamlsrc import SrcDict

YAML_SUFFIXES: tuple[str, ...] = (".yml", ".yaml", ".json")
IGNORED_SUFFIXES: tuple[str, ...] = (
    "~",
    ".orig",
    ".cfg",
    ".retry",
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
)
USE_ANSIBLE = "read it with --inventory-backend ansible (needs ansible-core)"
_MAX_RANGE = 10_000
_MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Var:
    """One Ansible variable as the winning source wrote it."""

    value: object
    file: str
    line: int | None
    field: str


@dataclass
class AnsibleView:
    """What ``ansible-inventory --list`` shows: hosts in order, each host's effective
    variables, and each group's hosts (children's included, in Ansible's order)."""

    source: str
    backend: str
    hosts: dict[str, SourceRef] = field(default_factory=dict)
    hostvars: dict[str, dict[str, Var]] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: host -> the groups it belongs to, with their parents (not ``all``/``ungrouped``).
    member_of: dict[str, tuple[str, ...]] = field(default_factory=dict)


# --- collected groups and hosts -------------------------------------------------------------


@dataclass
class _Group:
    name: str
    vars: dict[str, Var] = field(default_factory=dict)
    children: list[tuple[str, Var]] = field(default_factory=list)  # (child, where it was written)
    hosts: list[str] = field(default_factory=list)


@dataclass
class _Host:
    name: str
    source: SourceRef
    vars: dict[str, Var] = field(default_factory=dict)


class _Collected:
    """Groups and hosts from every inventory file, before any precedence is applied."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.groups: dict[str, _Group] = {"all": _Group("all"), "ungrouped": _Group("ungrouped")}
        self.hosts: dict[str, _Host] = {}

    def group(self, name: str) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name)
        return self.groups[name]

    def host(self, name: str, source: SourceRef, group: str) -> _Host:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = _Host(name, source)
        members = self.group(group).hosts
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


def ini_value(text: str) -> object:
    """A value as Ansible's INI plugin reads it: ``ast.literal_eval`` when that works, else
    the text itself (``5985`` -> 5985, ``'a b'`` -> ``a b``, ``True`` -> True, ``yes`` stays)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, bytes | complex):
        return text
    return value


def read_ini(text: str, file: str, collected: _Collected) -> None:
    """Fill ``collected`` from an INI inventory; errors go to its problems."""
    problems = collected.problems
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        header = re.fullmatch(r"\[([^\]]+)\]\s*(?:[#;].*)?", line) if line.startswith("[") else None
        if line.startswith("[") and (header is not None or "]" not in line):
            if header is None or any(ch.isspace() for ch in header.group(1)):
                problems.add(
                    "malformed section header; expected [group], [group:vars] or [group:children]",
                    number,
                    file=file,
                )
                kind = "broken"
                continue
            group, _, kind = header.group(1).partition(":")
            if kind not in ("", "vars", "children") or not group:
                problems.add(
                    f"unknown section type {header.group(1)!r}; expected :vars or :children",
                    number,
                    file=file,
                )
                kind = "broken"
                continue
            kind = kind or "hosts"
            collected.group(group)
        elif kind == "hosts":
            _ini_host_line(line, number, file, group, collected)
        elif kind == "vars":
            key, equals, value = line.partition("=")
            key = key.strip()
            if not equals or not key or any(ch.isspace() for ch in key):
                problems.add("expected key=value in a :vars section", number, f"{group}:vars", file=file)
                continue
            collected.group(group).vars[key] = Var(
                ini_value(value.strip()), file, number, f"{group}:vars.{key}"
            )
        elif kind == "children":
            try:
                child = as_name(line, "group")
            except BadValue as exc:
                problems.add(str(exc), number, f"{group}:children", file=file)
                continue
            collected.group(child)
            collected.group(group).children.append((child, Var(None, file, number, f"{group}:children")))


def _ini_host_line(line: str, number: int, file: str, group: str, collected: _Collected) -> None:
    problems = collected.problems
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        problems.add(f"cannot split the host line: {exc}", number, group, file=file)
        return
    if not tokens:
        return
    if "=" in tokens[0]:
        problems.add("expected a host name before key=value", number, group, file=file)
        return
    try:
        names, port = expand_host_pattern(tokens[0])
        names = [as_name(n, "host") for n in names]
    except BadValue as exc:
        problems.add(str(exc), number, f"{group}.{tokens[0]}", file=file)
        return
    variables: dict[str, Var] = {}
    if port is not None:
        variables["ansible_port"] = Var(port, file, number, f"{tokens[0]}.ansible_port")
    for token in tokens[1:]:
        key, equals, value = token.partition("=")
        if not equals or not key:
            problems.add(f"expected key=value, got {token!r}", number, tokens[0], file=file)
            return
        variables[key] = Var(ini_value(value), file, number, f"{tokens[0]}.{key}")
    for name in names:
        collected.host(name, SourceRef(file, number), group).vars.update(variables)


# --- YAML -------------------------------------------------------------------------------------

_GROUP_KEYS = ("hosts", "children", "vars")


def read_yaml(data: object, file: str, collected: _Collected) -> None:
    """Fill ``collected`` from parsed Ansible YAML (``all: {hosts:, children:, vars:}``)."""
    if not isinstance(data, SrcDict):
        collected.problems.add(f"expected a mapping of groups (all:), got {describe(data)}", 1, file=file)
        return
    if "plugin" in data:
        collected.problems.add(
            f"inventory plugin {data['plugin']!r}: psfleet's built-in reader does not run plugins; "
            + USE_ANSIBLE,
            data.line_of("plugin"),
            "plugin",
            file=file,
        )
        return
    for name, body in data.items():
        _yaml_group(name, body, data.line_of(name), str(name), None, file, collected)


def _yaml_group(
    raw_name: object,
    body: object,
    line: int,
    path: str,
    parent: str | None,
    file: str,
    collected: _Collected,
) -> None:
    problems = collected.problems
    try:
        name = as_name(raw_name, "group")
    except BadValue as exc:
        problems.add(str(exc), line, path, file=file)
        return
    group = collected.group(name)
    if parent is not None:
        collected.group(parent).children.append((name, Var(None, file, line, path)))
    if body is None:
        return
    if not isinstance(body, SrcDict):
        problems.add(
            f"expected a mapping with hosts:, children: or vars:, got {describe(body)}", line, path, file=file
        )
        return
    for key in body:
        if key not in _GROUP_KEYS:
            hint = suggest(str(key), _GROUP_KEYS) or " (a group holds hosts:, children: and vars:)"
            problems.add(f"unknown key {key!r}{hint}", body.line_of(key), f"{path}.{key}", file=file)
    group.vars.update(_yaml_vars(body.get("vars"), body.line_of("vars"), f"{path}.vars", file, problems))
    hosts = body.get("hosts")
    if isinstance(hosts, SrcDict):
        for pattern, host_body in hosts.items():
            host_line, host_path = hosts.line_of(pattern), f"{path}.hosts.{pattern}"
            try:
                names, port = (
                    expand_host_pattern(str(pattern)) if isinstance(pattern, str) else ([str(pattern)], None)
                )
                names = [as_name(n, "host") for n in names]
            except BadValue as exc:
                problems.add(str(exc), host_line, host_path, file=file)
                continue
            host_vars = _yaml_vars(host_body, host_line, host_path, file, problems)
            if port is not None:
                host_vars["ansible_port"] = Var(port, file, host_line, f"{host_path}.ansible_port")
            for host_name in names:
                collected.host(host_name, SourceRef(file, host_line), name).vars.update(host_vars)
    elif hosts is not None:
        problems.add(
            f"expected a mapping of host names to their variables, got {describe(hosts)}",
            body.line_of("hosts"),
            f"{path}.hosts",
            file=file,
        )
    children = body.get("children")
    if isinstance(children, SrcDict):
        for child, child_body in children.items():
            child_path = f"{path}.children.{child}"
            _yaml_group(child, child_body, children.line_of(child), child_path, name, file, collected)
    elif children is not None:
        problems.add(
            f"expected a mapping of group names, got {describe(children)}",
            body.line_of("children"),
            f"{path}.children",
            file=file,
        )


def _yaml_vars(body: object, line: int, path: str, file: str, problems: Problems) -> dict[str, Var]:
    if body is None:
        return {}
    if not isinstance(body, SrcDict):
        problems.add(f"expected a mapping of variables, got {describe(body)}", line, path, file=file)
        return {}
    out: dict[str, Var] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            problems.add(
                f"a variable name must be a string, got {describe(key)}", body.line_of(key), path, file=file
            )
            continue
        out[key] = Var(value, file, body.line_of(key), f"{path}.{key}" if path else key)
    return out


# --- files and folders ------------------------------------------------------------------------


def _read(path: Path, problems: Problems) -> str | None:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            problems.add(f"larger than {_MAX_FILE_BYTES // (1024 * 1024)} MiB", file=str(path))
            return None
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.add(f"not UTF-8 text (byte {exc.start})", file=str(path))
    except OSError as exc:
        problems.add(f"cannot read: {exc.strerror}", file=str(path))
    return None


def _yaml_or_error(text: str, file: str, problems: Problems) -> object | None:
    try:
        return load_yaml(text, file)
    except InputError as exc:
        problems.add(exc.message, exc.line, exc.field, file=file)
        return None


def _read_source_file(path: Path, collected: _Collected) -> None:
    """One inventory file: YAML by its suffix (or when it parses as a mapping), else INI."""
    file = str(path)
    text = _read(path, collected.problems)
    if text is None:
        return
    if path.suffix.lower() in YAML_SUFFIXES:
        data = _yaml_or_error(text, file, collected.problems)
        if data is not None:
            read_yaml(data, file, collected)
        return
    if text.startswith("#!"):
        collected.problems.add("inventory script: psfleet does not run it; " + USE_ANSIBLE, 1, file=file)
        return
    try:
        data = load_yaml(text, file) if not path.suffix else None
    except InputError:
        data = None
    if isinstance(data, SrcDict):
        read_yaml(data, file, collected)
    else:
        read_ini(text, file, collected)


def _source_files(folder: Path) -> list[Path]:
    out = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child.name in ("group_vars", "host_vars"):
            continue
        if child.name.endswith(IGNORED_SUFFIXES) or child.is_dir():
            continue
        out.append(child)
    return out


def _vars_files(folder: Path, name: str) -> list[Path]:
    """``folder/NAME``, ``NAME.yml|.yaml|.json`` and every such file under ``folder/NAME/``.

    Names that are not plain file names (``/chroot/path`` hosts, ``..``) have none, as in
    Ansible, which skips host names starting with a path separator."""
    found: list[Path] = []
    if "/" in name or "\0" in name or name in (".", "..") or not folder.is_dir():
        return found
    for candidate in (folder / name, *(folder / f"{name}{suffix}" for suffix in YAML_SUFFIXES)):
        if candidate.is_file():
            found.append(candidate)
        elif candidate.is_dir():
            found.extend(
                p
                for p in sorted(candidate.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(candidate).parts)
                and (p.suffix.lower() in YAML_SUFFIXES or not p.suffix)
            )
    return found


def _read_vars_files(folder: Path, name: str, problems: Problems) -> dict[str, Var]:
    out: dict[str, Var] = {}
    for path in _vars_files(folder, name):
        text = _read(path, problems)
        if text is None:
            continue
        data = _yaml_or_error(text, str(path), problems)
        if data is None:
            continue
        out.update(_yaml_vars(data, 1, "", str(path), problems))
    return out


# --- precedence -------------------------------------------------------------------------------


def _priority(group: _Group) -> int | None:
    """``ansible_group_priority`` as ansible-core reads it (``Group.set_variable``: ``int()``
    on the value as parsed): 1 when unset; ``2.5`` -> 2, ``true`` -> 1, ``' 3 '`` -> 3; None
    when ``int()`` refuses it (``'2.0'``, ``--5``, ``²``, a list, null, ``.inf``), as Ansible
    refuses the inventory."""
    var = group.vars.get("ansible_group_priority")
    if var is None:
        return 1
    value = var.value
    if not isinstance(value, str | int | float):  # int() raises TypeError, Ansible stops
        return None
    try:
        return int(value)
    except (ValueError, OverflowError):
        return None


def _descendants(name: str, groups: dict[str, _Group]) -> list[str]:
    """The group and its children, breadth first in written order (Ansible's get_hosts order)."""
    order, queue = [name], [name]
    while queue:
        for child, _where in groups[queue.pop(0)].children:
            if child not in order:
                order.append(child)
                queue.append(child)
    return order


def build_view(source: Path, collected: _Collected, vars_folders: list[Path]) -> AnsibleView:
    """Apply Ansible's precedence to the collected inventory (see the module docstring)."""
    problems = collected.problems
    parents: dict[str, list[str]] = {name: [] for name in collected.groups}
    for group in collected.groups.values():
        for child, where in group.children:
            # every group is under ``all`` (parentless ones get it below, after this check),
            # so ``all`` as a child is always a loop: ansible-inventory refuses it too
            if child == "all":
                problems.add(
                    "'all' cannot be a child group: every group is already under all "
                    "(ansible-inventory refuses it too)",
                    where.line,
                    where.field,
                    file=where.file,
                )
            elif creates_cycle(group.name, child, parents):
                problems.add(
                    f"children form a cycle: {group.name} -> {child} -> ... -> {group.name}",
                    where.line,
                    where.field,
                    file=where.file,
                )
            elif group.name not in parents[child]:
                parents[child].append(group.name)
    ungrouped = collected.groups["ungrouped"]
    for host_name in collected.hosts:
        if not any(
            host_name in g.hosts for n, g in collected.groups.items() if n not in ("all", "ungrouped")
        ):
            if host_name not in ungrouped.hosts:
                ungrouped.hosts.append(host_name)
        elif host_name in ungrouped.hosts:
            ungrouped.hosts.remove(host_name)
    for name, ups in parents.items():
        if name != "all" and not ups:
            ups.append("all")
    depth = group_depths(parents)
    for group in collected.groups.values():
        var = group.vars.get("ansible_group_priority")
        if var is not None and _priority(group) is None:
            problems.add(
                f"expected an integer, got {describe(var.value)}", var.line, var.field, file=var.file
            )
    group_files: dict[str, dict[str, Var]] = {name: {} for name in collected.groups}
    host_files: dict[str, dict[str, Var]] = {name: {} for name in collected.hosts}
    for folder in vars_folders:
        for name in collected.groups:
            group_files[name].update(_read_vars_files(folder / "group_vars", name, problems))
        for name in collected.hosts:
            host_files[name].update(_read_vars_files(folder / "host_vars", name, problems))
    view = AnsibleView(source=str(source), backend="builtin")
    direct: dict[str, list[str]] = {name: [] for name in collected.hosts}
    for group in collected.groups.values():
        for host_name in group.hosts:
            direct[host_name].append(group.name)
    for host in collected.hosts.values():
        member_of: set[str] = set()
        stack = list(direct[host.name])
        while stack:
            current = stack.pop()
            if current not in member_of:
                member_of.add(current)
                stack.extend(parents.get(current, ()))
        others = sorted(
            (g for g in member_of if g != "all"),
            # a priority int() refuses was reported above: any number keeps the sort going
            key=lambda g: (depth[g], _priority(collected.groups[g]) or 0, g),
        )
        merged: dict[str, Var] = {}
        merged.update(collected.groups["all"].vars)
        for g in others:
            merged.update(collected.groups[g].vars)
        merged.update(group_files["all"])
        for g in others:
            merged.update(group_files[g])
        merged.update(host.vars)
        merged.update(host_files[host.name])
        merged.pop("ansible_group_priority", None)
        view.hosts[host.name] = host.source
        view.hostvars[host.name] = merged
        view.member_of[host.name] = tuple(
            g for g in collected.groups if g in member_of and g not in ("all", "ungrouped")
        )
    for name in collected.groups:
        members: list[str] = []
        for g in _descendants(name, collected.groups):
            members.extend(h for h in collected.groups[g].hosts if h not in members)
        view.groups[name] = tuple(members)
    view.groups["all"] = tuple(collected.hosts)
    return view


def read_ansible(
    path: str | Path, problems: Problems, *, kind: str | None = None, data: object = None
) -> AnsibleView:
    """Read an Ansible inventory file or folder with the built-in reader. ``kind``
    (``ansible-ini``/``ansible-yaml``) and ``data`` (the file's YAML): what the caller's format
    detection found, when it has looked already. Problems (file:line) go to ``problems``."""
    source = Path(path)
    collected = _Collected(problems)
    if source.is_dir():
        for child in _source_files(source):
            _read_source_file(child, collected)
        vars_folders = [source]
    else:
        if kind == "ansible-ini":
            text = _read(source, problems)
            if text is not None:
                read_ini(text, str(source), collected)
        elif kind == "ansible-yaml" and isinstance(data, SrcDict):
            read_yaml(data, str(source), collected)
        else:
            _read_source_file(source, collected)
        vars_folders = [source.parent]  # as given, so errors name group_vars/ as the user knows it
    return build_view(source, collected, vars_folders)
