"""The JSON columns (``definition``, ``input_data``, ``output_data``, and the payloads of
free-form ``execution_events`` rows) hold compact JSON with its text as given (non-ASCII
kept, no spaces): exactly what ``json.dumps(value, ensure_ascii=False, separators=(",",
":"))`` writes, whatever the strings and numbers in it. Raw SQL users and the UI that
polls ``execution_events`` read it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings

import evstore_graph
from evstore import EventStore, NewEvent
from evstore.testing import strategies as evst


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=25, deadline=None)
@given(
    node_type=evst.texts(min_size=1, max_size=8),
    config=evst.json_objects(max_size=3),
    inputs=evst.json_objects(max_size=4),
    output=evst.json_objects(max_size=4),
    recorded=evst.json_objects(max_size=4),
)
def test_definitions_inputs_outputs_and_recorded_payloads_are_stored_as_compact_json(
    node_type: str, config: dict[str, Any], inputs: dict[str, Any], output: dict[str, Any],
    recorded: dict[str, Any],
) -> None:
    definition = {"nodes": [{"id": "a", "type": node_type, "config": config}]}
    stream = "execution:x"
    events = [
        NewEvent(workflow_id=stream, event_type="execution_started", payload={
            "graph_id": "g", "graph_version": 1, "definition": definition, "max_parallel": 1, "input": inputs,
        }),
        NewEvent(workflow_id=stream, event_type="node_ready", payload={"node_id": "a", "input": inputs}),
        NewEvent(workflow_id=stream, event_type="node_claimed", payload={"node_id": "a", "worker_id": "w"}),
        NewEvent(workflow_id=stream, event_type="node_completed", payload={"node_id": "a", "output": output}),
        NewEvent(workflow_id=stream, event_type="execution_event_recorded",
                 payload={"event_type": "note", "payload": recorded}),
    ]
    with tempfile.TemporaryDirectory() as folder, \
            EventStore.open(Path(folder) / "s.db", plugins=[evstore_graph], autoload=False) as store:
        store.append_many(events)
        assert store.reader.fetchone("SELECT definition, input_data FROM graph_executions") == (
            compact(definition), compact(inputs),
        )
        assert store.reader.fetchone("SELECT input_data, output_data FROM node_executions") == (
            compact(inputs), compact(output),
        )
        assert store.reader.fetchvalue(
            "SELECT payload FROM execution_events WHERE event_type = 'note'"
        ) == compact(recorded)
