"""psfleet's own inventory format (YAML).

::

    psfleet: 1                 # optional format marker
    defaults: {auth: ntlm, username: LAB\\admin, password_env: PSFLEET_PASSWORD}
    groups:
      fileservers:
        vars: {port: 5986, scheme: https}
        hosts: [fs01, {name: fs03, address: 10.0.0.7}]
        children: [branch]
      branch: {hosts: {br01: {address: "[fe80::1]"}}}
    hosts:
      fs01: {address: 10.0.0.5, groups: [fileservers], policy: {secure_negotiate: any}}

Precedence, weakest first: ``defaults``, then each group the host belongs to (directly or
through ``children``) ordered by depth (a parent before its children); groups at the same depth
apply in the order they are written under ``groups:``, so the later one wins. The host's own
keys come last. ``policy`` merges key by key. A host is defined under ``hosts:`` (mapping or
list of mappings with ``name:``) or by a mapping entry in a group's ``hosts:``; a plain string in
a group's ``hosts:`` only refers to a host defined elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolkit.inventory.model import Host, Inventory, SourceRef
from toolkit.inventory.settings import (
    SETTING_KEYS,
    BadValue,
    Layer,
    Problems,
    as_name,
    build_host,
    creates_cycle,
    describe,
    group_depths,
    merge,
    plain,
    read_setting,
    suggest,
    with_ancestors,
)
from toolkit.yamlsrc import SrcDict, SrcList

TOP_KEYS: tuple[str, ...] = ("psfleet", "defaults", "groups", "hosts")
GROUP_KEYS: tuple[str, ...] = ("vars", "hosts", "children")
HOST_ONLY_KEYS: tuple[str, ...] = ("name", "address", "groups", "meta")
FORMAT_VERSION = 1


@dataclass
class _Group:
    name: str
    line: int
    order: int
    layer: Layer = field(default_factory=dict)
    children: list[tuple[str, int, str]] = field(default_factory=list)  # (name, line, field)
    host_refs: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class _Host:
    name: str
    line: int
    path: str
    layer: Layer = field(default_factory=dict)
    group_refs: list[tuple[str, int, str]] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)
    has_settings: bool = False


class _Reader:
    def __init__(self, file: str, problems: Problems) -> None:
        self.file = file
        self.base_dir = Path(file).resolve().parent
        self.problems = problems
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _Host] = {}

    # -- sections --------------------------------------------------------------------------

    def read(self, data: object) -> Inventory | None:
        if data is None:
            self.problems.add("the inventory is empty", 1)
            return None
        if not isinstance(data, SrcDict):
            self.problems.add(
                f"expected a mapping with hosts:, groups: and defaults:, got {describe(data)}", 1
            )
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.problems.add(
                    f"unknown key {key!r}{suggest(str(key), TOP_KEYS)}", data.line_of(key), str(key)
                )
        if "psfleet" in data and data["psfleet"] != FORMAT_VERSION:
            self.problems.add(
                f"unsupported format version {data['psfleet']!r}; this psfleet reads version {FORMAT_VERSION}",
                data.line_of("psfleet"),
                "psfleet",
            )
        defaults: Layer = {}
        if data.get("defaults") is not None:
            defaults = self._settings(
                data["defaults"], data.line_of("defaults"), "defaults", host_level=False
            )
        if data.get("groups") is not None:
            self._read_groups(data["groups"], data.line_of("groups"))
        if data.get("hosts") is not None:
            self._read_host_collection(data["hosts"], data.line_of("hosts"), "hosts", group=None)
        if not self.hosts and not self.problems:
            self.problems.add("the inventory defines no hosts", data.line, "hosts")
        return self._assemble(defaults)

    def _settings(self, body: object, line: int, path: str, *, host_level: bool) -> Layer:
        layer: Layer = {}
        if not isinstance(body, SrcDict):
            self.problems.add(f"expected a mapping of settings, got {describe(body)}", line, path)
            return layer
        key_lines, body_line = body.key_lines, body.line  # body.line_of, without a call per key
        for key, value in body.items():
            key_line, field_path = key_lines.get(key, body_line), f"{path}.{key}"
            if key in HOST_ONLY_KEYS and key != "address":
                if not host_level:
                    self.problems.add(f"{key!r} can only be set on a host", key_line, field_path)
                continue
            if key == "address" and not host_level:
                self.problems.add("'address' can only be set on a host", key_line, field_path)
                continue
            found = read_setting(
                layer, str(key), value, key_line, field_path, self.problems, base_dir=self.base_dir
            )
            if not found:
                known = SETTING_KEYS + (HOST_ONLY_KEYS if host_level else ())
                self.problems.add(f"unknown key {key!r}{suggest(str(key), known)}", key_line, field_path)
        return layer

    def _read_groups(self, body: object, line: int) -> None:
        if not isinstance(body, SrcDict):
            self.problems.add(f"expected a mapping of group names, got {describe(body)}", line, "groups")
            return
        for raw_name, spec in body.items():
            key_line = body.line_of(raw_name)
            name = self._name(raw_name, "group", key_line, "groups")
            if name is None:
                continue
            path = f"groups.{name}"
            if name == "all":
                self.problems.add("'all' is reserved: it already means every host", key_line, path)
                continue
            group = self.groups[name] = _Group(name, key_line, len(self.groups))
            if spec is None:
                continue
            if not isinstance(spec, SrcDict):
                self.problems.add(
                    f"expected a mapping with vars:, hosts:, children:, got {describe(spec)}", key_line, path
                )
                continue
            for key in spec:
                if key in GROUP_KEYS:
                    continue
                hint = suggest(str(key), GROUP_KEYS)
                if key in SETTING_KEYS:
                    hint = " (group settings go under vars:)"
                self.problems.add(f"unknown key {key!r}{hint}", spec.line_of(key), f"{path}.{key}")
            if spec.get("vars") is not None:
                group.layer = self._settings(
                    spec["vars"], spec.line_of("vars"), f"{path}.vars", host_level=False
                )
            if spec.get("hosts") is not None:
                self._read_host_collection(spec["hosts"], spec.line_of("hosts"), f"{path}.hosts", group=group)
            if spec.get("children") is not None:
                group.children = self._name_list(
                    spec["children"], spec.line_of("children"), f"{path}.children", "group"
                )

    def _read_host_collection(self, body: object, line: int, path: str, group: _Group | None) -> None:
        """``hosts:`` as a mapping (name -> settings) or a list (names or mappings with name:)."""
        if isinstance(body, SrcDict):
            for raw_name, spec in body.items():
                self._define_host(raw_name, spec, body.line_of(raw_name), path, group)
        elif isinstance(body, SrcList):
            for index, item in enumerate(body):
                item_line = body.line_of(index)
                if isinstance(item, SrcDict):
                    if "name" not in item:
                        self.problems.add("a host in a list needs a name: key", item_line, f"{path}[{index}]")
                        continue
                    self._define_host(item["name"], item, item.line_of("name"), path, group)
                elif group is not None:
                    name = self._name(item, "host", item_line, f"{path}[{index}]")
                    if name is not None:
                        group.host_refs.append((name, item_line, f"{path}[{index}]"))
                else:
                    name = self._name(item, "host", item_line, f"{path}[{index}]")
                    if name is not None:
                        self._define_host(name, None, item_line, path, None)
        else:
            self.problems.add(f"expected a mapping or list of hosts, got {describe(body)}", line, path)

    def _define_host(
        self, raw_name: object, spec: object, line: int, path: str, group: _Group | None
    ) -> None:
        name = self._name(raw_name, "host", line, path)
        if name is None:
            return
        host_path = f"{path}.{name}"
        if spec is not None and not isinstance(spec, SrcDict):
            self.problems.add(f"expected a mapping of host settings, got {describe(spec)}", line, host_path)
            return
        settings = spec is not None and len(spec) > ("name" in spec)  # any key besides name:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = _Host(name, line, host_path)
        elif settings and host.has_settings:
            self.problems.add(
                f"host {name!r} is already defined at line {host.line}; give its settings in one place",
                line,
                host_path,
            )
            return
        if group is not None:
            group.host_refs.append((name, line, host_path))
        if not settings or spec is None:
            return
        host.has_settings, host.line, host.path = True, line, host_path
        host.layer = self._settings(spec, line, host_path, host_level=True)
        if spec.get("groups") is not None:
            host.group_refs = self._name_list(
                spec["groups"], spec.line_of("groups"), f"{host_path}.groups", "group"
            )
        if spec.get("meta") is not None:
            if isinstance(spec["meta"], SrcDict):
                host.meta = plain(spec["meta"])
            else:
                self.problems.add(
                    f"expected a mapping, got {describe(spec['meta'])}",
                    spec.line_of("meta"),
                    f"{host_path}.meta",
                )

    # -- helpers ---------------------------------------------------------------------------

    def _name(self, raw: object, what: str, line: int, path: str) -> str | None:
        try:
            return as_name(raw, what)
        except BadValue as exc:
            self.problems.add(str(exc), line, path)
            return None

    def _name_list(self, body: object, line: int, path: str, what: str) -> list[tuple[str, int, str]]:
        if isinstance(body, str):
            body_list: list[tuple[object, int]] = [(body, line)]
        elif isinstance(body, SrcList):
            body_list = [(item, body.line_of(i)) for i, item in enumerate(body)]
        else:
            self.problems.add(f"expected a list of {what} names, got {describe(body)}", line, path)
            return []
        out = []
        for index, (item, item_line) in enumerate(body_list):
            name = self._name(item, what, item_line, f"{path}[{index}]")
            if name is not None:
                out.append((name, item_line, f"{path}[{index}]"))
        return out

    # -- resolution --------------------------------------------------------------------------

    def _assemble(self, defaults: Layer) -> Inventory | None:
        parents: dict[str, list[str]] = {name: [] for name in self.groups}
        for group in self.groups.values():
            for child, line, path in group.children:
                if child not in self.groups:
                    self.problems.add(f"unknown group {child!r}{suggest(child, self.groups)}", line, path)
                elif not creates_cycle(group.name, child, parents):
                    parents[child].append(group.name)
                else:
                    self.problems.add(
                        f"children form a cycle: {group.name} -> {child} -> ... -> {group.name}", line, path
                    )
            for host_name, line, path in group.host_refs:
                if host_name not in self.hosts:
                    self.problems.add(
                        f"unknown host {host_name!r}{suggest(host_name, self.hosts)}; define it under hosts:",
                        line,
                        path,
                    )
        direct: dict[str, list[str]] = {name: [] for name in self.hosts}
        for group in self.groups.values():
            for host_name, _line, _path in group.host_refs:
                if host_name in direct and group.name not in direct[host_name]:
                    direct[host_name].append(group.name)
        for host in self.hosts.values():
            for group_name, line, path in host.group_refs:
                if group_name not in self.groups:
                    self.problems.add(
                        f"unknown group {group_name!r}{suggest(group_name, self.groups)}", line, path
                    )
                elif group_name not in direct[host.name]:
                    direct[host.name].append(group_name)
        depth = group_depths(parents)
        built: list[Host] = []
        for host in sorted(self.hosts.values(), key=lambda h: h.line):
            member_of = with_ancestors(direct[host.name], parents)
            ordered = sorted(member_of, key=lambda g: (depth[g], self.groups[g].order))
            merged = merge([defaults, *(self.groups[g].layer for g in ordered), host.layer])
            made = build_host(
                host.name,
                merged,
                groups=tuple(sorted(member_of, key=lambda g: self.groups[g].order)),
                source=SourceRef(self.file, host.line),
                problems=self.problems,
                host_vars=host.meta,
            )
            if made is not None:
                built.append(made)
        if self.problems:
            return None
        members: dict[str, list[str]] = {
            name: [] for name in sorted(self.groups, key=lambda g: self.groups[g].order)
        }
        for made in built:  # one pass over the hosts, not one per group
            for group_name in made.groups:
                members[group_name].append(made.name)
        return Inventory(
            hosts=tuple(built),
            groups={name: tuple(hosts) for name, hosts in members.items()},
            source=self.file,
        )


def parse_native(data: object, file: str, problems: Problems) -> Inventory | None:
    """Read parsed native YAML (from :mod:`toolkit.yamlsrc`); None if ``problems`` got errors."""
    return _Reader(file, problems).read(data)
