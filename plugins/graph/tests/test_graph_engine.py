"""The command API: starting, claiming, completing, branching, loops, lifecycle, reclaim,
retries on conflicts, and the execution event feed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import evstore_graph
from evstore import ConcurrencyError, EventStore, InvalidArgumentError, NewEvent, StoreBusyError, hookimpl
from evstore.testing import StoreFactory, snapshot_tables
from evstore_graph import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    GraphEngine,
    GraphNotFoundError,
    InvalidTransitionError,
    NodeNotFoundError,
)
from evstore_graph._planner import Plan


def _statuses(engine: GraphEngine, execution_id: str = "x") -> dict[str, str]:
    return {node.node_id: node.status for node in engine.list_nodes(execution_id)}


def _run(engine: GraphEngine, node_id: str, output: dict[str, Any] | None = None, *,
         fail: str | None = None, execution_id: str = "x") -> None:
    """Claim until ``node_id`` is claimed (it must be ready), then complete or fail it."""
    claimed = engine.claim_ready_nodes(execution_id, "w", limit=None)
    assert node_id in [c.node_id for c in claimed], (node_id, _statuses(engine, execution_id))
    for other in claimed:
        if other.node_id != node_id:
            engine.store.append(NewEvent(  # give the others back, so the test controls the order
                workflow_id=f"execution:{execution_id}", event_type="node_reclaimed",
                payload={"node_id": other.node_id},
            ))
    if fail is None:
        engine.complete_node(execution_id, node_id, output)
    else:
        engine.fail_node(execution_id, node_id, fail)


# --- starting ---------------------------------------------------------------------------


def test_start_snapshots_the_graph_and_readies_entry_nodes(engine: GraphEngine, chain: dict[str, Any]) -> None:
    engine.save_graph("g", "build", chain)
    execution = engine.start_execution("x", "g", workflow_id="wf-1", max_parallel=2, input={"q": 1})
    assert (execution.status, execution.workflow_id, execution.graph_version, execution.max_parallel,
            execution.input_data) == ("running", "wf-1", 1, 2, {"q": 1})
    assert _statuses(engine) == {"a": "ready", "b": "pending", "c": "pending"}
    assert engine.get_node("x", "a").input_data == {"q": 1}  # type: ignore[union-attr]
    engine.save_graph("g", "build v2", {"nodes": [{"id": "only"}]})
    assert [n.id for n in engine.get_execution("x").definition.nodes] == ["a", "b", "c"]  # type: ignore[union-attr]
    assert engine.get_graph("g").version == 2  # type: ignore[union-attr]


def test_start_refuses_an_unknown_graph_and_a_taken_id(engine: GraphEngine, chain: dict[str, Any]) -> None:
    with pytest.raises(GraphNotFoundError, match="no graph 'g' was saved"):
        engine.start_execution("x", "g")
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    head = engine.store.head()
    with pytest.raises(ExecutionExistsError, match="already exists"):
        engine.start_execution("x", "g")
    assert engine.store.head() == head


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.start_execution("x", "g", max_parallel=0), "max_parallel"),
        (lambda e: e.start_execution("", "g"), "execution_id"),
        (lambda e: e.start_execution("y", "g", input=[1]), "input"),
        (lambda e: e.claim_ready_nodes("x", "w", limit=0), "limit"),
        (lambda e: e.claim_ready_nodes("x", ""), "worker_id"),
        (lambda e: e.complete_node("x", "a", output="done"), "output"),
        (lambda e: e.skip_node("x", "a", reason=3), "reason"),
        (lambda e: e.reclaim_stale_nodes("x", -1), "timeout_seconds"),
        (lambda e: e.reclaim_stale_nodes("x", 1, now=datetime(2024, 1, 1)), "aware"),
        (lambda e: e.append_execution_event("x", ""), "event_type"),
        (lambda e: e.get_execution_events("x", limit=-1), "limit"),
    ],
)
def test_bad_arguments_raise_invalid_argument_error(
    engine: GraphEngine, chain: dict[str, Any], call: Callable[[GraphEngine], Any], message: str
) -> None:
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    head = engine.store.head()
    with pytest.raises(InvalidArgumentError, match=message):
        call(engine)
    assert engine.store.head() == head


# --- claiming -----------------------------------------------------------------------------


def _fan_out(engine: GraphEngine, width: int, max_parallel: int) -> None:
    nodes = [{"id": f"n{i:02}", "config": {"i": i}} for i in range(width)]
    engine.save_graph("fan", "fan", {"nodes": nodes})
    engine.start_execution("x", "fan", max_parallel=max_parallel, input={"all": True})


def test_claims_respect_max_parallel_limit_and_definition_order(engine: GraphEngine) -> None:
    _fan_out(engine, width=6, max_parallel=3)
    first = engine.claim_ready_nodes("x", "w1", limit=2)
    assert [(c.node_id, c.config, c.input_data, c.version, c.worker_id) for c in first] == [
        ("n00", {"i": 0}, {"all": True}, 2, "w1"), ("n01", {"i": 1}, {"all": True}, 2, "w1")]
    assert [c.node_id for c in engine.claim_ready_nodes("x", "w2")] == ["n02"]
    assert engine.claim_ready_nodes("x", "w2") == []
    engine.complete_node("x", "n01", {"ok": True}, worker_id="w1")
    assert [c.node_id for c in engine.claim_ready_nodes("x", "w2")] == ["n03"]
    running = engine.list_nodes("x", status="running")
    assert [(n.node_id, n.claimed_by) for n in running] == [("n00", "w1"), ("n02", "w2"), ("n03", "w2")]


def test_claiming_an_unknown_execution_is_an_error(engine: GraphEngine) -> None:
    with pytest.raises(ExecutionNotFoundError, match="no execution 'nope'"):
        engine.claim_ready_nodes("nope", "w")


# --- completing, failing, branching ----------------------------------------------------------


def test_a_chain_runs_in_order_passes_outputs_and_completes_itself(
    engine: GraphEngine, chain: dict[str, Any]
) -> None:
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    _run(engine, "a", {"plan": 1})
    assert _statuses(engine) == {"a": "completed", "b": "ready", "c": "pending"}
    assert engine.get_node("x", "b").input_data == {"a": {"plan": 1}}  # type: ignore[union-attr]
    _run(engine, "b")
    _run(engine, "c", {"done": True})
    execution = engine.get_execution("x")
    assert execution is not None and execution.status == "completed" and execution.completed_at
    node = engine.get_node("x", "c")
    assert node is not None and (node.version, node.output_data) == (3, {"done": True})


def test_failure_edges_fire_and_success_branches_are_skipped(engine: GraphEngine) -> None:
    engine.save_graph("g", "test-or-fix", {
        "nodes": [{"id": "test"}, {"id": "deploy"}, {"id": "notify"}, {"id": "fix"}],
        "edges": [
            {"source": "test", "target": "deploy"},
            {"source": "deploy", "target": "notify"},
            {"source": "test", "target": "fix", "condition": "failure"},
        ],
    })
    engine.start_execution("x", "g")
    _run(engine, "test", fail="3 tests failed")
    assert _statuses(engine) == {"test": "failed", "deploy": "skipped", "notify": "skipped", "fix": "ready"}
    _run(engine, "fix")
    execution = engine.get_execution("x")
    assert execution is not None and execution.status == "completed"  # the failure was handled


def test_an_unhandled_failure_fails_the_execution(engine: GraphEngine, chain: dict[str, Any]) -> None:
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    _run(engine, "a", fail="compiler crashed")
    execution = engine.get_execution("x")
    assert execution is not None
    assert (execution.status, execution.error) == ("failed", "nodes ['a'] failed: compiler crashed")
    assert _statuses(engine) == {"a": "failed", "b": "skipped", "c": "skipped"}


def test_output_conditions_branch_and_join_any_merges(engine: GraphEngine) -> None:
    engine.save_graph("g", "review", {
        "nodes": [{"id": "review"}, {"id": "merge"}, {"id": "rework"}, {"id": "report", "join": "any"}],
        "edges": [
            {"source": "review", "target": "merge", "condition": {"key": "verdict", "equals": "ok"}},
            {"source": "review", "target": "rework", "condition": {"key": "verdict", "equals": "no"}},
            {"source": "merge", "target": "report"},
            {"source": "rework", "target": "report"},
        ],
    })
    engine.start_execution("x", "g")
    _run(engine, "review", {"verdict": "ok"})
    assert _statuses(engine) == {"review": "completed", "merge": "ready", "rework": "skipped",
                                 "report": "pending"}
    _run(engine, "merge", {"sha": "abc"})
    assert engine.get_node("x", "report").input_data == {"merge": {"sha": "abc"}}  # type: ignore[union-attr]


def test_join_all_waits_for_every_predecessor(engine: GraphEngine) -> None:
    engine.save_graph("g", "diamond", {
        "nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
        "edges": [{"source": "a", "target": "c"}, {"source": "b", "target": "c"}],
    })
    engine.start_execution("x", "g")
    _run(engine, "a", {"n": 1})
    assert _statuses(engine)["c"] == "pending"
    _run(engine, "b", {"n": 2})
    assert engine.get_node("x", "c").input_data == {"a": {"n": 1}, "b": {"n": 2}}  # type: ignore[union-attr]


def test_skip_node_propagates_and_can_finish_the_execution(engine: GraphEngine, chain: dict[str, Any]) -> None:
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    node = engine.skip_node("x", "a", reason="not needed")
    assert (node.status, node.version) == ("skipped", 2)
    assert _statuses(engine) == {"a": "skipped", "b": "skipped", "c": "skipped"}
    assert engine.get_execution("x").status == "completed"  # type: ignore[union-attr]


def test_auto_finish_can_be_turned_off(evstore_store: EventStore, chain: dict[str, Any]) -> None:
    engine = GraphEngine(evstore_store, auto_finish=False)
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    for node_id in ("a", "b", "c"):
        _run(engine, node_id)
    assert engine.get_execution("x").status == "running"  # type: ignore[union-attr]
    assert engine.complete_execution("x").status == "completed"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.complete_node("x", "b"), "node 'b' of execution 'x' is pending"),
        (lambda e: e.fail_node("x", "a", "e"), "node 'a' of execution 'x' is ready"),
        (lambda e: e.skip_node("x", "zz"), "has no node 'zz'"),
        (lambda e: e.resume("x"), "execution 'x' is running; 'execution_resumed' needs it interrupted"),
    ],
)
def test_invalid_transitions_raise_and_change_nothing(
    engine: GraphEngine, chain: dict[str, Any], call: Callable[[GraphEngine], Any], message: str,
) -> None:
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    before = (engine.store.head(), snapshot_tables(engine.store, evstore_graph.TABLES))
    with pytest.raises((InvalidTransitionError, NodeNotFoundError), match=message):
        call(engine)
    assert (engine.store.head(), snapshot_tables(engine.store, evstore_graph.TABLES)) == before


# --- loops ------------------------------------------------------------------------------------

REVIEW_LOOP = {
    "nodes": [{"id": "code"}, {"id": "review"}, {"id": "merge"}],
    "edges": [
        {"source": "code", "target": "review"},
        {"source": "review", "target": "merge", "condition": {"key": "verdict", "equals": "ok"}},
        {"source": "review", "target": "code", "loop_key": "rework", "max_iterations": 2,
         "condition": {"key": "verdict", "equals": "rework"}},
    ],
}


def test_a_loop_resets_its_body_counts_iterations_and_exits_at_max(engine: GraphEngine) -> None:
    engine.save_graph("g", "review", REVIEW_LOOP)
    engine.start_execution("x", "g", input={"task": "t"})
    for iteration in (1, 2):
        _run(engine, "code", {"attempt": iteration})
        _run(engine, "review", {"verdict": "rework"})
        assert engine.get_loop_count("x", "rework") == iteration
        assert _statuses(engine) == {"code": "ready", "review": "pending", "merge": "pending"}
        assert engine.get_node("x", "code").input_data == {"task": "t"}  # type: ignore[union-attr]
    _run(engine, "code", {"attempt": 3})
    _run(engine, "review", {"verdict": "rework"})  # max_iterations reached: not taken again
    assert engine.get_loop_count("x", "rework") == 2
    assert _statuses(engine) == {"code": "completed", "review": "completed", "merge": "skipped"}
    assert engine.get_execution("x").status == "completed"  # type: ignore[union-attr]
    assert engine.get_node("x", "code").version == 3 * 3 + 2  # type: ignore[union-attr]


def test_a_failure_loop_retries_a_node(engine: GraphEngine) -> None:
    engine.save_graph("g", "retry", {
        "nodes": [{"id": "flaky"}],
        "edges": [{"source": "flaky", "target": "flaky", "condition": "failure",
                   "loop_key": "retry", "max_iterations": 1}],
    })
    engine.start_execution("x", "g")
    _run(engine, "flaky", fail="timeout")
    node = engine.get_node("x", "flaky")
    assert node is not None and (node.status, node.error) == ("ready", None)
    _run(engine, "flaky", fail="timeout again")
    assert engine.get_loop_count("x", "retry") == 1
    assert engine.get_execution("x").status == "failed"  # type: ignore[union-attr]


class _PowerCut:
    """A plugin that makes any append carrying a loop iteration fail, as a crash would."""

    evstore_plugin_name = "power_cut"

    def __init__(self) -> None:
        self.armed = True

    @hookimpl
    def evstore_before_append(self, store: EventStore, events: Sequence[NewEvent]) -> None:
        if self.armed and any(e.event_type == "loop_iterated" for e in events):
            raise OSError("power cut")


def test_a_crash_never_counts_an_iteration_twice_or_resets_without_counting(
    evstore_store_factory: StoreFactory,
) -> None:
    power_cut = _PowerCut()
    store = evstore_store_factory([evstore_graph, power_cut])
    engine = GraphEngine(store)
    engine.save_graph("g", "review", REVIEW_LOOP)
    engine.start_execution("x", "g")
    _run(engine, "code")
    engine.claim_ready_nodes("x", "w")
    with pytest.raises(OSError, match="power cut"):
        engine.complete_node("x", "review", {"verdict": "rework"})
    # The completion, the count and the resets were one append: none of them happened.
    assert engine.get_loop_count("x", "rework") == 0
    assert _statuses(engine) == {"code": "completed", "review": "running", "merge": "pending"}
    assert store.read("execution:x", types=["node_completed"])[-1].payload["node_id"] == "code"
    store.close()
    power_cut.armed = False
    store = evstore_store_factory([evstore_graph, power_cut])  # the same file, reopened
    engine = GraphEngine(store)
    engine.complete_node("x", "review", {"verdict": "rework"})  # the worker reports again
    assert engine.get_loop_count("x", "rework") == 1
    store.rebuild()
    assert engine.get_loop_count("x", "rework") == 1


# --- execution lifecycle -------------------------------------------------------------------------


def test_cancelled_executions_accept_no_transitions(engine: GraphEngine, chain: dict[str, Any]) -> None:
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    [claimed] = engine.claim_ready_nodes("x", "w")
    execution = engine.cancel("x", reason="user")
    assert (execution.status, execution.completed_at is not None) == ("cancelled", True)
    head = engine.store.head()
    for call in (
        lambda: engine.complete_node("x", claimed.node_id),
        lambda: engine.fail_node("x", claimed.node_id, "e"),
        lambda: engine.skip_node("x", "b"),
        lambda: engine.resume("x"),
        lambda: engine.interrupt("x"),
        lambda: engine.cancel("x"),
        lambda: engine.complete_execution("x"),
        lambda: engine.fail_execution("x", "e"),
    ):
        with pytest.raises(InvalidTransitionError, match="cancelled"):
            call()
    assert engine.claim_ready_nodes("x", "w") == []
    assert engine.reclaim_stale_nodes("x", 0, now=datetime.now(UTC) + timedelta(days=1)) == []
    assert engine.store.head() == head


def test_interrupt_pauses_claims_keeps_results_and_resume_finishes(
    engine: GraphEngine, chain: dict[str, Any]
) -> None:
    engine.save_graph("g", "build", {"nodes": [{"id": "a"}, {"id": "b"}]})
    engine.start_execution("x", "g")
    [first] = engine.claim_ready_nodes("x", "w", limit=1)
    assert engine.interrupt("x", reason="deploy").status == "interrupted"
    assert engine.claim_ready_nodes("x", "w") == []
    engine.complete_node("x", first.node_id)  # in-flight work is not lost
    engine.skip_node("x", "b")
    assert engine.get_execution("x").status == "interrupted"  # type: ignore[union-attr]
    assert engine.resume("x").status == "completed"  # nothing was left to do


def test_fail_execution_records_the_error(engine: GraphEngine, chain: dict[str, Any]) -> None:
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    execution = engine.fail_execution("x", "budget exhausted")
    assert (execution.status, execution.error) == ("failed", "budget exhausted")


# --- reclaiming stale nodes ----------------------------------------------------------------------


def test_stale_running_nodes_are_reclaimed_and_late_results_refused(engine: GraphEngine) -> None:
    _fan_out(engine, width=4, max_parallel=3)
    engine.claim_ready_nodes("x", "dead", limit=2)
    claimed_at = engine.get_node("x", "n00").claimed_at  # type: ignore[union-attr]
    assert claimed_at is not None
    assert engine.reclaim_stale_nodes("x", 60, now=claimed_at + timedelta(seconds=59)) == []
    later = claimed_at + timedelta(seconds=61)
    engine.store.append(NewEvent(  # n02, claimed 50 s after the others: not stale at `later`
        workflow_id="execution:x", event_type="node_claimed",
        payload={"node_id": "n02", "worker_id": "alive"}, timestamp=claimed_at + timedelta(seconds=50),
    ))
    assert engine.reclaim_stale_nodes("x", 60, now=later) == ["n00", "n01"]
    node = engine.get_node("x", "n00")
    assert node is not None and (node.status, node.claimed_by, node.version) == ("ready", None, 3)
    [again] = engine.claim_ready_nodes("x", "alive", limit=1)
    assert again.node_id == "n00"
    with pytest.raises(InvalidTransitionError, match="claimed by 'alive', not 'dead'"):
        engine.complete_node("x", "n00", {"late": True}, worker_id="dead")
    engine.complete_node("x", "n00", {"on time": True}, worker_id="alive")


# --- concurrency -------------------------------------------------------------------------------


def test_a_conflicting_append_is_retried_from_fresh_state(
    engine: GraphEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fan_out(engine, width=3, max_parallel=3)
    rival = GraphEngine(engine.store)
    original = Plan.claim
    calls: list[str] = []

    def claim_with_a_rival_in_between(plan: Plan, worker_id: str, limit: int | None) -> Any:
        calls.append(worker_id)
        result = original(plan, worker_id, limit)
        if len(calls) == 1:  # after our first decision, before our append: the rival wins
            rival.claim_ready_nodes("x", "rival", limit=1)
        return result

    monkeypatch.setattr(Plan, "claim", claim_with_a_rival_in_between)
    mine = engine.claim_ready_nodes("x", "me", limit=1)
    assert calls == ["me", "rival", "me"]  # decided, lost the race, decided again
    assert [c.node_id for c in mine] == ["n01"]
    assert engine.get_node("x", "n00").claimed_by == "rival"  # type: ignore[union-attr]


def test_after_lock_after_lost_races_the_decision_is_made_under_the_write_lock(
    engine: GraphEngine, evstore_store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fan_out(engine, width=6, max_parallel=6)
    patient = GraphEngine(engine.store, lock_after=2)
    # The rival has its own store, hence its own connection, as another process would.
    rival_store = evstore_store_factory([evstore_graph], path=engine.store.path, busy_timeout=0.05)
    rival = GraphEngine(rival_store, lock_after=None, max_attempts=1)
    original = Plan.claim
    outcomes: list[str] = []

    def rival_appends_whenever_it_can(plan: Plan, worker_id: str, limit: int | None) -> Any:
        result = original(plan, worker_id, limit)
        if worker_id == "me":
            try:
                rival.claim_ready_nodes("x", "rival", limit=1)
                outcomes.append("rival won")
            except StoreBusyError:
                outcomes.append("rival locked out")
        return result

    monkeypatch.setattr(Plan, "claim", rival_appends_whenever_it_can)
    mine = patient.claim_ready_nodes("x", "me", limit=1)
    assert outcomes == ["rival won", "rival won", "rival locked out"]
    assert [c.node_id for c in mine] == ["n02"]


def test_conflicts_beyond_max_attempts_are_reported(
    evstore_store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = GraphEngine(evstore_store, max_attempts=1, lock_after=None)
    _fan_out(engine, width=3, max_parallel=3)
    original = Plan.claim

    def always_lose(plan: Plan, worker_id: str, limit: int | None) -> Any:
        result = original(plan, worker_id, limit)
        evstore_store.append(NewEvent(workflow_id="execution:x", event_type="execution_event_recorded",
                                      payload={"event_type": "noise"}))
        return result

    monkeypatch.setattr(Plan, "claim", always_lose)
    with pytest.raises(ConcurrencyError, match="execution:x"):
        engine.claim_ready_nodes("x", "me")
    assert engine.list_nodes("x", status="running") == []


# --- the execution event feed ----------------------------------------------------------------


def test_execution_events_are_ordered_pageable_and_include_free_form_rows(
    engine: GraphEngine, chain: dict[str, Any]
) -> None:
    engine.save_graph("g", "build", chain)
    early = engine.append_execution_event("x", "queued", payload={"by": "ui"})
    engine.start_execution("x", "g")
    engine.claim_ready_nodes("x", "w")
    note = engine.append_execution_event("x", "agent_output", node_id="a", node_type="task",
                                         status="streaming", payload={"chunk": "hi"}, version=2)
    rows = engine.get_execution_events("x")
    assert [r["event_type"] for r in rows] == [
        "queued", "execution_started", "node_ready", "node_claimed", "agent_output"]
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and ids[0] == early and ids[-1] == note
    assert rows[-1] == {
        "id": note, "execution_id": "x", "node_id": "a", "node_type": "task",
        "event_type": "agent_output", "status": "streaming", "payload": {"chunk": "hi"},
        "version": 2, "timestamp": rows[-1]["timestamp"],
    }
    assert rows[3]["payload"] == {"node_id": "a", "worker_id": "w"}
    assert engine.get_execution_events("x", since_id=ids[1], limit=2) == rows[2:4]
    assert engine.get_execution_events("x", since_id=note) == []
    assert evstore_graph.get_execution_events(engine.store, "other") == []


def test_a_stream_the_projection_has_not_fully_applied_is_reported_not_retried_forever(
    evstore_store_factory: StoreFactory, chain: dict[str, Any]
) -> None:
    store = evstore_store_factory([evstore_graph], permissive=True)
    engine = GraphEngine(store, lock_after=1)
    engine.save_graph("g", "build", chain)
    engine.start_execution("x", "g")
    store.append(NewEvent(workflow_id="execution:x", event_type="stray_type_nobody_handles"))
    with pytest.raises(ConcurrencyError, match="expected version 2, but it is at version 3"):
        engine.claim_ready_nodes("x", "w")
    assert engine.list_nodes("x", status="running") == []
