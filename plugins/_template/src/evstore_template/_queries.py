"""Reading the ``template_notes`` table."""

# --8<-- [start:queries]
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from evstore import EventStore, require_projection

from ._projection import PROJECTION_NAME


class Note(BaseModel):
    note: int
    workflow_id: str
    text: str
    added_at: datetime


def list_notes(store: EventStore, workflow_id: str) -> list[Note]:
    """The workflow's notes, oldest first."""
    require_projection(store, PROJECTION_NAME, package="evstore_template")  # else a missing or stale table
    rows = store.reader.fetchall(
        "SELECT note, workflow_id, text, added_at FROM template_notes WHERE workflow_id = ? ORDER BY note",
        (workflow_id,),
    )
    return [Note(note=n, workflow_id=w, text=t, added_at=a) for n, w, t, a in rows]
# --8<-- [end:queries]
