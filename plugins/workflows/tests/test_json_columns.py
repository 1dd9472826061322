"""The ``context`` column holds compact JSON with its text as given (non-ASCII kept, no
spaces): exactly what ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``
writes, whatever the strings and numbers in it. Raw SQL users compare and search it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_workflows
from evstore import EventStore, NewEvent
from evstore.testing import strategies as evst


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=25, deadline=None)
@given(st.lists(evst.json_objects(max_size=4).filter(bool), min_size=1, max_size=5))
def test_context_is_stored_as_compact_json(contexts: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder, \
            EventStore.open(Path(folder) / "s.db", plugins=[evstore_workflows], autoload=False) as store:
        store.append_many([
            NewEvent(workflow_id=f"wf-{n}", event_type="workflow_started", payload={"context": context})
            for n, context in enumerate(contexts)
        ])
        stored = store.reader.fetchall("SELECT context FROM workflows ORDER BY created_position")
        assert [row[0] for row in stored] == [compact(context) for context in contexts]
