"""The steps and workflows plugins loaded together, as the supervisor loads them.

The plugins never import each other; only this test loads both.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_steps
import evstore_workflows
from evstore import EventStore, NewEvent
from evstore.testing import StoreFactory
from evstore.testing import strategies as evst

WORKFLOW_IDS = ["wf-1", "wf-2", "wf-3"]
STEP_IDS = ["s-1", "s-2", "s-3"]


def test_a_step_without_workflow_started_projects_both_rows(evstore_store_factory: StoreFactory) -> None:
    store = evstore_store_factory([evstore_steps, evstore_workflows])
    store.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role="implementer"))
    step = evstore_steps.get_step(store, "s")
    workflow = evstore_workflows.get_workflow(store, "wf")
    assert step is not None and step.status == "in_progress"
    assert workflow is not None and (workflow.status, workflow.current_step) == ("active", "s")
    assert workflow.created_at == step.created_at


def test_a_full_run_reads_back_through_both_plugins(evstore_store_factory: StoreFactory) -> None:
    store = evstore_store_factory([evstore_steps, evstore_workflows])
    store.append_many([
        NewEvent(workflow_id="wf", event_type="workflow_started", payload={"initial_step": "plan"}),
        NewEvent(workflow_id="wf", event_type="step_started", step_id="plan", role="planner"),
        NewEvent(workflow_id="wf", event_type="step_completed", step_id="plan", payload={"output": {"n": 2}}),
        NewEvent(workflow_id="wf", event_type="step_started", step_id="build", role="implementer"),
        NewEvent(workflow_id="wf", event_type="step_applying", step_id="build"),
        NewEvent(workflow_id="wf", event_type="step_completed", step_id="build"),
        NewEvent(workflow_id="wf", event_type="workflow_completed"),
    ])
    workflow = evstore_workflows.get_workflow(store, "wf")
    assert workflow is not None and (workflow.status, workflow.current_step) == ("completed", "build")
    steps = evstore_steps.list_steps(store, "wf")
    assert [(s.id, s.role, s.status) for s in steps] == [
        ("plan", "planner", "completed"), ("build", "implementer", "completed"),
    ]


@st.composite
def mixed_events(draw: st.DrawFn) -> NewEvent:
    workflow_id = draw(st.sampled_from(WORKFLOW_IDS))
    step_id = draw(st.sampled_from(STEP_IDS))
    kind = draw(st.sampled_from([
        "workflow_started", "workflow_completed", "workflow_failed", "step_started",
        "step_applying", "step_completed", "step_failed", "step_retried",
    ]))
    payload: dict[str, Any] = {}
    if kind == "workflow_started" and draw(st.booleans()):
        payload = {"initial_step": step_id, "context": {"k": draw(st.integers())}}
    elif kind == "step_started":
        payload = {"gates": draw(st.lists(st.sampled_from(["lint", "tests"]), max_size=2))}
    elif kind in ("workflow_failed", "step_failed"):
        payload = {"error": draw(evst.texts(max_size=8))}
    elif kind == "step_completed":
        payload = {"output": {"ok": draw(st.booleans())}}
    is_step = kind.startswith("step_")
    return NewEvent(
        workflow_id=workflow_id, event_type=kind, payload=payload,
        step_id=step_id if is_step else None, role="implementer" if kind == "step_started" else None,
    )


def both_tables(store: EventStore) -> tuple[list[Any], list[Any]]:
    return (
        store.reader.fetchall("SELECT * FROM workflows ORDER BY id"),
        store.reader.fetchall("SELECT * FROM steps ORDER BY id"),
    )


@settings(max_examples=30, deadline=None)
@given(batches=st.lists(st.lists(mixed_events(), min_size=1, max_size=5), max_size=15))
def test_rebuild_of_both_reproduces_both_tables(batches: list[list[NewEvent]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore.open(
            Path(folder) / "s.db", plugins=[evstore_steps, evstore_workflows], autoload=False,
            durability="normal",
        )
        try:
            for batch in batches:
                store.append_many(batch)
            history = [event for batch in batches for event in batch]
            started_in = {e.workflow_id for e in history if e.event_type == "step_started"}
            assert started_in <= {w.id for w in evstore_workflows.list_workflows(store)}

            incremental = both_tables(store)
            store.rebuild(["steps"])
            assert both_tables(store) == incremental
            store.rebuild(["workflows"])
            assert both_tables(store) == incremental
            assert store.rebuild() == len(history)
            assert both_tables(store) == incremental
        finally:
            store.close()
