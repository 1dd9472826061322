"""Random histories driven through the command API: the invariants hold all along and
a rebuild reproduces every row of every graph table; and the kit's contract (rebuild,
redelivery, unknown types, table ownership, atomicity, handler errors) on the events
such histories append.

The projection is strict, so a list of events is only a valid history if every
transition in it is legal. Rather than model the engine, the contract's strategy runs
the commands on a scratch store and hands over the events the engine appended there,
which replay the same way into any empty store (the graph plugin has no reactor).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evstore_graph
from evstore import EventStore, NewEvent
from evstore.testing import ProjectionContract, snapshot_tables
from evstore_graph import GraphEngine, InvalidTransitionError

GRAPHS: dict[str, dict[str, Any]] = {
    "review": {
        "nodes": [{"id": "plan"}, {"id": "code"}, {"id": "review"}, {"id": "merge"}, {"id": "fix"}],
        "edges": [
            {"source": "plan", "target": "code"},
            {"source": "code", "target": "review"},
            {"source": "review", "target": "merge", "condition": {"key": "verdict", "equals": "ok"}},
            {"source": "review", "target": "code", "loop_key": "rework", "max_iterations": 2,
             "condition": {"key": "verdict", "equals": "rework"}},
            {"source": "code", "target": "fix", "condition": "failure"},
        ],
    },
    "diamond": {
        "nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d", "join": "any"}, {"id": "e"}],
        "edges": [
            {"source": "a", "target": "b"}, {"source": "a", "target": "c", "condition": "always"},
            {"source": "b", "target": "d"}, {"source": "c", "target": "d"},
            {"source": "d", "target": "e", "condition": {"key": "verdict", "equals": "ok"}},
        ],
    },
    "retry": {
        "nodes": [{"id": "flaky"}, {"id": "after"}],
        "edges": [
            {"source": "flaky", "target": "after"},
            {"source": "flaky", "target": "flaky", "condition": "failure", "loop_key": "retry",
             "max_iterations": 3},
        ],
    },
}
MAX_ITERATIONS = {"rework": 2, "retry": 3}
OUTPUTS = st.sampled_from([{"verdict": "rework"}, {"verdict": "ok"}, None, {"n": 1}])
FAR_FUTURE = datetime.now(UTC) + timedelta(days=365)


class Draws(Protocol):
    def draw(self, strategy: st.SearchStrategy[Any]) -> Any: ...


class History:
    """Draws and applies random commands; invalid ones are refused and change nothing."""

    def __init__(self, engine: GraphEngine, data: Draws) -> None:
        self.engine = engine
        self.data = data
        self.executions: list[str] = []

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self.data.draw(strategy)

    def execution(self) -> str:
        # Mostly executions still running, so histories get deep (loops, retries).
        live = [e.id for e in evstore_graph.list_executions(self.engine.store, status="running")]
        if live and self.draw(st.integers(0, 4)):
            return str(self.draw(st.sampled_from(live)))
        return str(self.draw(st.sampled_from(self.executions)))

    def node(self, execution_id: str, prefer: str) -> str:
        nodes = self.engine.list_nodes(execution_id)
        preferred = [n.node_id for n in nodes if n.status == prefer]
        return str(self.draw(st.sampled_from(preferred or [n.node_id for n in nodes])))

    def start(self) -> None:
        execution_id = f"x{len(self.executions)}"
        self.engine.start_execution(
            execution_id, self.draw(st.sampled_from(["review", "retry", "diamond"])), workflow_id="wf",
            max_parallel=self.draw(st.integers(1, 3)), input=self.draw(st.sampled_from([None, {"q": 1}])),
        )
        self.executions.append(execution_id)

    def running_node(self, execution_id: str) -> tuple[str, str]:
        """A running node of any execution (most results are for those), else any node."""
        running = self.engine.store.reader.fetchall(
            "SELECT execution_id, node_id FROM node_executions WHERE status = 'running' ORDER BY id"
        )
        if running:
            found = self.draw(st.sampled_from(running))
            return str(found[0]), str(found[1])
        return execution_id, self.node(execution_id, "running")

    def finish(self, execution_id: str, *, fail: bool) -> None:
        execution_id, node_id = self.running_node(execution_id)
        if fail:
            self.engine.fail_node(execution_id, node_id, "boom")
        else:
            self.engine.complete_node(execution_id, node_id, self.draw(OUTPUTS))

    def step(self) -> None:
        if not self.executions:
            self.start()
            return
        execution_id = self.execution()
        engine = self.engine
        commands: dict[str, Callable[[], Any]] = {
            "start": self.start,
            "claim": lambda: engine.claim_ready_nodes(
                execution_id, self.draw(st.sampled_from(["w1", "w2"])),
                self.draw(st.none() | st.integers(1, 3))),
            "complete": lambda: self.finish(execution_id, fail=False),
            "fail": lambda: self.finish(execution_id, fail=True),
            "skip": lambda: engine.skip_node(execution_id, self.node(execution_id, "pending")),
            "reclaim": lambda: engine.reclaim_stale_nodes(execution_id, 10, now=FAR_FUTURE),
            "interrupt": lambda: engine.interrupt(execution_id),
            "resume": lambda: engine.resume(execution_id),
            "cancel": lambda: engine.cancel(execution_id),
            "complete_execution": lambda: engine.complete_execution(execution_id),
            "fail_execution": lambda: engine.fail_execution(execution_id, "stop"),
            "record": lambda: engine.append_execution_event(execution_id, "log", payload={"n": 1}),
            "save": lambda: engine.save_graph("review", "review", GRAPHS["review"]),
        }
        # Weights: mostly the commands that move nodes along, some lifecycle noise.
        name = self.draw(st.sampled_from(
            ["claim"] * 8 + ["complete"] * 8 + ["fail"] * 3 + ["skip", "reclaim", "interrupt", "resume"] * 2
            + ["start", "cancel", "complete_execution", "fail_execution", "record", "save"]
        ))
        try:
            commands[name]()
        except InvalidTransitionError:
            pass

    def check_invariants(self) -> None:
        store = self.engine.store
        overfull = store.reader.fetchall(
            "SELECT e.id FROM graph_executions e WHERE (SELECT COUNT(*) FROM node_executions n "
            "WHERE n.execution_id = e.id AND n.status = 'running') > e.max_parallel"
        )
        assert overfull == []
        for _execution_id, loop_key, count in store.reader.fetchall("SELECT * FROM loop_counters"):
            assert 1 <= count <= MAX_ITERATIONS[loop_key]


def new_engine(store: EventStore) -> GraphEngine:
    """An engine on ``store`` with the three graphs saved."""
    engine = GraphEngine(store)
    for graph_id, definition in GRAPHS.items():
        engine.save_graph(graph_id, graph_id, definition)
    return engine


def table_rows(store: EventStore) -> dict[str, list[tuple[Any, ...]]]:
    return snapshot_tables(store, evstore_graph.TABLES)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), length=st.integers(20, 80))
def test_rebuild_reproduces_every_row_after_a_random_history(data: st.DataObject, length: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore.open(Path(folder) / "s.db", plugins=[evstore_graph], autoload=False,
                               durability="normal")
        try:
            history = History(new_engine(store), data)
            for _ in range(length):
                history.step()
                history.check_invariants()
            before = table_rows(store)
            store.rebuild()
            assert table_rows(store) == before
        finally:
            store.close()


class _DrawFrom:
    """What History needs of a ``st.DataObject``, inside a composite strategy."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self._draw(strategy)


