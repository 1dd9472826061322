"""The plugin's behaviour, event by event (the contract is in test_contract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import evstore_template
from evstore import EventStore, PayloadValidationError, ProjectionNotLoadedError
from evstore.testing import EventFactory, Scenario


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


def test_reading_a_store_without_the_plugin_says_how_to_load_it(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "s.db", plugins=[], autoload=False) as store, \
            pytest.raises(ProjectionNotLoadedError, match=r"plugins=\[evstore_template\]") as raised:
        evstore_template.list_notes(store, "wf-1")
    assert raised.value.projection == "template" and raised.value.package == "evstore_template"
