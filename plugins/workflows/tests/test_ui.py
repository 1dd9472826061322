"""The workflows plugin's dashboard page and panels (evstore.ui; no server needed)."""

from __future__ import annotations

from typing import Any

from evstore import EventStore, NewEvent
from evstore.ui import View, render
from evstore_workflows._ui import register_ui


def _contributions() -> dict[str, Any]:
    items: list[Any] = []
    register_ui(items.append)
    return {f"{type(item).__name__}:{item.slug}": item for item in items}


def test_pages_list_workflows_with_status_colours_and_keyset_pages(evstore_store: EventStore) -> None:
    for n in range(60):
        evstore_store.append(NewEvent(workflow_id=f"wf-{n:02}", event_type="workflow_started"))
    evstore_store.append(NewEvent(workflow_id="wf-07", event_type="workflow_failed", payload={"error": "<boom>"}))
    page = _contributions()["Page:workflows"]
    first = render(page.render(View(evstore_store, path="/p/workflows/workflows")))
    assert first.count('<span class="badge tone-run">active</span>') == 50  # wf-59 ... wf-10, newest first
    assert "wf-59" in first and "wf-09" not in first and "before=11" in first  # wf-10 is at position 11
    older = render(page.render(View(evstore_store, {"before": "11"})))
    assert "wf-09" in older and "wf-00" in older and "wf-10" not in older
    assert older.count('<span class="badge tone-bad">failed</span>') == 1  # wf-07
    failed = render(page.render(View(evstore_store, {"status": "failed"})))
    assert "wf-07" in failed and "&lt;boom&gt;" in failed and "tone-bad" in failed


def test_the_workflow_panel_shows_this_workflows_row(evstore_store: EventStore) -> None:
    evstore_store.append(NewEvent(workflow_id="wf-1", event_type="workflow_started", payload={"context": {"a": 1}}))
    panel = _contributions()["Panel:status"]
    assert "tone-run" in render(panel.render(View(evstore_store, workflow_id="wf-1")))
    assert panel.render(View(evstore_store, workflow_id="not-a-workflow")) is None
