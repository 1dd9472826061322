"""Handlers, one event type at a time, fed by direct appends; and bad events refused at
append time with nothing written."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evstore import (
    EventStore,
    NewEvent,
    PayloadValidationError,
    ProjectionFailedError,
)
from evstore.testing import Scenario
from evstore_graph import get_execution

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DEFINITION = {
    "nodes": [{"id": "a"}, {"id": "b", "type": "review"}, {"id": "c"}],
    "edges": [
        {"source": "a", "target": "b"},
        {"source": "b", "target": "c"},
        {"source": "b", "target": "a", "loop_key": "again", "max_iterations": 3},
    ],
}


def _event(event_type: str, payload: dict[str, Any], *, stream: str = "execution:x", minutes: int = 0) -> NewEvent:
    return NewEvent(workflow_id=stream, event_type=event_type, payload=payload,
                    timestamp=T0 + timedelta(minutes=minutes))


def _append(store: EventStore, event_type: str, payload: dict[str, Any], *, stream: str = "execution:x",
            minutes: int = 0) -> int:
    return store.append(_event(event_type, payload, stream=stream, minutes=minutes))


def _stamp(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="microseconds")


def _start(store: EventStore, max_parallel: int = 4) -> int:
    return _append(store, "execution_started", {
        "graph_id": "g", "graph_version": 1, "workflow_id": "wf-1", "definition": DEFINITION,
        "max_parallel": max_parallel, "input": {"q": 1},
    })


def _node(store: EventStore, node_id: str) -> dict[str, Any]:
    cursor = store.reader.execute(
        "SELECT * FROM node_executions WHERE execution_id = 'x' AND node_id = ?", (node_id,)
    )
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _execution(store: EventStore) -> dict[str, Any]:
    cursor = store.reader.execute("SELECT * FROM graph_executions WHERE id = 'x'")
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _stream_version(store: EventStore) -> int:
    """The version the engine expects the execution's stream to be at."""
    execution = get_execution(store, "x")
    assert execution is not None
    assert execution.version == store.version("execution:x")
    return execution.version


def _last_event_row(store: EventStore) -> tuple[Any, ...]:
    return tuple(store.reader.fetchone(
        "SELECT id, execution_id, node_id, node_type, event_type, status, version, timestamp "
        "FROM execution_events ORDER BY id DESC LIMIT 1"
    ))


def test_graph_saved_creates_then_versions_the_definition(evstore_store: EventStore) -> None:
    _append(evstore_store, "graph_saved", {"name": "build", "definition": DEFINITION}, stream="graph:g")
    _append(evstore_store, "graph_saved", {"name": "build v2", "definition": {"nodes": [{"id": "z"}]}},
            stream="graph:g", minutes=5)
    row = evstore_store.reader.fetchone("SELECT * FROM graph_workflows")
    assert row[:2] == ("g", "build v2")
    assert json.loads(row[2]) == {"nodes": [{"id": "z"}]}
    assert row[3:] == (2, _stamp(0), _stamp(5))


def test_execution_started_snapshots_the_definition_and_creates_pending_nodes(evstore_store: EventStore) -> None:
    position = _start(evstore_store, max_parallel=2)
    execution = _execution(evstore_store)
    assert execution == {
        "id": "x", "workflow_id": "wf-1", "graph_id": "g", "status": "running",
        "started_at": _stamp(0), "completed_at": None, "error": None, "graph_version": 1,
        "definition": execution["definition"], "max_parallel": 2, "input_data": '{"q":1}',
    }
    assert _stream_version(evstore_store) == 1
    assert json.loads(execution["definition"]) == DEFINITION
    nodes = evstore_store.reader.fetchall(
        "SELECT id, node_id, node_type, status, version, input_data FROM node_executions ORDER BY id"
    )
    assert nodes == [(1, "a", "task", "pending", 0, None), (2, "b", "review", "pending", 0, None),
                     (3, "c", "task", "pending", 0, None)]
    assert _last_event_row(evstore_store) == (position, "x", None, None, "execution_started", "running", 0, _stamp(0))


