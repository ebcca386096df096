"""Counts in prose: ``1 host``, ``2 hosts``, ``0 groups``."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the singular for exactly one, else ``plural`` (default noun + s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
