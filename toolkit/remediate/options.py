"""Options of a remediation run, and the parsers behind ``--batch`` and ``--expires``."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from toolkit.errors import UsageError
from toolkit.fanout.runner import FanoutOptions

T = TypeVar("T")

DEFAULT_EXPIRY = "7d"


@dataclass(frozen=True)
class RemediateOptions:
    """``batch``: hosts per batch (``"10"``) or a share of the fleet (``"10%"``); the first
    batch is the canary. The rollout stops before the next batch when more than
    ``max_fail_percent`` of a batch failed (not reached, or a change not verified)."""

    fanout: FanoutOptions = field(default_factory=FanoutOptions)
    batch: str | None = None
    max_fail_percent: float = 0.0


def parse_batch(text: str | None, total: int) -> int:
    """Hosts per batch for ``--batch N`` / ``--batch P%`` over ``total`` hosts (at least 1;
    ``None``: everything in one batch)."""
    if text is None or not text.strip():
        return max(total, 1)
    value = text.strip()
    try:
        if value.endswith("%"):
            percent = float(value[:-1])
            if not 0 < percent <= 100:
                raise ValueError
            return max(1, math.ceil(total * percent / 100))
        count = int(value)
        if count < 1:
            raise ValueError
        return count
    except ValueError:
        raise UsageError(
            f"{text!r} is not a batch size: use a host count (5) or a percentage (10%)", field="--batch"
        ) from None


def split_batches(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)] or [[]]


_DURATION = re.compile(r"^(\d+)\s*([dhm])$")


def parse_expires(text: str, *, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``90m`` from now, or an ISO date/time (``2026-05-01``, a date means
    its end, 23:59:59 UTC). Always returns an aware UTC datetime in the future."""
    moment = now or datetime.now(UTC)
    value = text.strip().lower()
    match = _DURATION.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[
            unit
        ]
        if amount <= 0:
            raise UsageError(f"{text!r}: the duration must be positive", field="--expires")
        return moment + delta
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{text!r} is not an expiry: use 7d, 12h, 90m or an ISO date (2026-05-01)", field="--expires"
        ) from None
    if len(text.strip()) == 10:  # a bare date: valid through that day
        parsed = parsed.replace(hour=23, minute=59, second=59)
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if parsed <= moment:
        raise UsageError(f"{text!r} is in the past", field="--expires")
    return parsed
