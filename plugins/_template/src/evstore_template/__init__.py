"""evstore-template: notes about workflows, as a projection plugin to copy.

Declares ``template_note_added`` (payload ``text``) and ``template_note_removed``
(payload ``note``, the position of the event that added it), and keeps the
``template_notes(note, workflow_id, text, added_at)`` table from them. Read it with
:func:`list_notes` or plain SQL.
"""

# --8<-- [start:hooks]
from __future__ import annotations

from collections.abc import Callable

from evstore import EventType, Projection, hookimpl

from ._projection import EVENT_TYPES, NOTE_ADDED, NOTE_REMOVED, NoteAdded, NoteRemoved, build_projection
from ._queries import Note, list_notes

# The name explicit registration (plugins=[evstore_template]) uses: the entry point's.
evstore_plugin_name = "template"

__all__ = ["NOTE_ADDED", "NOTE_REMOVED", "Note", "NoteAdded", "NoteRemoved", "list_notes"]


@hookimpl
def evstore_register_event_types(register: Callable[[EventType], None]) -> None:
    for event_type in EVENT_TYPES:
        register(event_type)


@hookimpl
def evstore_register_projections(register: Callable[[Projection], None]) -> None:
    register(build_projection())
# --8<-- [end:hooks]
