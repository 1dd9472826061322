"""The contract every projection must pass, run by the kit on both backends."""

from __future__ import annotations

from hypothesis import strategies as st

import evstore_template
from evstore.testing import ProjectionContract
from evstore.testing import strategies as evst

# --8<-- [start:contract]
notes_added = evst.event_envelopes(
    ["template_note_added"], payloads=st.fixed_dictionaries({"text": evst.texts(max_size=20)})
)
notes_removed = evst.event_envelopes(
    ["template_note_removed"], payloads=st.fixed_dictionaries({"note": st.integers(min_value=1, max_value=20)})
)


class TestTemplateContract(ProjectionContract):
    plugins = (evstore_template,)
    projection_name = "template"
    events = evst.event_lists(notes_added | notes_removed, max_size=20)
# --8<-- [end:contract]
