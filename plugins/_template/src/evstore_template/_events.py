"""The events of the template plugin: their names, payload models and declarations."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel

from evstore import EventType

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
