"""The ``template_notes`` table, kept from the template's events.

Every value in a row comes from the event being applied (its position, workflow and
timestamp), never from the clock, so ``store.rebuild()`` reproduces the table exactly.
"""

from __future__ import annotations

from typing import Final

from evstore import Migration, Projection, RecordedEvent, ScopedConnection

from ._events import NOTE_ADDED, NOTE_REMOVED

PROJECTION_NAME: Final = "template"

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
        PROJECTION_NAME,
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
