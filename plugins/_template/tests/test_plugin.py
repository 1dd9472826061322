"""The plugin's tests: the contract every projection must pass, then its behaviour."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

import evstore_template
from evstore import PayloadValidationError
from evstore.testing import EventFactory, ProjectionContract, Scenario
from evstore.testing import strategies as evst


# --8<-- [start:plugins-fixture]
@pytest.fixture
def evstore_plugins() -> list[object]:
    """The plugins the kit's evstore_store fixture loads: this one only."""
    return [evstore_template]
# --8<-- [end:plugins-fixture]


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


# --8<-- [start:scenario]
def test_a_note_is_listed_until_removed(evstore_scenario: Scenario, evstore_event: EventFactory) -> None:
    added = evstore_event("template_note_added", payload={"text": "check the logs"})
    (
        evstore_scenario.given(added)
        .when(evstore_event("template_note_removed", payload={"note": 1}))
        .then_rows("template_notes", [])
    )


def test_notes_list_in_order(evstore_scenario: Scenario, evstore_event: EventFactory) -> None:
    (
        evstore_scenario.given(evstore_event("template_note_added", payload={"text": "first"}))
        .when(evstore_event("template_note_added", payload={"text": "second"}))
        .then_rows("template_notes", [{"note": 1, "text": "first"}, {"note": 2, "text": "second"}])
        .then_query(
            lambda store: [n.text for n in evstore_template.list_notes(store, "wf-1")], ["first", "second"]
        )
    )


def test_a_note_needs_text(evstore_scenario: Scenario, evstore_event: EventFactory) -> None:
    (
        evstore_scenario.when(evstore_event("template_note_added", payload={}))
        .then_error(PayloadValidationError, match="text")
    )
# --8<-- [end:scenario]
