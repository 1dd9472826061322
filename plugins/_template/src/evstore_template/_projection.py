"""The ``template_notes`` table and the events that fill it.

Every value in a row comes from the event being applied (its position, workflow and
timestamp), never from the clock, so ``store.rebuild()`` reproduces the table exactly.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel

from evstore import EventType, Migration, Projection, RecordedEvent, ScopedConnection

# --8<-- [start:events]
NOTE_ADDED: Final = "template_note_added"
NOTE_REMOVED: Final = "template_note_removed"


class NoteAdded(BaseModel):
    """Payload of ``template_note_added``."""

    text: str


class NoteRemoved(BaseModel):
    """Payload of ``template_note_removed``: the position of the event that added it."""

    note: int


EVENT_TYPES: Final = (
    EventType(NOTE_ADDED, payload=NoteAdded, description="a note about a workflow"),
    EventType(NOTE_REMOVED, payload=NoteRemoved, description="a note is withdrawn"),
)
# --8<-- [end:events]

# --8<-- [start:migrations]
MIGRATIONS: Final = (
    Migration(
        "0001_create_notes",
        """
        CREATE TABLE template_notes (
            note INTEGER PRIMARY KEY,      -- the position of the event that added it
            workflow_id TEXT NOT NULL,
            text TEXT NOT NULL,
            added_at TEXT NOT NULL
        );
        CREATE INDEX template_notes_by_workflow ON template_notes (workflow_id, note);
        """,
    ),
)
# --8<-- [end:migrations]


# --8<-- [start:projection]
def build_projection() -> Projection:
    """A fresh projection object (each store gets its own)."""
    projection = Projection(
        "template",
        version=1,  # bump when the handlers change meaning: stores rebuild it on open
        tables=("template_notes",),
        migrations=MIGRATIONS,
        description="notes about workflows",
    )
    projection.on(NOTE_ADDED)(_on_note_added)
    projection.on(NOTE_REMOVED)(_on_note_removed)
    return projection


def _on_note_added(db: ScopedConnection, event: RecordedEvent) -> None:
    db.execute(
        "INSERT INTO template_notes (note, workflow_id, text, added_at) VALUES (?, ?, ?, ?)",
        (event.id, event.workflow_id, event.payload["text"], event.timestamp_text),
    )


def _on_note_removed(db: ScopedConnection, event: RecordedEvent) -> None:
    # Only the workflow's own notes: an event cannot remove another workflow's note.
    db.execute(
        "DELETE FROM template_notes WHERE note = ? AND workflow_id = ?",
        (event.payload["note"], event.workflow_id),
    )
# --8<-- [end:projection]
