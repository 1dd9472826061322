"""``EventFactory``: short, reproducible ``NewEvent``s for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .._envelope import NewEvent

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


class EventFactory:
    """Builds events with a default workflow and a deterministic clock.

    ``event("step_started", step_id="s1", role="planner")`` returns a ``NewEvent`` of
    workflow ``"wf-1"`` (unless given) whose timestamp is one second after the previous
    event this factory built, starting at 2024-01-01T00:00:00Z. Fixed times keep the
    rows a projection derives from them the same on every run. Each event gets a fresh
    ``event_id``, as in production; pass ``event_id=`` to choose one.
    """

    def __init__(
        self,
        *,
        workflow_id: str = "wf-1",
        start: datetime = DEFAULT_START,
        tick: timedelta = timedelta(seconds=1),
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime (evstore stores UTC)")
        self.workflow_id = workflow_id
        self.tick = tick
        self._next = start

    @property
    def now(self) -> datetime:
        """The timestamp the next event gets."""
        return self._next

    def advance(self, by: timedelta) -> None:
        """Move the clock forward (or back, to build out-of-order timestamps)."""
        self._next += by

    def __call__(self, event_type: str, /, **fields: Any) -> NewEvent:
        fields.setdefault("workflow_id", self.workflow_id)
        if "timestamp" not in fields:
            fields["timestamp"] = self._next
            self._next += self.tick
        return NewEvent(event_type=event_type, **fields)

    def many(self, event_type: str, count: int, /, **fields: Any) -> list[NewEvent]:
        """``count`` events of one type with the same fields, one tick apart."""
        return [self(event_type, **fields) for _ in range(count)]
