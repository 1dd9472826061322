"""Reading the board."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from evstore import EventStore, UnknownProjectionError

from ._projection import PROJECTION_NAME


class RoleActivity(BaseModel):
    """One role's line on the board."""

    role: str
    open_steps: int
    """Steps the role started that are running or applying now."""
    steps_started: int
    steps_completed: int
    steps_failed: int
    retries: int
    runs_measured: int
    success_rate: float | None
    """Share of measured runs (``metric_recorded``) that succeeded; None before any."""
    mean_seconds: float | None
    """Mean duration of measured runs; None before any."""
    last_active_at: datetime


_SELECT = (
    "SELECT r.role, (SELECT COUNT(*) FROM activity_steps s WHERE s.role = r.role "
    "AND s.state IN ('running', 'applying')), r.steps_started, r.steps_completed, r.steps_failed, "
    "r.retries, r.runs_measured, r.runs_succeeded, r.seconds_measured, r.last_active_at FROM activity_roles r"
)


def activity_board(store: EventStore) -> list[RoleActivity]:
    """Every role seen, busiest first (most open steps, then most recently active)."""
    _require(store)
    rows = store.reader.fetchall(_SELECT + " ORDER BY 2 DESC, r.last_position DESC, r.role")
    return [_activity(row) for row in rows]


def role_activity(store: EventStore, role: str) -> RoleActivity | None:
    """One role's line, or None if the role never did anything."""
    _require(store)
    row = store.reader.fetchone(_SELECT + " WHERE r.role = ?", (role,))
    return None if row is None else _activity(row)


def _activity(row: Any) -> RoleActivity:
    role, open_steps, started, completed, failed, retries, measured, succeeded, seconds, last = row
    return RoleActivity(
        role=role, open_steps=open_steps, steps_started=started, steps_completed=completed,
        steps_failed=failed, retries=retries, runs_measured=measured,
        success_rate=succeeded / measured if measured else None,
        mean_seconds=seconds / measured if measured else None,
        last_active_at=last,
    )


def _require(store: EventStore) -> None:
    if not store.has_projection(PROJECTION_NAME):
        raise UnknownProjectionError(
            f"the {PROJECTION_NAME!r} projection is not loaded in this store: install "
            "evstore-activity-board, or pass plugins=[evstore_activity_board] to EventStore.open"
        )