def test_node_ready_sets_input_and_bumps_version(evstore_store: EventStore) -> None:
    _start(evstore_store)
    position = _append(evstore_store, "node_ready", {"node_id": "a", "input": {"q": 1}}, minutes=1)
    node = _node(evstore_store, "a")
    assert (node["status"], node["version"], node["input_data"]) == ("ready", 1, '{"q":1}')
    assert _last_event_row(evstore_store) == (position, "x", "a", "task", "node_ready", "ready", 1, _stamp(1))
    assert _stream_version(evstore_store) == 2


def test_node_claimed_records_the_worker_and_the_claim_time(evstore_store: EventStore) -> None:
    _start(evstore_store)
    _append(evstore_store, "node_ready", {"node_id": "a"})
    _append(evstore_store, "node_claimed", {"node_id": "a", "worker_id": "w1"}, minutes=2)
    node = _node(evstore_store, "a")
    assert (node["status"], node["version"], node["claimed_by"]) == ("running", 2, "w1")
    assert node["claimed_at"] == node["started_at"] == _stamp(2)
    assert _last_event_row(evstore_store)[4:7] == ("node_claimed", "running", 2)


def _running(store: EventStore, node_id: str = "a") -> None:
    _start(store)
    _append(store, "node_ready", {"node_id": node_id})
    _append(store, "node_claimed", {"node_id": node_id, "worker_id": "w1"})


def test_node_completed_stores_output_and_completion_time(evstore_store: EventStore) -> None:
    _running(evstore_store)
    _append(evstore_store, "node_completed", {"node_id": "a", "output": {"n": 2}}, minutes=3)
    node = _node(evstore_store, "a")
    assert (node["status"], node["version"], node["output_data"], node["completed_at"]) == (
        "completed", 3, '{"n":2}', _stamp(3))


def test_node_failed_stores_the_error(evstore_store: EventStore) -> None:
    _running(evstore_store)
    _append(evstore_store, "node_failed", {"node_id": "a", "error": "boom"}, minutes=3)
    node = _node(evstore_store, "a")
    assert (node["status"], node["version"], node["error"], node["completed_at"]) == (
        "failed", 3, "boom", _stamp(3))


def test_node_skipped_from_pending_and_from_ready(evstore_store: EventStore) -> None:
    _start(evstore_store)
    _append(evstore_store, "node_skipped", {"node_id": "c", "reason": "not needed"}, minutes=1)
    _append(evstore_store, "node_ready", {"node_id": "a"})
    _append(evstore_store, "node_skipped", {"node_id": "a"}, minutes=2)
    assert (_node(evstore_store, "c")["status"], _node(evstore_store, "c")["version"]) == ("skipped", 1)
    assert (_node(evstore_store, "a")["status"], _node(evstore_store, "a")["version"]) == ("skipped", 2)
    assert _node(evstore_store, "a")["completed_at"] == _stamp(2)


def test_node_reclaimed_returns_the_node_to_ready_and_forgets_the_worker(evstore_store: EventStore) -> None:
    _running(evstore_store)
    _append(evstore_store, "node_reclaimed", {"node_id": "a", "worker_id": "w1", "reason": "stale"})
    node = _node(evstore_store, "a")
    assert (node["status"], node["version"], node["claimed_by"], node["claimed_at"], node["started_at"]) == (
        "ready", 3, None, None, None)


def test_loop_iterated_resets_the_body_and_counts_once(evstore_store: EventStore) -> None:
    _running(evstore_store)
    _append(evstore_store, "node_completed", {"node_id": "a", "output": {"n": 1}})
    _append(evstore_store, "node_ready", {"node_id": "b"})
    _append(evstore_store, "node_claimed", {"node_id": "b", "worker_id": "w1"})
    _append(evstore_store, "node_completed", {"node_id": "b"})
    position = _append(evstore_store, "loop_iterated", {
        "node_id": "b", "target_node_id": "a", "loop_key": "again", "iteration": 1,
        "reset_nodes": ["a", "b"],
    }, minutes=4)
    for node_id, version in (("a", 4), ("b", 4)):
        node = _node(evstore_store, node_id)
        assert (node["status"], node["version"], node["output_data"], node["completed_at"],
                node["claimed_by"]) == ("pending", version, None, None, None)
    assert _node(evstore_store, "c")["version"] == 0
    assert evstore_store.reader.fetchall("SELECT * FROM loop_counters") == [("x", "again", 1)]
    assert _last_event_row(evstore_store) == (position, "x", "b", "review", "loop_iterated", "pending", 4, _stamp(4))


