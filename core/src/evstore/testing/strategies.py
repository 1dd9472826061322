"""hypothesis strategies for event envelopes, supervisor workflows and histories.

``event_envelopes`` builds single events of any type; ``workflows`` builds one
workflow's life as the first-party plugins record it (``workflow_started``, steps that
start, apply, complete, fail and are retried, ``metric_recorded`` for each attempt, and
an ending), valid against the payload models and required fields of the
``evstore-workflows``, ``evstore-steps`` and ``evstore-metrics`` plugins; ``histories``
interleaves several workflows the way concurrent runs would reach the log.

Every event carries an explicit ``event_id`` and ``timestamp`` drawn by hypothesis, so a
failing example replays exactly. Importing this module imports hypothesis (a test-time
dependency); ``import evstore.testing`` alone does not.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import strategies as st

from .._envelope import NewEvent

T = TypeVar("T")

ROLES = ("planner", "implementer", "reviewer")
CLIS = ("claude", "codex", "gemini")
TASK_TYPES = ("plan", "implement", "review", "other")
ZONES = (UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30)))

__all__ = [
    "CLIS",
    "ROLES",
    "TASK_TYPES",
    "event_envelopes",
    "event_lists",
    "histories",
    "identifiers",
    "json_objects",
    "json_values",
    "texts",
    "timestamps",
    "workflows",
]


def _strategy(value: st.SearchStrategy[T] | Sequence[T] | None) -> st.SearchStrategy[T | None]:
    """A strategy as given, a fixed choice among a sequence's items, or always None."""
    if value is None:
        return st.none()
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, str):
        return st.just(value)  # type: ignore[arg-type]  # a str is a sequence, but meant as one value
    return st.sampled_from(list(value))


def identifiers(*, min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[str]:
    """Short ids: letters, digits, ``-``, ``_``, ``.``, ``:`` and ``/``."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/"
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def texts(*, min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Any text a payload may hold: every Unicode character except NUL (which the store
    refuses, as PostgreSQL cannot keep it) and lone surrogates (not valid Unicode). Use it
    where you would write ``st.text()`` in a payload strategy."""
    alphabet = st.characters(codec="utf-8", exclude_characters="\x00")  # utf-8: no lone surrogates
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def timestamps(
    *, min_value: datetime = datetime(2000, 1, 1), max_value: datetime = datetime(2100, 1, 1)
) -> st.SearchStrategy[datetime]:
    """Aware datetimes in UTC and two other offsets (the store converts them to UTC)."""
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=st.sampled_from(ZONES))


def json_values(*, max_leaves: int = 6) -> st.SearchStrategy[Any]:
    """Anything a payload may hold: None, booleans, integers, finite floats, text, and
    lists and string-keyed dicts of those."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(max_size=8),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts(max_size=6), inner, max_size=3),
        max_leaves=max_leaves,
    )


def json_objects(*, max_size: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Payload-shaped dicts with JSON values."""
    return st.dictionaries(texts(max_size=6), json_values(), max_size=max_size)


def event_envelopes(
    event_types: st.SearchStrategy[str] | Sequence[str],
    *,
    workflow_ids: st.SearchStrategy[str] | Sequence[str] = ("wf-1", "wf-2", "wf-3"),
    roles: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    step_ids: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    component_ids: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    statuses: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    payloads: st.SearchStrategy[dict[str, Any]] | None = None,
    metadata: st.SearchStrategy[dict[str, Any]] | None = None,
) -> st.SearchStrategy[NewEvent]:
    """Single events. Each field is a strategy, a sequence to choose from, or ``None``
    (the field stays unset). Small pools of ids (the defaults) make events of one
    history meet on the same workflows and steps, which is where projections go wrong.
    """
    return st.builds(
        NewEvent,
        workflow_id=_strategy(workflow_ids),
        event_type=_strategy(event_types),
        role=_strategy(roles),
        step_id=_strategy(step_ids),
        component_id=_strategy(component_ids),
        status=_strategy(statuses),
        payload=payloads if payloads is not None else st.just({}),
        metadata=metadata if metadata is not None else st.just({}),
        event_id=st.uuids(),
        timestamp=timestamps(),
    )


def event_lists(
    envelopes: st.SearchStrategy[NewEvent], *, min_size: int = 0, max_size: int = 20
) -> st.SearchStrategy[list[NewEvent]]:
    """Lists of events with distinct event ids (a repeated id would be a retry)."""
    return st.lists(envelopes, min_size=min_size, max_size=max_size, unique_by=lambda e: str(e.event_id))


# --- supervisor workflows ---------------------------------------------------------------


