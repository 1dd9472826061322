"""The supervisor's hypothesis strategies draw workflows the first-party plugins accept."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

import evstore_metrics
import evstore_steps
import evstore_workflows
from evstore import EventStore, NewEvent
from evstore_supervisor import strategies as svst


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=svst.histories(max_workflows=3, max_steps=3))
def test_histories_are_valid_for_the_first_party_plugins(history: list[NewEvent], tmp_path_factory: Any) -> None:
    assert len({str(e.event_id) for e in history}) == len(history)
    by_workflow: dict[str, list[NewEvent]] = {}
    for event in history:
        by_workflow.setdefault(event.workflow_id, []).append(event)
    for workflow_id, events in by_workflow.items():
        assert events[0].event_type == "workflow_started"
        assert all(e.step_id is None or e.step_id.startswith(f"{workflow_id}/") for e in events)
        times = [e.timestamp for e in events]
        assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]
    folder = tmp_path_factory.mktemp("histories")
    plugins = [evstore_workflows, evstore_steps, evstore_metrics]
    with EventStore.open(folder / "s.db", plugins=plugins, autoload=False, durability="normal") as store:
        store.append_many(history)
        assert {s.name: s.status for s in store.projection_status()} == dict.fromkeys(
            ["metrics", "steps", "workflows"], "ok"
        )


@settings(max_examples=20)
@given(workflow=svst.workflows("wf-x", max_steps=2, metrics=False, finish=False))
def test_a_workflow_can_leave_out_metrics_and_its_ending(workflow: list[NewEvent]) -> None:
    kinds = {e.event_type for e in workflow}
    assert not kinds & {"metric_recorded", "workflow_completed", "workflow_failed"}
    assert {e.workflow_id for e in workflow} == {"wf-x"}


@settings(max_examples=30)
@given(workflow=svst.workflows(max_steps=3))
def test_a_workflow_uses_the_supervisors_roles_clis_and_task_types(workflow: list[NewEvent]) -> None:
    assert {e.role for e in workflow} <= {None, *svst.ROLES}
    for metric in (e for e in workflow if e.event_type == "metric_recorded"):
        assert metric.payload["cli"] in svst.CLIS and metric.payload["task_type"] in svst.TASK_TYPES