@pytest.mark.parametrize(
    ("event_type", "payload", "status", "completed", "error"),
    [
        ("execution_completed", {}, "completed", True, None),
        ("execution_failed", {"error": "gave up"}, "failed", True, "gave up"),
        ("execution_cancelled", {"reason": "user"}, "cancelled", True, None),
        ("execution_interrupted", {"reason": "ctrl-c"}, "interrupted", False, None),
    ],
)
def test_execution_transitions(
    evstore_store: EventStore, event_type: str, payload: dict[str, Any], status: str, completed: bool,
    error: str | None,
) -> None:
    _start(evstore_store)
    position = _append(evstore_store, event_type, payload, minutes=7)
    execution = _execution(evstore_store)
    assert (execution["status"], execution["completed_at"], execution["error"]) == (
        status, _stamp(7) if completed else None, error)
    assert _last_event_row(evstore_store) == (position, "x", None, None, event_type, status, 0, _stamp(7))


def test_execution_resumed_after_interruption(evstore_store: EventStore) -> None:
    _start(evstore_store)
    _append(evstore_store, "execution_interrupted", {})
    _append(evstore_store, "execution_resumed", {})
    assert _execution(evstore_store)["status"] == "running"
    assert _last_event_row(evstore_store)[4:6] == ("execution_resumed", "running")


def test_execution_event_recorded_is_a_free_form_row_even_before_the_start(evstore_store: EventStore) -> None:
    position = _append(evstore_store, "execution_event_recorded", {
        "event_type": "agent_thought", "node_id": "a", "node_type": "llm", "status": "thinking",
        "payload": {"text": "hm"}, "version": 7,
    }, minutes=1)
    row = evstore_store.reader.fetchone("SELECT * FROM execution_events")
    assert row == (position, "x", "a", "llm", "agent_thought", "thinking", '{"text":"hm"}', 7, _stamp(1))
    _start(evstore_store)  # the stream already has an event: the execution still starts
    _append(evstore_store, "execution_event_recorded", {"event_type": "note"})
    assert _stream_version(evstore_store) == 3
    assert evstore_store.reader.fetchone("SELECT payload, version FROM execution_events ORDER BY id DESC") == ("{}", 0)


# --- bad events are refused at append, with nothing written ----------------------------------


@pytest.fixture
def running(evstore_scenario: Scenario) -> Scenario:
    """An execution whose node 'a' is running. Scenario.then_error checks the error,
    then that nothing was appended and no table changed."""
    _running(evstore_scenario.store)
    return evstore_scenario


