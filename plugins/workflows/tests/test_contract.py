"""The workflows projection on random valid histories: the kit's contract (rebuild,
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
from evstore_supervisor import strategies as svst
from evstore_workflows import list_workflows

WORKFLOW_IDS = ["wf-1", "wf-2", "wf-10"]
STEP_IDS = ["s-1", "s-2", "s-10"]
KINDS = ["workflow_started", "workflow_completed", "workflow_failed", "step_started"]
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(ZONES)
)
json_values = st.one_of(
    st.none(), st.booleans(), st.integers(), evst.texts(max_size=6),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=3),
)
contexts = st.dictionaries(evst.texts(max_size=6), json_values, max_size=3)


@st.composite
def workflow_events(draw: st.DrawFn) -> NewEvent:
    workflow_id = draw(st.sampled_from(WORKFLOW_IDS))
    at = draw(moments)
    kind = draw(st.sampled_from(KINDS))
    payload: dict[str, Any] = {}
    step_id = role = None
    if kind == "workflow_started":
        if draw(st.booleans()):
            payload["initial_step"] = draw(st.none() | st.sampled_from(STEP_IDS))
        if draw(st.booleans()):
            payload["context"] = draw(contexts)
    elif kind == "workflow_failed" and draw(st.booleans()):
        payload["error"] = draw(st.none() | evst.texts(max_size=10))
    elif kind == "step_started":
        step_id, role = draw(st.sampled_from(STEP_IDS)), "implementer"
    return NewEvent(
        workflow_id=workflow_id, event_type=kind, payload=payload, timestamp=at, step_id=step_id, role=role,
        event_id=draw(st.uuids()),  # drawn, so a failing example replays exactly
    )


class TestWorkflowsContract(ProjectionContract):
    # evstore-steps declares step_started in production, so appends are validated as
    # users' are (and its projection runs beside this one, which must not touch it).
    plugins = (evstore_workflows, evstore_steps)
    projection_name = "workflows"
    events = evst.event_lists(workflow_events(), max_size=40)


class TestWorkflowsContractOnSupervisorRuns(ProjectionContract):
    """Whole runs as the supervisor records them: started, steps one after another, an
    ending, in several interleaved workflows."""

    plugins = (evstore_workflows, evstore_steps)
    projection_name = "workflows"
    events = svst.histories(max_workflows=3, max_steps=3, metrics=False)
    max_examples = 10



class TestWorkflowsContractInSmallBatches(TestWorkflowsContract):
    """The replaying checks again, with replays three events at a time: the contract's
    histories fit in one batch of the usual size, and the batch handler must also fold
    into the rows earlier batches wrote (a workflow started in one batch, its steps
    started in the next, its ending in a third)."""

    replay_batch_size = 3
    replay_checks_only = True

@dataclass
class ExpectedWorkflow:
    created_at: datetime
    updated_at: datetime
    status: str
    current_step: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def expected_workflows(history: list[NewEvent]) -> dict[str, ExpectedWorkflow]:
    """The documented semantics, written as plainly as possible; dict order = creation order."""
    rows: dict[str, ExpectedWorkflow] = {}
    for event in history:
        assert event.timestamp is not None and isinstance(event.payload, dict)
        kind, payload = event.event_type, event.payload
        row = rows.get(event.workflow_id)
        if row is None:
            status = {"workflow_completed": "completed", "workflow_failed": "failed"}.get(kind, "active")
            row = rows[event.workflow_id] = ExpectedWorkflow(event.timestamp, event.timestamp, status)
        row.updated_at = event.timestamp
        if kind == "workflow_started":
            row.status, row.error, row.context = "active", None, payload.get("context") or {}
            if payload.get("initial_step") is not None:
                row.current_step = payload["initial_step"]
        elif kind == "workflow_completed":
            row.status, row.error = "completed", None
        elif kind == "workflow_failed":
            row.status, row.error = "failed", payload.get("error")
        else:
            row.current_step = event.step_id
    return rows


def all_rows(store: EventStore) -> list[tuple[Any, ...]]:
    return store.reader.fetchall("SELECT * FROM workflows ORDER BY id")


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(workflow_events(), min_size=1, max_size=4), max_size=20))
def test_the_table_follows_the_documented_semantics_and_a_rebuild_reproduces_it(
    batches: list[list[NewEvent]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        factory = StoreFactory(folder)
        try:
            store = factory(TestWorkflowsContract.plugins)
            for batch in batches:
                store.append_many(batch)
            history = [event for batch in batches for event in batch]

            expected = expected_workflows(history)
            actual = list_workflows(store)
            assert [w.id for w in actual] == list(expected)
            for workflow in actual:
                want = expected[workflow.id]
                assert (workflow.status, workflow.current_step, workflow.context, workflow.error) == (
                    want.status, want.current_step, want.context, want.error,
                )
                assert (workflow.created_at, workflow.updated_at) == (want.created_at, want.updated_at)

            incremental = all_rows(store)
            assert store.rebuild(["workflows"]) == len(history)
            assert all_rows(store) == incremental
            store.rebuild()
            assert all_rows(store) == incremental
        finally:
            factory.close_all()
