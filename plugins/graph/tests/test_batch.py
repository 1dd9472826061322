"""The batch handler replays use: the rows it writes are those of the per-event handlers
(the contract checks that on engine histories, test_contract.py); here, histories the
per-event handlers refuse, which only a log written without this plugin can hold."""

from __future__ import annotations

from typing import Any

import pytest

import evstore_graph
from evstore import NewEvent, ProjectionError, in_list
from evstore.testing import StoreFactory, replay_batches_of, snapshot_tables

DEFINITION = {"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"source": "a", "target": "b"}]}
STARTED = ("execution_started", {"graph_id": "g", "graph_version": 1, "definition": DEFINITION, "max_parallel": 1})
RUNNING_A = [STARTED, ("node_ready", {"node_id": "a"}), ("node_claimed", {"node_id": "a", "worker_id": "w1"})]

# Each history's last event is the one the per-event handler refuses, with this error.
REFUSED: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "a node completed before it ran": ("InvalidTransitionError", [STARTED, ("node_completed", {"node_id": "a"})]),
    "a claim beyond max_parallel": ("InvalidTransitionError", [
        *RUNNING_A, ("node_ready", {"node_id": "b"}), ("node_claimed", {"node_id": "b", "worker_id": "w2"}),
    ]),
    "a node the graph lacks": ("NodeNotFoundError", [STARTED, ("node_ready", {"node_id": "z"})]),
    "an execution started twice": ("ExecutionExistsError", [STARTED, STARTED]),
    "a node event after the end": ("InvalidTransitionError", [
        STARTED, ("execution_cancelled", {}), ("node_ready", {"node_id": "a"}),
    ]),
    "an execution never started": ("ExecutionNotFoundError", [("node_ready", {"node_id": "a"})]),
    "a loop iteration out of turn": ("InvalidTransitionError", [STARTED, (
        "loop_iterated",
        {"node_id": "a", "target_node_id": "a", "loop_key": "again", "iteration": 2, "reset_nodes": ["a"]},
    )]),
    "a loop resetting a running node": ("InvalidTransitionError", [*RUNNING_A, (
        "loop_iterated",
        {"node_id": "b", "target_node_id": "b", "loop_key": "again", "iteration": 1, "reset_nodes": ["a", "b"]},
    )]),
}


@pytest.mark.parametrize(("error", "history"), REFUSED.values(), ids=list(REFUSED))
def test_a_history_the_events_one_by_one_refuse_fails_the_rebuild_at_that_event(
    evstore_store_factory: StoreFactory, error: str, history: list[tuple[str, dict[str, Any]]]
) -> None:
    without = evstore_store_factory([], permissive=True)
    for event_type, payload in history:
        without.append(NewEvent(workflow_id="execution:x", event_type=event_type, payload=payload))
    without.close()
    store = evstore_store_factory([evstore_graph])
    # Installing the plugin caught up through the batch handler, which gave the batch
    # back to the per-event handlers: they decided that it fails, and why (a failed
    # catch-up keeps none of its rows: the projection stays at position 0).
    [status] = [s for s in store.projection_status() if s.name == "graph"]
    assert (status.status, status.position) == ("failing", 0)
    assert error in str(status.error)
    with pytest.raises(ProjectionError, match=f"failed on event {len(history)} .*{error}"):
        store.rebuild(["graph"])


def test_the_legal_prefix_of_such_a_history_rebuilds_through_the_batch_handler(
    evstore_store_factory: StoreFactory,
) -> None:
    """The same events minus the refused one replay without the per-event handlers."""
    without = evstore_store_factory([], permissive=True)
    for event_type, payload in [*RUNNING_A, ("node_completed", {"node_id": "a", "output": {"n": 1}})]:
        without.append(NewEvent(workflow_id="execution:x", event_type=event_type, payload=payload))
    without.close()
    store = evstore_store_factory([evstore_graph])
    [status] = [s for s in store.projection_status() if s.name == "graph"]
    assert status.status == "ok"
    assert store.reader.fetchall(
        "SELECT node_id, status, version, output_data FROM node_executions ORDER BY id"
    ) == [("a", "completed", 3, '{"n":1}'), ("b", "pending", 0, None)]


RETRY = {
    "nodes": [{"id": "flaky"}, {"id": "after"}],
    "edges": [
        {"source": "flaky", "target": "after"},
        {"source": "flaky", "target": "flaky", "condition": "failure", "loop_key": "retry", "max_iterations": 3},
    ],
}


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 2000])
def test_replays_cut_anywhere_give_the_rows_appends_gave_without_falling_back(
    evstore_store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    """Two executions side by side, one retrying twice (loop counters carried from batch
    to batch), replayed in batches of every size: each batch goes through the batch
    handler (none raises, so the kernel never falls back) and the rows are the ones the
    live appends built."""
    store = evstore_store_factory([evstore_graph])
    engine = evstore_graph.GraphEngine(store)
    engine.save_graph("retry", "retry", RETRY)
    engine.start_execution("one", "retry", max_parallel=2, input={"n": 1})
    engine.start_execution("two", "retry")
    for attempt in range(3):
        for execution_id in ("one", "two"):
            engine.claim_ready_nodes(execution_id, f"w{attempt}")
        engine.fail_node("one", "flaky", f"attempt {attempt}")
        if attempt == 0:
            engine.complete_node("two", "flaky", {"ok": True})
    engine.save_graph("retry", "retry again", RETRY)
    engine.cancel("two")
    incremental = snapshot_tables(store, evstore_graph.TABLES)
    assert ("one", "retry", 3) in store.reader.fetchall("SELECT * FROM loop_counters")

    refused: list[BaseException] = []
    projection = store.registry.projections["graph"].projection
    apply_batch = projection.batch_handler
    assert apply_batch is not None

    def watched(db: Any, events: Any) -> None:
        try:
            apply_batch(db, events)
        except BaseException as error:
            refused.append(error)
            raise

    monkeypatch.setattr(projection, "batch_handler", watched)
    with replay_batches_of(batch_size):
        assert store.rebuild(["graph"]) == store.head()
    assert refused == []
    assert snapshot_tables(store, evstore_graph.TABLES) == incremental


def test_reads_use_a_few_statement_texts_whatever_the_number_of_executions() -> None:
    """The kernel keeps the statement texts it was given (checked, and on PostgreSQL
    parsed by the server; up to a bound, then it starts over): IN lists come in powers
    of two, padded, so the cache keeps serving."""
    sizes = {in_list([f"x{i}" for i in range(count)])[0].count("?") for count in range(1, 513)}
    assert sizes == {8, 16, 32, 64, 128, 256, 512}
    assert in_list(["x1", "x2"])[1] == ["x1", "x2", "x2", "x2", "x2", "x2", "x2", "x2"]
