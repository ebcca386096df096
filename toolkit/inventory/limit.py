"""``--limit``: pick hosts by name, group, glob, exclusion and intersection (Ansible semantics).

Patterns may be repeated or separated by commas or colons (``web:&dc:!fs01``). Colons are not
separators inside an IPv6 address (``::1``, ``[fe80::1]``); use commas when mixing them.

* ``fs01``, ``fileservers``: a host or a group (a group includes its child groups' hosts);
* ``fs*``, ``web-0?``, ``[ab]*``: shell-style globs over host and group names;
* ``~regex``: a Python regular expression matched at the start of host and group names
  (``re.match``, as Ansible: ``~web`` selects ``web01``, ``~eb`` does not);
* ``all`` or ``*``: every host; ``ungrouped``: hosts in no group;
* ``!pattern``: remove those hosts; ``&pattern``: keep only hosts also in that pattern;
* ``group[0]``, ``group[-1]``, ``group[1:]``, ``group[0:2]`` (``[0-1]`` too): hosts of a
  pattern by position (both ends included), in the inventory's group order.

A group pattern selects the group's hosts (its children's included); a host name is tried
only when no group matched or when the pattern is a glob, a regex or contains a dot, as in
Ansible. For Ansible inventories, positions count every host of the group, also hosts that
psfleet skips (not on WinRM), so ``windows[0]`` means the host Ansible would pick.

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


#: Ansible's split at colons outside brackets (``web[1:]:&dc`` -> ``web[1:]``, ``&dc``).
_COLON_PARTS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


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
                out.extend(_COLON_PARTS.findall(part))
    return out


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")


def _split_subscript(pattern: str) -> tuple[str, tuple[int, int | None] | None]:
    """``web[1:]`` -> ``("web", (1, -1))``; ``web[0]`` -> ``("web", (0, None))``."""
    if pattern.startswith("~") or _is_ipv6(pattern.strip("[]")):
        return pattern, None
    match = _SUBSCRIPT.match(pattern)
    if match is None:
        return pattern, None
    expr, index, start, _sep, end = match.groups()
    if index is not None:
        return expr, (int(index), None)
    return expr, (int(start), int(end) if end else -1)


def _apply_subscript(names: list[str], subscript: tuple[int, int | None], pattern: str) -> list[str]:
    start, end = subscript
    try:
        if end:  # Ansible: [x:0] means [x]
            stop = len(names) - 1 if end == -1 else end
            return names[start : stop + 1]
        return [names[start]]
    except IndexError:
        raise InventoryError(f"{pattern!r}: no host at that position", field=_FIELD) from None


def _matcher(expr: str) -> re.Pattern[str]:
    try:
        return re.compile(expr[1:]) if expr.startswith("~") else re.compile(fnmatch.translate(expr))
    except re.error as exc:
        raise InventoryError(f"bad regular expression {expr!r}: {exc}", field=_FIELD) from None


def _match(inv: Inventory, pattern: str) -> list[str]:
    """Names of the hosts one pattern selects (without its ``!``/``&`` prefix), in order."""
    groups = inv.ansible_groups if inv.ansible_groups is not None else inv.groups
    names = list(groups["all"]) if "all" in groups else [h.name for h in inv.hosts]
    expr, subscript = _split_subscript(pattern)
    if expr in ("all", "*"):
        found = list(names)
    elif expr == "ungrouped" and "ungrouped" not in groups:
        found = [h.name for h in inv.hosts if not h.groups]
    else:
        bare = expr.strip("[]") if _is_ipv6(expr.strip("[]")) else expr
        regex = _matcher(bare)
        group_hit = [g for g in groups if g not in ("all",) and regex.match(g)]
        found = []
        for group in group_hit:
            found.extend(n for n in groups[group] if n not in found)
        special = expr.startswith("~") or any(ch in expr for ch in ".?*[")
        if not group_hit or special:
            found.extend(n for n in names if regex.match(n) and n not in found)
        if not found and not group_hit:
            raise InventoryError(f"{pattern!r} matches no host or group in {inv.source}", field=_FIELD)
    return _apply_subscript(found, subscript, pattern) if subscript else found


def select(inv: Inventory, parts: list[str]) -> set[str]:
    """Host names (skipped Ansible hosts included) the split patterns select: plain patterns
    (union) first, then ``&``, then ``!``."""
    plain = [p for p in parts if p[0] not in "!&"]
    intersect = [p[1:] for p in parts if p.startswith("&")]
    exclude = [p[1:] for p in parts if p.startswith("!")]
    if not all(intersect + exclude):
        raise InventoryError("'!' or '&' must be followed by a pattern", field=_FIELD)
    selected: set[str] = set()
    if plain:
        for pattern in plain:
            selected.update(_match(inv, pattern))
    else:
        groups = inv.ansible_groups
        selected = set(groups["all"]) if groups and "all" in groups else {h.name for h in inv.hosts}
    for pattern in intersect:
        selected &= set(_match(inv, pattern))
    for pattern in exclude:
        selected -= set(_match(inv, pattern))
    return selected


def apply_limit(inv: Inventory, patterns: list[str]) -> Inventory:
    """The inventory restricted to the hosts the patterns select; order and groups kept.

    An empty ``patterns`` list returns ``inv`` unchanged. Raises :class:`InventoryError` with
    field ``--limit`` when a pattern matches nothing or when no host is left.
    """
    parts = split_patterns(patterns)
    if not parts:
        return inv
    selected = select(inv, parts)
    managed = selected & {h.name for h in inv.hosts}
    if not managed:
        also = f" psfleet manages ({len(selected)} selected, none on WinRM)" if selected else ""
        raise InventoryError(f"the limit {','.join(parts)!r} leaves no host{also}", field=_FIELD)
    selected = managed
    hosts = tuple(h for h in inv.hosts if h.name in selected)
    groups = {name: tuple(n for n in members if n in selected) for name, members in inv.groups.items()}
    return replace(inv, hosts=hosts, groups=groups)
