"""Deciding what happens next: from an execution's state to the events that record it.

A ``Plan`` is built from one read of the tables (``ExecutionState``). Each command checks
that its transition is allowed, then emits events while updating its own copy of the
statuses, so later decisions in the same command (a dependent becoming ready, the loop
being taken, the execution finishing) see the earlier ones. The engine appends all of a
plan's events in one ``append_many`` with the version it read: either all of them are
recorded against exactly that state, or none is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from evstore import NewEvent

from ._errors import InvalidTransitionError, NodeNotFoundError
from ._events import (
    EXECUTION_TRANSITIONS,
    NODE_EVENT_EXECUTION_STATUSES,
    NODE_TRANSITIONS,
    ExecutionCompleted,
    ExecutionFailed,
    LoopIterated,
    NodeClaimed,
    NodeReady,
    NodeReclaimed,
    NodeSkipped,
    execution_stream,
)
from ._models import FINISHED, EdgeSpec
from ._queries import ExecutionState


class ClaimedNode(BaseModel):
    """A node a worker claimed: what it needs to run it."""

    execution_id: str
    node_id: str
    node_type: str
    config: dict[str, Any]
    input_data: dict[str, Any] | None
    version: int
    worker_id: str


class Plan:
    """The events one command appends, decided from one ``ExecutionState``."""

    def __init__(self, state: ExecutionState, *, auto_finish: bool) -> None:
        execution = state.execution
        self.execution_id = execution.id
        self.expected_version = execution.version
        self.execution_status: str = execution.status
        self.shape = execution.definition.shape()
        self.input = execution.input_data
        self.max_parallel = execution.max_parallel
        self.nodes = state.nodes
        self.status: dict[str, str] = {node_id: node.status for node_id, node in state.nodes.items()}
        self.outputs = {node_id: node.output_data for node_id, node in state.nodes.items()}
        self.errors = {node_id: node.error for node_id, node in state.nodes.items()}
        self.loop_counts = dict(state.loop_counts)
        self.auto_finish = auto_finish
        self.events: list[NewEvent] = []

    # --- emitting ------------------------------------------------------------------

    def _emit(self, event_type: str, payload: BaseModel) -> None:
        self.events.append(
            NewEvent(workflow_id=execution_stream(self.execution_id), event_type=event_type,
                     payload=payload)
        )

    def _node_event(self, event_type: str, node_id: str, payload: BaseModel) -> None:
        """Emit a node transition after checking it is allowed now."""
        accepted = NODE_EVENT_EXECUTION_STATUSES[event_type]
        if self.execution_status not in accepted:
            raise InvalidTransitionError(
                f"execution {self.execution_id!r} is {self.execution_status}: {event_type!r} "
                f"(node {node_id!r}) is only accepted while it is {' or '.join(sorted(accepted))}"
            )
        allowed_from, new_status = NODE_TRANSITIONS[event_type]
        status = self._status(node_id)
        if status not in allowed_from:
            raise InvalidTransitionError(
                f"node {node_id!r} of execution {self.execution_id!r} is {status}; "
                f"{event_type!r} needs it {' or '.join(sorted(allowed_from))}"
            )
        self.status[node_id] = new_status
        self._emit(event_type, payload)

    def _status(self, node_id: str) -> str:
        status = self.status.get(node_id)
        if status is None:
            raise NodeNotFoundError(
                f"execution {self.execution_id!r} has no node {node_id!r}; its nodes are "
                f"{sorted(self.status)}"
            )
        return status

    def _execution_event(self, event_type: str, payload: BaseModel) -> None:
        allowed_from, new_status = EXECUTION_TRANSITIONS[event_type]
        if self.execution_status not in allowed_from:
            raise InvalidTransitionError(
                f"execution {self.execution_id!r} is {self.execution_status}; {event_type!r} "
                f"needs it {' or '.join(sorted(allowed_from))}"
                + (" (a cancelled execution accepts no transitions)"
                   if self.execution_status == "cancelled" else "")
            )
        self.execution_status = new_status
        self._emit(event_type, payload)

    # --- commands ------------------------------------------------------------------

    def claim(self, worker_id: str, limit: int | None) -> list[ClaimedNode]:
        """Claim ready nodes in definition order, up to ``max_parallel`` running. An
        execution that is not running gives nothing."""
        if self.execution_status != "running":
            return []
        running = sum(1 for status in self.status.values() if status == "running")
        room = self.max_parallel - running
        if limit is not None:
            room = min(room, limit)
        ready = [node_id for node_id in self.shape.nodes if self.status[node_id] == "ready"]
        claimed = []
        for node_id in ready[: max(room, 0)]:
            self._node_event("node_claimed", node_id, NodeClaimed(node_id=node_id, worker_id=worker_id))
            node = self.nodes[node_id]
            claimed.append(
                ClaimedNode(
                    execution_id=self.execution_id, node_id=node_id, node_type=node.node_type,
                    config=self.shape.nodes[node_id].config, input_data=node.input_data,
                    version=node.version + 1, worker_id=worker_id,
                )
            )
        return claimed

    def finish_node(
        self, event_type: str, node_id: str, payload: BaseModel, *,
        output: dict[str, Any] | None = None, error: str | None = None, worker_id: str | None = None,
    ) -> None:
        """``node_completed`` or ``node_failed``, then what follows from it."""
        if worker_id is not None and self._status(node_id) == "running":
            holder = self.nodes[node_id].claimed_by
            if holder != worker_id:
                raise InvalidTransitionError(
                    f"node {node_id!r} of execution {self.execution_id!r} is claimed by "
                    f"{holder!r}, not {worker_id!r} (it was probably reclaimed as stale); "
                    "drop this result"
                )
        self._node_event(event_type, node_id, payload)
        self.outputs[node_id], self.errors[node_id] = output, error
        self._follow(node_id)

    def skip(self, node_id: str, reason: str | None) -> None:
        self._node_event("node_skipped", node_id, NodeSkipped(node_id=node_id, reason=reason))
        self._decide_dependents(node_id)
        self._maybe_finish()

    def reclaim(self, timeout_seconds: float, now: datetime) -> list[str]:
        """Running nodes claimed longer than ``timeout_seconds`` before ``now`` go back
        to ready. Nothing is reclaimed from an execution that has ended."""
        if self.execution_status not in NODE_EVENT_EXECUTION_STATUSES["node_reclaimed"]:
            return []
        cutoff = now - timedelta(seconds=timeout_seconds)
        stale = [
            node_id
            for node_id in self.shape.nodes
            if self.status[node_id] == "running"
            and (claimed_at := self.nodes[node_id].claimed_at) is not None
            and claimed_at < cutoff
        ]
        for node_id in stale:
            node = self.nodes[node_id]
            self._node_event(
                "node_reclaimed", node_id,
                NodeReclaimed(
                    node_id=node_id, worker_id=node.claimed_by,
                    reason=f"claimed at {node.claimed_at} and not finished after {timeout_seconds}s",
                ),
            )
        return stale

    def transition(self, event_type: str, payload: BaseModel) -> None:
        """An execution-level transition (cancel, interrupt, resume, complete, fail)."""
        self._execution_event(event_type, payload)
        if event_type == "execution_resumed":
            self._maybe_finish()  # everything may have finished while it was interrupted

    # --- consequences --------------------------------------------------------------

    def _follow(self, node_id: str) -> None:
        """After ``node_id`` completed or failed: take a loop edge if one fires, else
        decide its dependents; then finish the execution if nothing is left."""
        for edge in self.shape.loops_from[node_id]:
            if self._loop_fires(edge, node_id):
                self._take_loop(edge)
                break
        else:
            self._decide_dependents(node_id)
        self._maybe_finish()

    def _loop_fires(self, edge: EdgeSpec, node_id: str) -> bool:
        assert edge.loop_key is not None and edge.max_iterations is not None
        return (
            edge.holds(self.status[node_id], self.outputs[node_id])
            and self.loop_counts.get(edge.loop_key, 0) < edge.max_iterations
        )

    def _take_loop(self, edge: EdgeSpec) -> None:
        assert edge.loop_key is not None
        body = self.shape.loop_body(edge)
        running = [node_id for node_id in body if self.status[node_id] == "running"]
        if running:
            raise InvalidTransitionError(
                f"loop {edge.loop_key!r} of execution {self.execution_id!r} would reset nodes "
                f"{running} while they are running; report their results first"
            )
        iteration = self.loop_counts.get(edge.loop_key, 0) + 1
        self.loop_counts[edge.loop_key] = iteration
        self._emit(
            "loop_iterated",
            LoopIterated(node_id=edge.source, target_node_id=edge.target, loop_key=edge.loop_key,
                         iteration=iteration, reset_nodes=body),
        )
        for node_id in body:
            self.status[node_id] = "pending"
            self.outputs[node_id] = self.errors[node_id] = None
        self._node_event("node_ready", edge.target,
                         NodeReady(node_id=edge.target, input=self._input_for(edge.target)))

    def _input_for(self, node_id: str) -> dict[str, Any] | None:
        """A node's input: the outputs of its completed predecessors by node id, or the
        execution's input for a node without predecessors."""
        incoming = self.shape.incoming[node_id]
        if not incoming:
            return self.input
        return {
            edge.source: self.outputs[edge.source]
            for edge in incoming
            if self.status[edge.source] == "completed"
        }

    def _decide_dependents(self, node_id: str) -> None:
        """Make pending dependents whose predecessors all finished ready or skipped;
        a skip propagates to the skipped node's own dependents."""
        frontier = [node_id]
        while frontier:
            source = frontier.pop(0)
            for edge in self.shape.outgoing[source]:
                target = edge.target
                if self.status[target] != "pending":
                    continue
                incoming = self.shape.incoming[target]
                if any(self.status[e.source] not in FINISHED for e in incoming):
                    continue
                if self._joins(target, incoming):
                    self._node_event("node_ready", target,
                                     NodeReady(node_id=target, input=self._input_for(target)))
                else:
                    self._node_event(
                        "node_skipped", target,
                        NodeSkipped(node_id=target, reason="no incoming edge condition held"),
                    )
                    frontier.append(target)

    def _joins(self, node_id: str, incoming: Sequence[EdgeSpec]) -> bool:
        holds = [e.holds(self.status[e.source], self.outputs[e.source]) for e in incoming]
        return all(holds) if self.shape.nodes[node_id].join == "all" else any(holds)

    def _maybe_finish(self) -> None:
        """With auto-finish on, a running execution whose nodes have all finished ends:
        failed if some node failed with no edge to handle the failure, else completed."""
        if not self.auto_finish or self.execution_status != "running":
            return
        if any(status not in FINISHED for status in self.status.values()):
            return
        unhandled = [
            node_id
            for node_id, status in self.status.items()
            if status == "failed"
            and not any(edge.holds("failed", None) for edge in self.shape.outgoing[node_id])
        ]
        if unhandled:
            first = self.errors[unhandled[0]]
            self._execution_event(
                "execution_failed",
                ExecutionFailed(error=f"nodes {unhandled} failed" + (f": {first}" if first else "")),
            )
        else:
            self._execution_event("execution_completed", ExecutionCompleted())
