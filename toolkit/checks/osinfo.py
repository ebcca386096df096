"""Moved to :mod:`toolkit.baselines.osinfo`: the baselines read it and the checks run the
baselines, so it lives below both (no import cycle between the two packages). This module
keeps ``from toolkit.checks.osinfo import ...`` working."""

from __future__ import annotations

from toolkit.baselines.osinfo import (
    BUILD_24H2,
    BUILD_WIN8,
    BUILD_WIN10,
    BUILD_WIN11,
    BUILD_WIN81,
    is_home_edition,
    is_server,
    os_info,
)

__all__ = [
    "BUILD_24H2",
    "BUILD_WIN8",
    "BUILD_WIN10",
    "BUILD_WIN11",
    "BUILD_WIN81",
    "is_home_edition",
    "is_server",
    "os_info",
]
