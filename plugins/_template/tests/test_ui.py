"""The template's panel in ``evstore ui`` (evstore.ui renders it; no server needed)."""

from __future__ import annotations

from evstore import EventStore, NewEvent
from evstore.ui import Panel, View, render
from evstore_template._ui import register_ui


def test_a_workflows_page_shows_its_notes_escaped(evstore_store: EventStore) -> None:
    evstore_store.append(NewEvent(workflow_id="wf-1", event_type="template_note_added", payload={"text": "<b>hi</b>"}))
    panels: list[Panel] = []
    register_ui(panels.append)  # type: ignore[arg-type]
    (panel,) = panels
    html = render(panel.render(View(evstore_store, path="/w/wf-1", workflow_id="wf-1")))
    assert "&lt;b&gt;hi&lt;/b&gt;" in html and "<b>hi</b>" not in html
    assert panel.render(View(evstore_store, path="/w/wf-2", workflow_id="wf-2")) is not None  # "No notes."
