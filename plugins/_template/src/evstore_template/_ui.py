"""What the template shows in ``evstore ui``: a workflow's notes, on its page."""

from __future__ import annotations

from collections.abc import Callable

from evstore.ui import Child, Page, Panel, View, table

from ._queries import list_notes


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Panel("notes", "Notes", workflow_notes, on="workflow"))


def workflow_notes(view: View) -> Child:
    if view.workflow_id is None:
        return None
    notes = list_notes(view.store, view.workflow_id)  # the plugin's own public query
    return table(
        ["note", "text", "added (UTC)"],
        [[note.note, note.text, note.added_at.isoformat(timespec="seconds")] for note in notes],
        numeric=[0],
        empty="No notes.",
    )
