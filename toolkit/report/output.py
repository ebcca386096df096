"""Reports are written atomically: see :mod:`toolkit.atomic`."""

from __future__ import annotations

from toolkit.atomic import write_atomic

__all__ = ["write_atomic"]