class _Clock:
    """Moves forward by drawn amounts, so a workflow's events have increasing times."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw
        self.now: datetime = draw(timestamps(max_value=datetime(2090, 1, 1)))

    def tick(self) -> datetime:
        self.now += timedelta(microseconds=self._draw(st.integers(min_value=1, max_value=3_600_000_000)))
        return self.now


@st.composite
def _metric(draw: st.DrawFn, clock: _Clock, workflow_id: str, role: str, success: bool, retries: int) -> NewEvent:
    payload: dict[str, Any] = {
        "cli": draw(st.sampled_from(CLIS)),
        "task_type": draw(st.sampled_from(TASK_TYPES)),
        "success": success,
        "duration_seconds": draw(st.floats(min_value=0, max_value=3600, allow_nan=False, allow_subnormal=False)),
        "retry_count": retries,
    }
    if draw(st.booleans()):
        payload["token_usage"] = draw(st.integers(min_value=0, max_value=200_000))
    if not success and draw(st.booleans()):
        payload["error_category"] = draw(st.sampled_from(["timeout", "test_failure", "crash"]))
    return NewEvent(
        workflow_id=workflow_id, event_type="metric_recorded", role=role, payload=payload,
        event_id=draw(st.uuids()), timestamp=clock.tick(),
    )


@st.composite
def _step(draw: st.DrawFn, clock: _Clock, workflow_id: str, step_id: str, metrics: bool) -> tuple[list[NewEvent], bool]:
    """One step's events and whether it completed."""
    role = draw(st.sampled_from(ROLES))

    def event(event_type: str, **fields: Any) -> NewEvent:
        return NewEvent(
            workflow_id=workflow_id, event_type=event_type, step_id=step_id,
            event_id=draw(st.uuids()), timestamp=clock.tick(), **fields,
        )

    started: dict[str, Any] = {}
    if draw(st.booleans()):
        started["gates"] = draw(st.lists(st.sampled_from(["lint", "tests", "review"]), max_size=2, unique=True))
    events = [event("step_started", role=role, payload=started)]
    attempts = draw(st.integers(min_value=1, max_value=3))
    completed = False
    for attempt in range(attempts):
        if attempt:
            events.append(event("step_retried", role=draw(st.sampled_from([None, role]))))
        if draw(st.booleans()):
            events.append(event("step_applying"))
        outcome = draw(st.sampled_from(["completed", "failed", "running"]))
        if metrics and outcome != "running":
            events.append(draw(_metric(clock, workflow_id, role, outcome == "completed", attempt)))
        if outcome == "completed":
            output = draw(st.none() | st.fixed_dictionaries({}, optional={"summary": texts(max_size=8)}))
            events.append(event("step_completed", payload={"output": output}))
            completed = True
            break
        if outcome == "failed":
            events.append(event("step_failed", payload={"error": draw(texts(max_size=10))}))
        else:
            break  # still running: nothing follows
    return events, completed


@st.composite
def workflows(
    draw: st.DrawFn,
    workflow_id: st.SearchStrategy[str] | str | None = None,
    *,
    max_steps: int = 4,
    metrics: bool = True,
    finish: bool = True,
) -> list[NewEvent]:
    """One workflow's events, in order: ``workflow_started``, then up to ``max_steps``
    steps (one after the other; a step may fail, be retried, complete or stay running),
    a ``metric_recorded`` per finished attempt if ``metrics``, and, if ``finish``, maybe
    ``workflow_completed`` (when every step completed) or ``workflow_failed``.

    Step ids are ``<workflow_id>/<n>``, so steps of different workflows never collide.
    """
    chosen = draw(_strategy(workflow_id) if workflow_id is not None else identifiers().map(lambda s: f"wf-{s}"))
    assert chosen is not None
    clock = _Clock(draw)
    step_count = draw(st.integers(min_value=0, max_value=max_steps))
    started: dict[str, Any] = {}
    if step_count and draw(st.booleans()):
        started["initial_step"] = f"{chosen}/1"
    events = [
        NewEvent(workflow_id=chosen, event_type="workflow_started", payload=started,
                 event_id=draw(st.uuids()), timestamp=clock.tick())
    ]
    all_completed = True
    for number in range(1, step_count + 1):
        step_events, completed = draw(_step(clock, chosen, f"{chosen}/{number}", metrics))
        events.extend(step_events)
        all_completed = all_completed and completed
        if not completed:
            break
    if finish:
        ending = draw(st.sampled_from(["completed", "failed", None] if all_completed else ["failed", None]))
        if ending == "completed":
            events.append(NewEvent(workflow_id=chosen, event_type="workflow_completed",
                                   event_id=draw(st.uuids()), timestamp=clock.tick()))
        elif ending == "failed":
            events.append(NewEvent(workflow_id=chosen, event_type="workflow_failed",
                                   payload={"error": draw(texts(max_size=10))},
                                   event_id=draw(st.uuids()), timestamp=clock.tick()))
    return _with_unique_ids(events)


@st.composite
def histories(
    draw: st.DrawFn, *, max_workflows: int = 3, max_steps: int = 3, metrics: bool = True
) -> list[NewEvent]:
    """Several workflows (ids ``wf-1``, ``wf-2``, …) interleaved in one log, each in its
    own order, as concurrent runs would append them."""
    count = draw(st.integers(min_value=0, max_value=max_workflows))
    pending = [
        draw(workflows(f"wf-{n}", max_steps=max_steps, metrics=metrics)) for n in range(1, count + 1)
    ]
    merged: list[NewEvent] = []
    while pending:
        index = draw(st.integers(min_value=0, max_value=len(pending) - 1))
        merged.append(pending[index].pop(0))
        if not pending[index]:
            pending.pop(index)
    return _with_unique_ids(merged)


def _with_unique_ids(events: list[NewEvent]) -> list[NewEvent]:
    """hypothesis draws duplicate values on purpose; two events of one history with the
    same id would be a retry, not two events. Replace repeats deterministically."""
    seen: set[str] = set()
    result: list[NewEvent] = []
    for event in events:
        key = str(event.event_id)
        if key in seen:
            key = str(uuid.uuid5(uuid.NAMESPACE_OID, f"evstore.testing:{key}:{len(result)}"))
            event = dataclasses.replace(event, event_id=key)
        seen.add(key)
        result.append(event)
    return result

