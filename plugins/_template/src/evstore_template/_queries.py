"""Reading the ``template_notes`` table."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from evstore import EventStore, UnknownProjectionError


# --8<-- [start:queries]
class Note(BaseModel):
    note: int
    workflow_id: str
    text: str
    added_at: datetime


def list_notes(store: EventStore, workflow_id: str) -> list[Note]:
    """The workflow's notes, oldest first."""
    if not store.has_projection("template"):
        raise UnknownProjectionError(
            "the 'template' projection is not loaded in this store; install evstore-template "
            "or pass plugins=[evstore_template] to EventStore.open"
        )
    rows = store.reader.fetchall(
        "SELECT note, workflow_id, text, added_at FROM template_notes WHERE workflow_id = ? ORDER BY note",
        (workflow_id,),
    )
    return [Note(note=n, workflow_id=w, text=t, added_at=a) for n, w, t, a in rows]
# --8<-- [end:queries]
