"""Write a native inventory for some hosts (``--retry-file``: the hosts that failed).

Every host is written with its effective settings (no defaults or group vars), so the file
stands alone; only values that differ from the model defaults are written. Groups are kept as
memberships (``groups:`` on each host) so that ``--limit GROUP`` still works on the retry file.
Passwords are never written: only where they come from (``password_env`` and so on).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from toolkit.atomic import write_atomic
from toolkit.inventory.model import Host, Policy, Transport
from toolkit.inventory.settings import plain
from toolkit.inventory.vault_yaml import Unsafe, Vaulted

_HEADER = "# psfleet inventory written by psfleet; passwords are never stored here.\n"
_DEFAULT_TRANSPORT = Transport()
_DEFAULT_POLICY = Policy()


class _Dumper(yaml.SafeDumper):
    """``yaml.safe_dump``'s dumper, which also writes what a host's variables may hold from an
    Ansible inventory: an ``!unsafe`` value as the plain string it is, a vaulted one (even
    inside a list or mapping) as the ``!vault`` ciphertext it was, never decrypted."""


def _vaulted(dumper: yaml.SafeDumper, value: Vaulted) -> yaml.Node:
    return dumper.represent_scalar("!vault", value.ciphertext, style="|")


_Dumper.add_representer(Unsafe, yaml.SafeDumper.represent_str)
_Dumper.add_representer(Vaulted, _vaulted)


def host_entry(host: Host) -> dict[str, Any]:
    """The native mapping for one host (without its name)."""
    entry: dict[str, Any] = {}
    if host.address != host.name:
        entry["address"] = host.address
    for item in fields(Transport):
        value = getattr(host.transport, item.name)
        if value != getattr(_DEFAULT_TRANSPORT, item.name):
            entry[item.name] = value
    if host.username is not None:
        entry["username"] = host.username
    kind, ref = host.password.kind, host.password.ref
    if kind == "env":
        entry["password_env"] = ref
    elif kind == "keyring":
        entry["password_keyring"] = ref
    elif kind == "file":
        entry["password_file"] = ref
    elif kind == "prompt":
        entry["password_prompt"] = True
    if host.smb_port != 445:
        entry["smb_port"] = host.smb_port
    if host.site is not None:
        entry["site"] = host.site
    policy = {
        item.name: getattr(host.policy, item.name)
        for item in fields(Policy)
        if item.name != "checks" and getattr(host.policy, item.name) != getattr(_DEFAULT_POLICY, item.name)
    }
    policy.update(host.policy.checks)  # baseline checks' states, as the inventory wrote them
    if host.baselines:
        entry["baselines"] = list(host.baselines)
    if policy:
        entry["policy"] = policy
    if host.groups:
        entry["groups"] = list(host.groups)
    if host.vars:
        entry["meta"] = plain(host.vars)
    return entry


def _group_order(hosts: list[Host]) -> list[str]:
    """Groups in an order that keeps each host's ``groups`` order when read back.

    The native reader lists a host's groups in the order the groups are written, so a group
    first seen late is placed before the next group of that host that is already placed.
    """
    order: list[str] = []
    for host in hosts:
        for index, group in enumerate(host.groups):
            if group in order:
                continue
            later = [order.index(g) for g in host.groups[index + 1 :] if g in order]
            order.insert(min(later), group) if later else order.append(group)
    return order


def render_inventory(hosts: Iterable[Host]) -> str:
    """The YAML text :func:`write_inventory` writes."""
    hosts = list(hosts)
    groups = _group_order(hosts)
    document: dict[str, Any] = {"psfleet": 1}
    if groups:
        document["groups"] = dict.fromkeys(groups)
    document["hosts"] = {host.name: host_entry(host) for host in hosts}
    return _HEADER + yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def write_inventory(hosts: Iterable[Host], path: str | Path) -> None:
    """Write ``hosts`` as a native inventory at ``path``, atomically.

    The text goes to a temporary file in the same folder, is flushed to disk, then replaces
    ``path`` with ``os.replace``: readers see the old file or the new one, never half of one.
    The file is created with mode 0600 (it holds host names and user names).
    """
    target = Path(path)
    text = render_inventory(hosts)
    write_atomic(target, text, mode=0o600)
