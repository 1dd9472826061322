"""The steps projection on random valid histories: the kit's contract (rebuild,
redelivery, unknown types, table ownership, atomicity, handler errors), and a plain
model of the documented semantics that the table must match.

Both use one strategy, so they live in one module (under ``--import-mode=importlib``
test modules cannot import each other).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_steps
import evstore_workflows
from evstore import EventStore, NewEvent
from evstore.testing import ProjectionContract, StoreFactory
from evstore.testing import strategies as evst
from evstore_steps import list_steps
from evstore_supervisor import strategies as svst

WORKFLOW_IDS = ["wf-1", "wf-2"]
STEP_IDS = ["s-1", "s-2", "s-10", "s-3"]
ROLES = ["implementer", "reviewer"]
KINDS = ["step_started", "step_applying", "step_completed", "step_failed", "step_retried", "step_status_changed"]
STATUSES = ["pending", "in_progress", "completed", "failed", "blocked", "awaiting_approval", "applying"]
ZONES = [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))]

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(ZONES)
)
json_values = st.one_of(
    st.none(), st.booleans(), st.integers(), evst.texts(max_size=6),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(evst.texts(max_size=3), max_size=3),
)
json_objects = st.dictionaries(evst.texts(max_size=6), json_values, max_size=3)


@st.composite
def step_events(draw: st.DrawFn) -> NewEvent:
    kind = draw(st.sampled_from(KINDS))
    payload: dict[str, Any] = {}
    if kind == "step_started":
        role: str | None = draw(st.sampled_from(ROLES))
        if draw(st.booleans()):
            payload["gates"] = draw(st.lists(evst.texts(max_size=5), max_size=3))
        if draw(st.booleans()):
            payload["context"] = draw(json_objects)
    else:
        role = draw(st.none() | st.sampled_from(ROLES))
    if kind == "step_completed" and draw(st.booleans()):
        payload["output"] = draw(st.none() | json_objects)
    if kind == "step_failed" and draw(st.booleans()):
        payload["error"] = draw(st.none() | evst.texts(max_size=10))
    if kind == "step_status_changed":
        payload["status"] = draw(st.sampled_from(STATUSES))
        if draw(st.booleans()):
            payload["output"] = draw(st.none() | json_objects)
        if draw(st.booleans()):
            payload["error"] = draw(st.none() | evst.texts(max_size=10))
    return NewEvent(
        workflow_id=draw(st.sampled_from(WORKFLOW_IDS)), event_type=kind,
        step_id=draw(st.sampled_from(STEP_IDS)), role=role, payload=payload, timestamp=draw(moments),
        event_id=draw(st.uuids()),  # drawn, so a failing example replays exactly
    )


class TestStepsContract(ProjectionContract):
    plugins = (evstore_steps,)
    projection_name = "steps"
    events = evst.event_lists(step_events(), max_size=40)


class TestStepsContractOnSupervisorRuns(ProjectionContract):
    """Whole runs as the supervisor records them (steps started, applied, failed,
    retried, completed, in several interleaved workflows), beside the workflows
    projection that also handles step_started."""

    plugins = (evstore_steps, evstore_workflows)
    projection_name = "steps"
    events = svst.histories(max_workflows=3, max_steps=3, metrics=False)
    max_examples = 10



class TestStepsContractInSmallBatches(TestStepsContract):
    """The replaying checks again, with replays three events at a time: the contract's
    histories fit in one batch of the usual size, and the batch handler must also fold
    into the rows earlier batches wrote (a step started in one batch, retried in the
    next, completed in a third)."""

    replay_batch_size = 3
    replay_checks_only = True

@dataclass
class ExpectedStep:
    workflow_id: str
    role: str | None
    created_at: datetime
    updated_at: datetime
    status: str = ""
    gates: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] | None = None
    error: str | None = None
    retry_count: int = 0


def expected_steps(history: list[NewEvent]) -> dict[str, ExpectedStep]:
    """The documented semantics, written as plainly as possible; dict order = creation order."""
    rows: dict[str, ExpectedStep] = {}
    for event in history:
        assert event.step_id is not None and event.timestamp is not None and isinstance(event.payload, dict)
        kind, payload = event.event_type, event.payload
        row = rows.get(event.step_id)
        if row is None:
            row = ExpectedStep(event.workflow_id, event.role, event.timestamp, event.timestamp)
            rows[event.step_id] = row
        row.updated_at = event.timestamp
        if row.role is None:
            row.role = event.role
        if kind == "step_started":
            row.status, row.workflow_id, row.role = "in_progress", event.workflow_id, event.role
            row.gates, row.context = payload.get("gates") or [], payload.get("context") or {}
            row.output = row.error = None
        elif kind == "step_applying":
            row.status = "applying"
        elif kind == "step_completed":
            row.status, row.output = "completed", payload.get("output")
        elif kind == "step_failed":
            row.status, row.error = "failed", payload.get("error")
        elif kind == "step_status_changed":
            row.status, row.output, row.error = payload["status"], payload.get("output"), payload.get("error")
        else:
            row.status, row.retry_count = "in_progress", row.retry_count + 1
    return rows


def all_rows(store: EventStore) -> list[tuple[Any, ...]]:
    return store.reader.fetchall("SELECT * FROM steps ORDER BY id")


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(step_events(), min_size=1, max_size=4), max_size=20))
def test_the_table_follows_the_documented_semantics_and_a_rebuild_reproduces_it(batches: list[list[NewEvent]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        factory = StoreFactory(folder)
        try:
            store = factory([evstore_steps])
            for batch in batches:
                store.append_many(batch)
            history = [event for batch in batches for event in batch]

            expected = expected_steps(history)
            for workflow_id in WORKFLOW_IDS:
                actual = [(step.id, ExpectedStep(**step.model_dump(exclude={"id"})))
                          for step in list_steps(store, workflow_id)]
                assert actual == [(k, v) for k, v in expected.items() if v.workflow_id == workflow_id]

            incremental = all_rows(store)
            assert store.rebuild(["steps"]) == len(history)
            assert all_rows(store) == incremental
        finally:
            factory.close_all()
