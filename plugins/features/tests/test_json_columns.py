"""The JSON columns (``files``, ``depends_on``, ``output``, ``interfaces``) hold compact
JSON with its text as given (non-ASCII kept, no spaces): exactly what
``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` writes, whatever the
strings and numbers in it. Raw SQL users compare and search it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_features as ef
from evstore import EventStore, NewEvent
from evstore.testing import strategies as evst


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


texts = st.lists(evst.texts(max_size=6), max_size=3)


@settings(max_examples=25, deadline=None)
@given(
    interface=st.fixed_dictionaries({"name": evst.texts(), "type": evst.texts(), "definition": evst.texts()}),
    files=texts, depends_on=texts, output=evst.json_objects(max_size=4),
)
def test_json_columns_are_stored_as_compact_json(
    interface: dict[str, str], files: list[str], depends_on: list[str], output: dict[str, Any],
) -> None:
    events = [
        NewEvent(workflow_id="F", event_type="feature_created", payload={"title": "t"}),
        NewEvent(workflow_id="F", event_type="phase_created",
                 payload={"id": "P", "title": "t", "sequence": 1, "interfaces": [interface]}),
        NewEvent(workflow_id="F", event_type="component_created", component_id="C",
                 payload={"phase_id": "P", "title": "t", "files": files, "depends_on": depends_on}),
        NewEvent(workflow_id="F", event_type="component_completed", component_id="C", payload={"output": output}),
    ]
    with tempfile.TemporaryDirectory() as folder, \
            EventStore.open(Path(folder) / "s.db", plugins=[ef], autoload=False) as store:
        store.append_many(events)
        # Interfaces as the Interface model has them: its fields in its order.
        expected = {key: interface[key] for key in ("name", "type", "definition")} | {"locked": False}
        assert store.reader.fetchvalue("SELECT interfaces FROM phases") == compact([expected])
        assert store.reader.fetchone("SELECT files, depends_on, output FROM components") == (
            compact(files), compact(depends_on), compact(output),
        )