@pytest.mark.parametrize(
    ("event_type", "payload", "message"),
    [
        ("node_completed", {"output": {}}, "node_id: Field required"),
        ("node_completed", {"node_id": "a", "output": "done"}, "output: Input should be a valid dictionary"),
        ("node_completed", {"node_id": "a", "ouput": {}}, "ouput: Extra inputs are not permitted"),
        ("node_claimed", {"node_id": "b"}, "worker_id: Field required"),
        ("node_failed", {"node_id": "a"}, "error: Field required"),
        ("node_ready", {"node_id": ""}, "node_id: String should have at least 1 character"),
        ("loop_iterated", {"node_id": "b", "target_node_id": "a", "loop_key": "again", "iteration": 0,
                           "reset_nodes": ["a"]}, "iteration: Input should be greater than or equal to 1"),
        ("execution_started", {"graph_id": "g", "graph_version": 1, "max_parallel": 1,
                               "definition": {"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "q"}]}},
         "unknown node 'q'"),
        ("execution_started", {"graph_id": "g", "graph_version": 1, "max_parallel": 0,
                               "definition": DEFINITION}, "max_parallel: Input should be greater"),
        ("graph_saved", {"definition": DEFINITION}, "name: Field required"),
        ("execution_failed", {}, "error: Field required"),
        ("execution_event_recorded", {"node_id": "a"}, "event_type: Field required"),
    ],
)
def test_bad_payloads_are_refused(
    running: Scenario, event_type: str, payload: dict[str, Any], message: str,
) -> None:
    running.when(_event(event_type, payload)).then_error(PayloadValidationError)
    assert re.search(message, str(running.error)), running.error


@pytest.mark.parametrize(
    ("stream", "event_type", "payload", "message"),
    [
        ("x", "node_ready", {"node_id": "b"}, "belong on the stream 'execution:<id>'"),
        ("execution:", "node_ready", {"node_id": "b"}, "belong on the stream 'execution:<id>'"),
        ("execution:g", "graph_saved", {"name": "n", "definition": DEFINITION},
         "belong on the stream 'graph:<id>'"),
        ("execution:nope", "node_ready", {"node_id": "b"}, "execution 'nope', which was never started"),
        ("execution:x", "node_ready", {"node_id": "zz"}, "node 'zz', which execution 'x'"),
        ("execution:x", "node_completed", {"node_id": "b"}, "node 'b' of execution 'x' is pending"),
        ("execution:x", "node_claimed", {"node_id": "a", "worker_id": "w2"}, "is running"),
        ("execution:x", "node_skipped", {"node_id": "a"}, "is running"),
        ("execution:x", "node_reclaimed", {"node_id": "b"}, "is pending"),
        ("execution:x", "execution_resumed", {}, "while it is running"),
        ("execution:x", "execution_started", {"graph_id": "g", "graph_version": 1, "max_parallel": 1,
                                              "definition": DEFINITION}, "already started"),
        ("execution:x", "loop_iterated", {"node_id": "b", "target_node_id": "a", "loop_key": "again",
                                          "iteration": 2, "reset_nodes": ["b"]}, "the next iteration is 1"),
        ("execution:x", "loop_iterated", {"node_id": "b", "target_node_id": "a", "loop_key": "again",
                                          "iteration": 1, "reset_nodes": ["b"]}, "include the loop's"),
        ("execution:x", "loop_iterated", {"node_id": "b", "target_node_id": "a", "loop_key": "again",
                                          "iteration": 1, "reset_nodes": ["a", "b"]}, r"reset nodes \['a'\]"),
    ],
)
def test_impossible_transitions_are_refused(
    running: Scenario, stream: str, event_type: str, payload: dict[str, Any], message: str,
) -> None:
    running.when(_event(event_type, payload, stream=stream)).then_error(ProjectionFailedError)
    assert re.search(message, str(running.error)), running.error


def test_claims_beyond_max_parallel_are_refused(evstore_store: EventStore) -> None:
    _start(evstore_store, max_parallel=1)
    _append(evstore_store, "node_ready", {"node_id": "a"})
    _append(evstore_store, "node_ready", {"node_id": "c"})
    _append(evstore_store, "node_claimed", {"node_id": "a", "worker_id": "w1"})
    with pytest.raises(ProjectionFailedError, match="already runs 1 nodes, its max_parallel"):
        _append(evstore_store, "node_claimed", {"node_id": "c", "worker_id": "w2"})
    assert _node(evstore_store, "c")["status"] == "ready"


@pytest.mark.parametrize("final", ["execution_cancelled", "execution_completed", "execution_failed"])
def test_an_ended_execution_accepts_no_transition(evstore_store: EventStore, final: str) -> None:
    _running(evstore_store)
    _append(evstore_store, final, {"error": "x"} if final == "execution_failed" else {})
    head = evstore_store.head()
    for event_type, payload in [
        ("node_completed", {"node_id": "a"}), ("node_ready", {"node_id": "b"}),
        ("node_reclaimed", {"node_id": "a"}), ("execution_resumed", {}), ("execution_completed", {}),
        ("execution_cancelled", {}), ("execution_interrupted", {}),
    ]:
        with pytest.raises(ProjectionFailedError, match="not accepted by execution 'x' while it is"):
            _append(evstore_store, event_type, payload)
    assert evstore_store.head() == head
    # A free-form row is not a transition: it is still accepted.
    _append(evstore_store, "execution_event_recorded", {"event_type": "late_log_line"})


def test_claims_are_refused_while_interrupted_but_results_are_accepted(evstore_store: EventStore) -> None:
    _running(evstore_store)
    _append(evstore_store, "node_ready", {"node_id": "c"})
    _append(evstore_store, "execution_interrupted", {})
    with pytest.raises(ProjectionFailedError, match="while it is interrupted"):
        _append(evstore_store, "node_claimed", {"node_id": "c", "worker_id": "w"})
    _append(evstore_store, "node_completed", {"node_id": "a"})
    assert _node(evstore_store, "a")["status"] == "completed"
