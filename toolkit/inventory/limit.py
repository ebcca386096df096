"""``--limit``: pick hosts by name, group, glob, exclusion and intersection (Ansible semantics).

Patterns may be repeated or separated by commas or colons (``web:&dc:!fs01``). Colons are not
separators inside an IPv6 address (``::1``, ``[fe80::1]``); use commas when mixing them.

* ``fs01``, ``fileservers``: a host or a group (a group includes its child groups' hosts);
* ``fs*``, ``web-0?``, ``[ab]*``: shell-style globs over host and group names;
* ``~regex``: a Python regular expression searched in host and group names;
* ``all`` or ``*``: every host; ``ungrouped``: hosts in no group;
* ``!pattern``: remove those hosts; ``&pattern``: keep only hosts also in that pattern.

As in Ansible, plain patterns are applied first (union), then ``&``, then ``!``; a limit of only
``!``/``&`` patterns starts from all hosts. Unlike Ansible, a pattern matching nothing is an
error (a typo in ``!fs01`` would otherwise select the host you meant to exclude), and so is a
limit that leaves no host. Host order is the inventory's.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import replace

from toolkit.errors import InventoryError
from toolkit.inventory.model import Inventory

_FIELD = "--limit"


def split_patterns(patterns: list[str]) -> list[str]:
    """Split repeated/comma/colon separated patterns, keeping IPv6 literals whole."""
    out: list[str] = []
    for text in patterns:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            bare = part.lstrip("!&").strip("[]")
            if ":" in part and _is_ipv6(bare):
                out.append(part)
            else:
                out.extend(p.strip() for p in part.split(":") if p.strip())
    return out


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _match(inv: Inventory, pattern: str) -> set[str]:
    """Names of the hosts one pattern selects (without its ``!``/``&`` prefix)."""
    names = [h.name for h in inv.hosts]
    if pattern in ("all", "*") and "all" not in inv.groups:
        return set(names)
    if pattern == "ungrouped" and "ungrouped" not in inv.groups:
        return {h.name for h in inv.hosts if not h.groups}
    if pattern.startswith("~"):
        try:
            regex = re.compile(pattern[1:])
        except re.error as exc:
            raise InventoryError(f"bad regular expression {pattern!r}: {exc}", field=_FIELD) from None
        host_hit = {n for n in names if regex.search(n)}
        group_hit = [g for g in inv.groups if regex.search(g)]
    elif any(ch in pattern for ch in "*?[") and not _is_ipv6(pattern.strip("[]")):
        host_hit = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
        group_hit = [g for g in inv.groups if fnmatch.fnmatchcase(g, pattern)]
    else:
        bare = pattern.strip("[]") if _is_ipv6(pattern.strip("[]")) else pattern
        host_hit = {n for n in names if n == bare}
        group_hit = [pattern] if pattern in inv.groups else []
    for group in group_hit:
        host_hit.update(inv.groups[group])
    if not host_hit and not group_hit:
        raise InventoryError(f"{pattern!r} matches no host or group in {inv.source}", field=_FIELD)
    return host_hit


def apply_limit(inv: Inventory, patterns: list[str]) -> Inventory:
    """The inventory restricted to the hosts the patterns select; order and groups kept.

    An empty ``patterns`` list returns ``inv`` unchanged. Raises :class:`InventoryError` with
    field ``--limit`` when a pattern matches nothing or when no host is left.
    """
    parts = split_patterns(patterns)
    if not parts:
        return inv
    plain = [p for p in parts if p[0] not in "!&"]
    intersect = [p[1:] for p in parts if p.startswith("&")]
    exclude = [p[1:] for p in parts if p.startswith("!")]
    if not all(intersect + exclude):
        raise InventoryError("'!' or '&' must be followed by a pattern", field=_FIELD)
    selected: set[str] = set()
    if plain:
        for pattern in plain:
            selected |= _match(inv, pattern)
    else:
        selected = {h.name for h in inv.hosts}
    for pattern in intersect:
        selected &= _match(inv, pattern)
    for pattern in exclude:
        selected -= _match(inv, pattern)
    if not selected:
        raise InventoryError(f"the limit {','.join(parts)!r} leaves no host", field=_FIELD)
    hosts = tuple(h for h in inv.hosts if h.name in selected)
    groups = {name: tuple(n for n in members if n in selected) for name, members in inv.groups.items()}
    return replace(inv, hosts=hosts, groups=groups)
