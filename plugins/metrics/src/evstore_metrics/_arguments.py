"""Checking query arguments, and the time window as a comparable timestamp.

Every value a caller passes reaches SQL only as a bound parameter; these checks exist
so that a wrong type fails loudly here instead of silently matching nothing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

# Matches the log's timestamps (aware UTC, ISO-8601, always with microseconds): two
# texts in this one format compare in the same order as the moments they denote.
_TIMESPEC = "microseconds"


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec=_TIMESPEC)


def window_start(days: Any, now: Any = None) -> str:
    """The earliest timestamp inside the last ``days`` days before ``now`` (default:
    the current time), formatted like the stored timestamps so SQL can compare text.

    Computed here and bound as a parameter: the original interpolated ``days`` into
    its SQL. A window reaching back past year 1 has no lower bound (``""`` sorts
    before every timestamp).
    """
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        raise TypeError(f"days must be a number (int or float), got {type(days).__name__} {days!r:.60}")
    if not math.isfinite(days) or days < 0:
        raise ValueError(f"days must be a finite number >= 0, got {days!r}")
    moment = _now(now)
    try:
        return format_timestamp(moment - timedelta(days=days))
    except OverflowError:
        return ""


def _now(now: Any) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, got {type(now).__name__} {now!r:.60}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            f"now={now.isoformat()} has no time zone; pass an aware datetime "
            "(for example datetime.now(timezone.utc))"
        )
    return now


def optional_text(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__} {value!r:.60}")
    return value


def required_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r:.60}")
    return value


def count(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r:.60}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value
