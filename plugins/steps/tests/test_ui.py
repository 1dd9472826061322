"""The steps plugin's dashboard page and panel (evstore.ui; no server needed)."""

from __future__ import annotations

from typing import Any

from evstore import EventStore, NewEvent
from evstore.ui import View, render
from evstore_steps._ui import register_ui


def _contributions() -> dict[str, Any]:
    items: list[Any] = []
    register_ui(items.append)
    return {f"{type(item).__name__}:{item.slug}": item for item in items}


def _run(store: EventStore) -> None:
    store.append(NewEvent(workflow_id="wf-1", event_type="step_started", step_id="plan", role="planner"))
    store.append(NewEvent(workflow_id="wf-1", event_type="step_completed", step_id="plan", payload={"output": {}}))
    store.append(NewEvent(workflow_id="wf-1", event_type="step_started", step_id="build", role="<coder>"))
    store.append(NewEvent(workflow_id="wf-1", event_type="step_failed", step_id="build", payload={"error": "x"}))


def test_a_workflows_steps_with_status_colours(evstore_store: EventStore) -> None:
    _run(evstore_store)
    html = render(_contributions()["Panel:steps"].render(View(evstore_store, workflow_id="wf-1")))
    assert html.index("plan") < html.index("build")
    assert "tone-ok" in html and "tone-bad" in html and "&lt;coder&gt;" in html
    assert _contributions()["Panel:steps"].render(View(evstore_store, workflow_id="wf-2")) is None


def test_the_page_counts_by_role_and_status_and_filters(evstore_store: EventStore) -> None:
    _run(evstore_store)
    page = _contributions()["Page:steps"]
    html = render(page.render(View(evstore_store, path="/p/steps/steps")))
    assert ">completed</th>" in html and ">failed</th>" in html and "planner" in html
    failed = render(page.render(View(evstore_store, {"status": "failed"})))
    assert "build" in failed and ">plan<" not in failed
    assert "Unknown status" in render(page.render(View(evstore_store, {"status": "nope"})))
