"""The JSON columns (``gates``, ``context``, ``output``) hold compact JSON with its text
as given (non-ASCII kept, no spaces): exactly what ``json.dumps(value,
ensure_ascii=False, separators=(",", ":"))`` writes, whatever the strings and numbers
in it. Raw SQL users compare and search it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_steps
from evstore import EventStore, NewEvent
from evstore.testing import strategies as evst


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


steps = st.tuples(
    st.lists(evst.texts(max_size=6), min_size=1, max_size=3),
    evst.json_objects(max_size=4).filter(bool),
    evst.json_objects(max_size=4),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(steps, min_size=1, max_size=4))
def test_gates_context_and_output_are_stored_as_compact_json(
    values: list[tuple[list[str], dict[str, Any], dict[str, Any]]],
) -> None:
    events = []
    for n, (gates, context, output) in enumerate(values):
        events += [
            NewEvent(workflow_id="wf", event_type="step_started", role="r", step_id=f"s{n}",
                     payload={"gates": gates, "context": context}),
            NewEvent(workflow_id="wf", event_type="step_completed", step_id=f"s{n}", payload={"output": output}),
        ]
    with tempfile.TemporaryDirectory() as folder, \
            EventStore.open(Path(folder) / "s.db", plugins=[evstore_steps], autoload=False) as store:
        store.append_many(events)
        stored = store.reader.fetchall("SELECT gates, context, output FROM steps ORDER BY created_position")
        assert stored == [(compact(g), compact(c), compact(o)) for g, c, o in values]
