"""``GraphEngine``: the command API over the graph events.

Every execution command follows one pattern: read the execution's state and its stream
version from the tables, decide (``Plan``), and append all the resulting events in one
``append_many`` with ``expected_version`` set to the version read. If another worker or
process appended in between, the append raises ``ConcurrencyError`` and writes nothing;
the engine reads again and decides again. Two workers can therefore never claim the
same node, nor together exceed ``max_parallel``: whichever appends second was deciding
from a state that no longer exists. After a few lost races a command decides while
holding the write lock instead, so no worker starves (see ``GraphEngine._retrying``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import pydantic

from evstore import (
    ANY,
    ConcurrencyError,
    EventStore,
    ExpectedVersion,
    InvalidArgumentError,
    NewEvent,
)

from . import _queries
from ._errors import ExecutionExistsError, GraphDefinitionError
from ._events import (
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionEventRecorded,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionResumed,
    ExecutionStarted,
    GraphSaved,
    NodeCompleted,
    NodeFailed,
    NodeReady,
    execution_stream,
    graph_stream,
)
from ._models import GraphDefinition
from ._planner import ClaimedNode, Plan
from ._queries import GraphExecution, GraphWorkflow, NodeExecution

T = TypeVar("T")

DEFAULT_MAX_PARALLEL = 4
DEFAULT_MAX_ATTEMPTS = 32
DEFAULT_LOCK_AFTER = 3


class GraphEngine:
    """Commands and queries for graph executions on one ``EventStore``.

    :param store: a store with the ``graph`` plugin loaded.
    :param auto_finish: when a command leaves every node of a running execution
        finished (completed, failed or skipped), append ``execution_completed`` (or
        ``execution_failed`` if a node failed with no failure edge) in the same batch.
    :param max_attempts: how many times a command decides before it gives up and
        raises the ``ConcurrencyError`` of the race it lost last.
    :param lock_after: after this many lost races, decide while holding the store's
        write lock, which cannot lose (``0``: always; ``None``: never, purely optimistic).
    """

    def __init__(
        self,
        store: EventStore,
        *,
        auto_finish: bool = True,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        lock_after: int | None = DEFAULT_LOCK_AFTER,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidArgumentError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if lock_after is not None and (
            isinstance(lock_after, bool) or not isinstance(lock_after, int) or lock_after < 0
        ):
            raise InvalidArgumentError(f"lock_after must be None or an int >= 0, got {lock_after!r}")
        self.store = store
        self.auto_finish = auto_finish
        self.max_attempts = max_attempts
        self.lock_after = lock_after

    # --- graph definitions ------------------------------------------------------------

    def save_graph(
        self,
        graph_id: str,
        name: str,
        definition: GraphDefinition | Mapping[str, Any],
        *,
        expected_version: ExpectedVersion | int = ANY,
    ) -> int:
        """Save a new version of a graph definition; returns the event's position.
        Raises ``GraphDefinitionError`` for a malformed definition."""
        _check_id("graph_id", graph_id)
        _check_id("name", name)
        payload = GraphSaved(name=name, definition=_definition(definition))
        return self.store.append(
            NewEvent(workflow_id=graph_stream(graph_id), event_type="graph_saved", payload=payload),
            expected_version=expected_version,
        )

    def get_graph(self, graph_id: str) -> GraphWorkflow | None:
        return _queries.get_graph(self.store, graph_id)

    # --- executions -------------------------------------------------------------------

    def start_execution(
        self,
        execution_id: str,
        graph_id: str,
        workflow_id: str | None = None,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        input: dict[str, Any] | None = None,
    ) -> GraphExecution:
        """Start an execution of the graph's latest version: its definition is
        snapshotted, every node is created pending and the entry nodes become ready
        (with ``input`` as their input). Raises ``ExecutionExistsError`` if the id is
        taken, ``GraphNotFoundError`` if the graph was never saved."""
        _check_id("execution_id", execution_id)
        if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1:
            raise InvalidArgumentError(f"max_parallel must be an int >= 1, got {max_parallel!r}")
        stream = execution_stream(execution_id)

        def attempt() -> None:
            # Free-form execution events may precede the start, so expect the stream's
            # current version (read first) rather than NO_STREAM.
            version = self.store.version(stream)
            existing = _queries.get_execution(self.store, execution_id)
            if existing is not None:
                raise ExecutionExistsError(
                    f"execution {execution_id!r} already exists (it is {existing.status}); "
                    "start a new execution under a new id"
                )
            graph = _queries.require_graph(self.store, graph_id)
            started = _payload(
                ExecutionStarted, graph_id=graph_id, graph_version=graph.version, workflow_id=workflow_id,
                definition=graph.definition, max_parallel=max_parallel, input=input,
            )
            events = [NewEvent(workflow_id=stream, event_type="execution_started", payload=started)]
            events += [
                NewEvent(workflow_id=stream, event_type="node_ready",
                         payload=_payload(NodeReady, node_id=node_id, input=input))
                for node_id in graph.definition.shape().entry_nodes
            ]
            self.store.append_many(events, expected_version=version)

        self._retrying(attempt)
        return _queries.require_execution(self.store, execution_id)

    def claim_ready_nodes(
        self, execution_id: str, worker_id: str, limit: int | None = None
    ) -> list[ClaimedNode]:
        """Atomically claim ready nodes for ``worker_id``, in definition order, at most
        ``limit`` and never more than the execution's ``max_parallel`` running at once.
        An execution that is not running (interrupted, or ended) gives an empty list."""
        _check_id("worker_id", worker_id)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidArgumentError(f"limit must be None or an int >= 1, got {limit!r}")
        return self._decide(execution_id, lambda plan: plan.claim(worker_id, limit))

    def complete_node(
        self, execution_id: str, node_id: str, output: dict[str, Any] | None = None,
        *, worker_id: str | None = None,
    ) -> NodeExecution:
        """A running node completed with ``output``. Its dependents become ready or
        skipped per their edge conditions, or a loop edge is taken (resetting the loop
        body and counting the iteration in the same append). With ``worker_id``, the
        result is refused if another worker holds the node (it was reclaimed)."""
        _check_id("node_id", node_id)
        payload = _payload(NodeCompleted, node_id=node_id, output=output)
        # Decide on the output as it will be stored (JSON), as later decisions will see it.
        stored = payload.model_dump(mode="json")["output"]
        self._decide(execution_id, lambda plan: plan.finish_node(
            "node_completed", node_id, payload, output=stored, worker_id=worker_id))
        return _queries.require_node(self.store, execution_id, node_id)

    def fail_node(
        self, execution_id: str, node_id: str, error: str, *, worker_id: str | None = None
    ) -> NodeExecution:
        """A running node failed. ``failure`` / ``always`` edges fire, ``success``
        edges do not; a loop edge on failure retries."""
        _check_id("node_id", node_id)
        payload = _payload(NodeFailed, node_id=node_id, error=str(error))
        self._decide(execution_id, lambda plan: plan.finish_node(
            "node_failed", node_id, payload, error=str(error), worker_id=worker_id))
        return _queries.require_node(self.store, execution_id, node_id)

    def skip_node(self, execution_id: str, node_id: str, reason: str | None = None) -> NodeExecution:
        """Skip a pending or ready node; the skip propagates to dependents it decides."""
        _check_id("node_id", node_id)
        if reason is not None and not isinstance(reason, str):
            raise InvalidArgumentError(f"reason must be a string or None, got {reason!r}")
        self._decide(execution_id, lambda plan: plan.skip(node_id, reason))
        return _queries.require_node(self.store, execution_id, node_id)

    def reclaim_stale_nodes(
        self, execution_id: str, timeout_seconds: float, now: datetime | None = None
    ) -> list[str]:
        """Running nodes claimed more than ``timeout_seconds`` before ``now`` (default:
        the current time) return to ready for another worker; returns their ids."""
        if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, (int, float)) \
                or timeout_seconds < 0:
            raise InvalidArgumentError(f"timeout_seconds must be a number >= 0, got {timeout_seconds!r}")
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            raise InvalidArgumentError(f"now must be an aware datetime, got naive {now.isoformat()}")
        moment = now
        return self._decide(execution_id, lambda plan: plan.reclaim(float(timeout_seconds), moment))

    def cancel(self, execution_id: str, reason: str | None = None) -> GraphExecution:
        """Cancel a running or interrupted execution; it then accepts no transitions."""
        return self._transition(
            execution_id, "execution_cancelled", _payload(ExecutionCancelled, reason=reason)
        )

    def interrupt(self, execution_id: str, reason: str | None = None) -> GraphExecution:
        """Pause a running execution: no claims until ``resume``; running nodes may still
        report their results."""
        return self._transition(
            execution_id, "execution_interrupted", _payload(ExecutionInterrupted, reason=reason)
        )

    def resume(self, execution_id: str) -> GraphExecution:
        """Resume an interrupted execution (finishing it at once if nothing is left)."""
        return self._transition(execution_id, "execution_resumed", ExecutionResumed())

    def complete_execution(self, execution_id: str) -> GraphExecution:
        """Mark a running or interrupted execution completed, whatever its nodes' state."""
        return self._transition(execution_id, "execution_completed", ExecutionCompleted())

    def fail_execution(self, execution_id: str, error: str) -> GraphExecution:
        """Mark a running or interrupted execution failed with ``error``."""
        return self._transition(execution_id, "execution_failed", ExecutionFailed(error=str(error)))

    def append_execution_event(
        self,
        execution_id: str,
        event_type: str,
        node_id: str | None = None,
        node_type: str | None = None,
        status: str | None = None,
        payload: dict[str, Any] | None = None,
        version: int = 0,
    ) -> int:
        """See :func:`append_execution_event`."""
        return append_execution_event(
            self.store, execution_id, event_type, node_id, node_type, status, payload, version
        )

    # --- queries -------------------------------------------------------------------------

    def get_execution(self, execution_id: str) -> GraphExecution | None:
        return _queries.get_execution(self.store, execution_id)

    def get_node(self, execution_id: str, node_id: str) -> NodeExecution | None:
        return _queries.get_node(self.store, execution_id, node_id)

    def list_nodes(self, execution_id: str, status: str | None = None) -> list[NodeExecution]:
        return _queries.list_nodes(self.store, execution_id, status)

    def get_loop_count(self, execution_id: str, loop_key: str) -> int:
        return _queries.get_loop_count(self.store, execution_id, loop_key)

    def get_execution_events(
        self, execution_id: str, since_id: int | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        return _queries.get_execution_events(self.store, execution_id, since_id, limit)

    # --- the read-decide-append loop --------------------------------------------------------

    def _transition(self, execution_id: str, event_type: str, payload: pydantic.BaseModel) -> GraphExecution:
        self._decide(execution_id, lambda plan: plan.transition(event_type, payload))
        return _queries.require_execution(self.store, execution_id)

    def _decide(self, execution_id: str, decide: Callable[[Plan], T]) -> T:
        def attempt() -> T:
            plan = Plan(_queries.load_state(self.store, execution_id), auto_finish=self.auto_finish)
            result = decide(plan)
            if plan.events:
                self.store.append_many(plan.events, expected_version=plan.expected_version)
            return result

        return self._retrying(attempt)

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` (read, decide, append with the version read) until it does not
        lose a race. The first ``lock_after`` attempts hold no lock, so deciders do not
        block other writers. Optimism alone can starve a worker whose rivals append
        faster than it decides; later attempts therefore decide while holding the
        store's write lock (BEGIN IMMEDIATE), where nobody can append in between. Such an
        attempt still conflicts if the stream holds events the projection has not
        applied (it is failing, or something else writes to the stream): retrying
        cannot fix that, so the error is raised at once."""
        for number in range(self.max_attempts):
            locked = self.lock_after is not None and number >= self.lock_after
            try:
                if not locked:
                    return attempt()
                with self.store.transaction():
                    return attempt()
            except ConcurrencyError:
                if locked or number + 1 == self.max_attempts:
                    raise
                _back_off(number)
        raise AssertionError("unreachable")  # pragma: no cover


def append_execution_event(
    store: EventStore,
    execution_id: str,
    event_type: str,
    node_id: str | None = None,
    node_type: str | None = None,
    status: str | None = None,
    payload: dict[str, Any] | None = None,
    version: int = 0,
) -> int:
    """Record a free-form row of ``execution_events`` (the original's method of the same
    name) as an ``execution_event_recorded`` event; returns its id, the event's position.
    It changes no state, so it is accepted in any status, even before the execution
    starts."""
    _check_id("execution_id", execution_id)
    recorded = _payload(
        ExecutionEventRecorded, event_type=event_type, node_id=node_id, node_type=node_type,
        status=status, payload=payload, version=version,
    )
    return store.append(
        NewEvent(workflow_id=execution_stream(execution_id), event_type="execution_event_recorded",
                 payload=recorded)
    )


def _back_off(attempt: int) -> None:
    # Random, growing pauses: workers that lost the same race do not all come back at
    # the same instant and collide again.
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))


def _check_id(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")


M = TypeVar("M", bound=pydantic.BaseModel)


def _payload(model: type[M], **fields: Any) -> M:
    """Build an event payload from a command's arguments, reporting bad ones as
    ``InvalidArgumentError`` before anything is appended."""
    try:
        return model(**fields)
    except pydantic.ValidationError as error:
        raise InvalidArgumentError(f"invalid arguments for {model.__name__}: {_problems(error)}") from None


def _definition(definition: GraphDefinition | Mapping[str, Any]) -> GraphDefinition:
    if isinstance(definition, GraphDefinition):
        return definition
    try:
        return GraphDefinition.model_validate(definition)
    except pydantic.ValidationError as error:
        raise GraphDefinitionError(f"invalid graph definition: {_problems(error)}") from None


def _problems(error: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(definition)'}: {e['msg']}" for e in error.errors()
    )
