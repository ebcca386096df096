"""Moved to :mod:`toolkit.baselines.facts`: the baselines read it and the checks run the
baselines, so it lives below both (no import cycle between the two packages). This module
keeps ``from toolkit.checks.facts import ...`` working."""

from __future__ import annotations

from toolkit.baselines.facts import (
    ABSENT,
    CURRENT_VERSION_KEY,
    SERVER_KEY,
    WORKSTATION_KEY,
    HostFacts,
    KeyFacts,
    ProbeError,
    RegKind,
    RegValue,
    normalize_key,
)

__all__ = [
    "ABSENT",
    "CURRENT_VERSION_KEY",
    "SERVER_KEY",
    "WORKSTATION_KEY",
    "HostFacts",
    "KeyFacts",
    "ProbeError",
    "RegKind",
    "RegValue",
    "normalize_key",
]