@st.composite
def engine_histories(draw: st.DrawFn, min_commands: int = 20, max_commands: int = 60) -> list[NewEvent]:
    """The events ``History`` appends for up to ``max_commands`` random commands (graphs
    saved, executions started, nodes claimed, completed, failed, skipped, reclaimed,
    loops iterated, executions interrupted, resumed and ended), with their ids and
    timestamps, in log order."""
    length = draw(st.integers(min_value=min_commands, max_value=max_commands))
    with tempfile.TemporaryDirectory() as folder, EventStore.open(
        Path(folder) / "scratch.db", plugins=[evstore_graph], autoload=False, durability="normal"
    ) as scratch:
        history = History(new_engine(scratch), _DrawFrom(draw))
        for _ in range(length):
            history.step()
        return [
            NewEvent(
                workflow_id=e.workflow_id, event_type=e.event_type, role=e.role, step_id=e.step_id,
                component_id=e.component_id, status=e.status, payload=e.payload, metadata=e.metadata,
                timestamp=e.timestamp, event_id=e.event_id,
            )
            for e in scratch.read_all()
        ]


class TestGraphContract(ProjectionContract):
    # Strict: the contract's handler-error check expects the append to be rejected.
    plugins = (evstore_graph,)
    projection_name = "graph"
    events = engine_histories()
    max_examples = 15  # each example first runs its commands on a scratch store


class TestGraphContractInSmallBatches(TestGraphContract):
    """The replaying checks again, with replays three events at a time: the contract's
    histories fit in one batch of the usual size, and the batch handler must also find
    the executions, nodes and loop counters earlier batches wrote."""

    replay_batch_size = 3
    replay_checks_only = True
