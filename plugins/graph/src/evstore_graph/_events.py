"""The graph plugin's event types, their payloads, and which transitions they make.

Streams (the envelope's ``workflow_id``):

- ``graph:<graph_id>`` holds ``graph_saved`` events of one graph definition.
- ``execution:<execution_id>`` holds every event of one execution. The graph engine
  appends with ``expected_version`` set to this stream's version, so two workers deciding
  from the same state cannot both succeed: that is what makes claims race-free.

The ids of the graph and of the execution come from the stream name; node ids are in the
payloads. The projection is strict: an event whose transition is not allowed from the
current state (completing a node that is not running, anything on a cancelled execution)
is rejected at append time and nothing is written.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from evstore import EventType

from ._models import GraphDefinition

GRAPH_STREAM_PREFIX: Final = "graph:"
EXECUTION_STREAM_PREFIX: Final = "execution:"


def graph_stream(graph_id: str) -> str:
    return GRAPH_STREAM_PREFIX + graph_id


def execution_stream(execution_id: str) -> str:
    return EXECUTION_STREAM_PREFIX + execution_id


class _Payload(BaseModel):
    # Unknown fields are refused so a typo ("ouput") fails at append instead of vanishing.
    model_config = ConfigDict(extra="forbid", frozen=True)


_NodeId = Field(min_length=1, max_length=200)


class GraphSaved(_Payload):
    """``graph_saved``: a new version of the graph definition on ``graph:<id>``."""

    name: str = Field(min_length=1)
    definition: GraphDefinition


class ExecutionStarted(_Payload):
    """``execution_started``: the execution begins with a snapshot of the definition;
    every node is created pending. The entry nodes' ``node_ready`` follow in the same
    append."""

    graph_id: str = Field(min_length=1)
    graph_version: int = Field(ge=0)
    workflow_id: str | None = None  # the supervisor workflow that owns this execution
    definition: GraphDefinition
    max_parallel: int = Field(ge=1)
    input: dict[str, Any] | None = None


class NodeReady(_Payload):
    """``node_ready``: pending -> ready, with the node's input."""

    node_id: str = _NodeId
    input: dict[str, Any] | None = None


class NodeClaimed(_Payload):
    """``node_claimed``: ready -> running, by ``worker_id``."""

    node_id: str = _NodeId
    worker_id: str = Field(min_length=1)


class NodeCompleted(_Payload):
    """``node_completed``: running -> completed with the node's output."""

    node_id: str = _NodeId
    output: dict[str, Any] | None = None


class NodeFailed(_Payload):
    """``node_failed``: running -> failed."""

    node_id: str = _NodeId
    error: str


class NodeSkipped(_Payload):
    """``node_skipped``: pending or ready -> skipped."""

    node_id: str = _NodeId
    reason: str | None = None


class NodeReclaimed(_Payload):
    """``node_reclaimed``: running -> ready, taken back from a worker presumed dead."""

    node_id: str = _NodeId
    worker_id: str | None = None  # the worker it was taken from
    reason: str | None = None


class LoopIterated(_Payload):
    """``loop_iterated``: ``node_id`` (the loop edge's source) finished and the loop edge
    ``loop_key`` back to ``target_node_id`` was taken. Counts iteration ``iteration``
    (exactly the previous count + 1) and resets ``reset_nodes`` to pending, all in this
    one event, appended in the same batch as the source's completion: a crash cannot
    count an iteration twice or reset without counting."""

    node_id: str = _NodeId
    target_node_id: str = _NodeId
    loop_key: str = Field(min_length=1)
    iteration: int = Field(ge=1)
    reset_nodes: list[str] = Field(min_length=1)


class ExecutionCompleted(_Payload):
    """``execution_completed``."""


class ExecutionFailed(_Payload):
    """``execution_failed``."""

    error: str


class ExecutionCancelled(_Payload):
    """``execution_cancelled``: final; the execution accepts no further transitions."""

    reason: str | None = None


class ExecutionInterrupted(_Payload):
    """``execution_interrupted``: paused; no claims until ``execution_resumed``."""

    reason: str | None = None


class ExecutionResumed(_Payload):
    """``execution_resumed``: interrupted -> running."""


class ExecutionEventRecorded(_Payload):
    """``execution_event_recorded``: a free-form row of ``execution_events`` (the
    original's ``append_execution_event``). It changes no state."""

    event_type: str = Field(min_length=1)
    node_id: str | None = None
    node_type: str | None = None
    status: str | None = None
    payload: dict[str, Any] | None = None
    version: int = 0


PAYLOADS: Final[dict[str, type[BaseModel]]] = {
    "graph_saved": GraphSaved,
    "execution_started": ExecutionStarted,
    "node_ready": NodeReady,
    "node_claimed": NodeClaimed,
    "node_completed": NodeCompleted,
    "node_failed": NodeFailed,
    "node_skipped": NodeSkipped,
    "node_reclaimed": NodeReclaimed,
    "loop_iterated": LoopIterated,
    "execution_completed": ExecutionCompleted,
    "execution_failed": ExecutionFailed,
    "execution_cancelled": ExecutionCancelled,
    "execution_interrupted": ExecutionInterrupted,
    "execution_resumed": ExecutionResumed,
    "execution_event_recorded": ExecutionEventRecorded,
}

EVENT_TYPES: Final = tuple(
    EventType(name, payload=model, description=(model.__doc__ or "").split("\n")[0])
    for name, model in PAYLOADS.items()
)

# Node transitions: event type -> (statuses it may leave, status it enters).
NODE_TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "node_ready": (frozenset({"pending"}), "ready"),
    "node_claimed": (frozenset({"ready"}), "running"),
    "node_completed": (frozenset({"running"}), "completed"),
    "node_failed": (frozenset({"running"}), "failed"),
    "node_skipped": (frozenset({"pending", "ready"}), "skipped"),
    "node_reclaimed": (frozenset({"running"}), "ready"),
}

# Execution statuses in which each node event is accepted. Claims need a running
# execution; while interrupted, workers may still report the nodes they were running
# (their work is not lost) and dependents still become ready, but nothing is claimed.
NODE_EVENT_EXECUTION_STATUSES: Final[dict[str, frozenset[str]]] = {
    "node_claimed": frozenset({"running"}),
    **{
        name: frozenset({"running", "interrupted"})
        for name in ("node_ready", "node_completed", "node_failed", "node_skipped",
                     "node_reclaimed", "loop_iterated")
    },
}

# Execution transitions: event type -> (statuses it may leave, status it enters).
# Completed, failed and cancelled are final: no event leaves them.
EXECUTION_TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "execution_completed": (frozenset({"running", "interrupted"}), "completed"),
    "execution_failed": (frozenset({"running", "interrupted"}), "failed"),
    "execution_cancelled": (frozenset({"running", "interrupted"}), "cancelled"),
    "execution_interrupted": (frozenset({"running"}), "interrupted"),
    "execution_resumed": (frozenset({"interrupted"}), "running"),
}
