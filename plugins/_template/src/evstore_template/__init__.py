"""evstore-template: notes about workflows, as a projection plugin to copy.

Declares ``template_note_added`` (payload ``text``) and ``template_note_removed``
(payload ``note``, the position of the event that added it), and keeps the
``template_notes(note, workflow_id, text, added_at)`` table from them. Read it with
:func:`list_notes` or plain SQL; ``evstore ui`` shows a workflow's notes on its page.

Every first-party plugin has this shape (``tests/test_plugin_shape.py`` keeps it):
``_events.py`` (names, payload models, ``EVENT_TYPES``), ``_projection.py``
(``PROJECTION_NAME``, ``build_projection``), ``_queries.py`` (reads, each checking
that the projection is loaded), ``_ui.py`` (``register_ui``), and here the one
declaration of what the plugin contributes.
"""

# --8<-- [start:hooks]
from __future__ import annotations

from evstore import Plugin

from ._events import EVENT_TYPES, NOTE_ADDED, NOTE_REMOVED, NoteAdded, NoteRemoved
from ._projection import PROJECTION_NAME, build_projection
from ._queries import Note, list_notes
from ._ui import register_ui

# What the plugin contributes; evstore generates the hooks from it. Its name is the
# entry point's (pyproject.toml), so a copy registered explicitly is not loaded twice.
evstore_plugin = Plugin(
    "template",
    event_types=EVENT_TYPES,
    projections=[build_projection],  # called once per store: each gets its own
    ui=register_ui,
)

__all__ = ["NOTE_ADDED", "NOTE_REMOVED", "PROJECTION_NAME", "Note", "NoteAdded", "NoteRemoved", "list_notes"]
# --8<-- [end:hooks]
