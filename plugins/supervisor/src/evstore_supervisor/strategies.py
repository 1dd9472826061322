"""hypothesis strategies for supervisor workflows and histories of them.

``workflows`` builds one workflow's life as the supervisor records it through the
first-party plugins (``workflow_started``, steps that start, apply, complete, fail and
are retried, ``metric_recorded`` for each attempt, and an ending), valid against the
payload models and required fields of the ``evstore-workflows``, ``evstore-steps`` and
``evstore-metrics`` plugins; ``histories`` interleaves several workflows the way
concurrent runs would reach the log. Roles, CLIs and task types are the supervisor's.

Every event carries an explicit ``event_id`` and ``timestamp`` drawn by hypothesis, so a
failing example replays exactly. Importing this module imports hypothesis (install
``evstore-supervisor[testing]``); ``import evstore_supervisor`` alone does not.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from evstore import NewEvent
from evstore.testing import strategies as evst

ROLES = ("planner", "implementer", "reviewer")
CLIS = ("claude", "codex", "gemini")
TASK_TYPES = ("plan", "implement", "review", "other")

__all__ = ["CLIS", "ROLES", "TASK_TYPES", "histories", "workflows"]


class _Clock:
    """Moves forward by drawn amounts, so a workflow's events have increasing times."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw
        self.now: datetime = draw(evst.timestamps(max_value=datetime(2090, 1, 1)))

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
            output = draw(st.none() | st.fixed_dictionaries({}, optional={"summary": evst.texts(max_size=8)}))
            events.append(event("step_completed", payload={"output": output}))
            completed = True
            break
        if outcome == "failed":
            events.append(event("step_failed", payload={"error": draw(evst.texts(max_size=10))}))
        else:
            break  # still running: nothing follows
    return events, completed


def _ending(draw: st.DrawFn, clock: _Clock, workflow_id: str, all_completed: bool) -> list[NewEvent]:
    """Maybe ``workflow_completed`` (only when every step completed) or ``workflow_failed``."""
    ending = draw(st.sampled_from(["completed", "failed", None] if all_completed else ["failed", None]))
    if ending == "completed":
        return [NewEvent(workflow_id=workflow_id, event_type="workflow_completed",
                         event_id=draw(st.uuids()), timestamp=clock.tick())]
    if ending == "failed":
        return [NewEvent(workflow_id=workflow_id, event_type="workflow_failed",
                         payload={"error": draw(evst.texts(max_size=10))},
                         event_id=draw(st.uuids()), timestamp=clock.tick())]
    return []


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

    ``workflow_id`` is an id, a strategy for one, or ``None`` (``wf-`` and a drawn id).
    Step ids are ``<workflow_id>/<n>``, so steps of different workflows never collide.
    """
    if isinstance(workflow_id, str):
        chosen = workflow_id
    else:
        chosen = draw(workflow_id if workflow_id is not None else evst.identifiers().map(lambda s: f"wf-{s}"))
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
        events.extend(_ending(draw, clock, chosen, all_completed))
    return evst.with_distinct_event_ids(events)


@st.composite
def histories(
    draw: st.DrawFn, *, max_workflows: int = 3, max_steps: int = 3, metrics: bool = True
) -> list[NewEvent]:
    """Several workflows (ids ``wf-1``, ``wf-2``, …) interleaved in one log, each in its
    own order, as concurrent runs would append them."""
    count = draw(st.integers(min_value=0, max_value=max_workflows))
    streams = [draw(workflows(f"wf-{n}", max_steps=max_steps, metrics=metrics)) for n in range(1, count + 1)]
    return draw(evst.interleavings(streams))
