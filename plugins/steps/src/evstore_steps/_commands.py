"""Command helpers: each appends one event and returns its global position."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evstore import EventStore, InvalidArgumentError, NewEvent, require_projection

from ._events import STEP_STATUS_CHANGED
from ._projection import PROJECTION_NAME
from ._status import StepStatus


def update_step(
    store: EventStore,
    step_id: str,
    status: StepStatus | str,
    output: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> int:
    """Append ``step_status_changed``: the step's status, output and error become exactly
    these (``None`` clears), as the original's ``update_step`` wrote them, but as an
    event, so ``store.rebuild()`` keeps the change. Any ``StepStatus`` is accepted,
    ``blocked`` and ``awaiting_approval`` included.

    The event goes to the step's workflow, read from the ``steps`` table in the same
    transaction as the append, so it cannot change in between.

    :raises ValueError: ``status`` is not a ``StepStatus``, or no event has mentioned
        ``step_id`` (the original updated nothing then, silently). Nothing is appended.
    """
    require_projection(store, PROJECTION_NAME, package="evstore_steps")
    if not isinstance(step_id, str) or not step_id:
        raise InvalidArgumentError(f"step_id must be a non-empty string, got {step_id!r}")
    try:
        value = StepStatus(status).value
    except ValueError:
        raise ValueError(
            f"status must be one of {[s.value for s in StepStatus]}, got {status!r}"
        ) from None
    payload = {"status": value, "output": None if output is None else dict(output), "error": error}
    with store.transaction():
        workflow_id = store.reader.fetchvalue("SELECT workflow_id FROM steps WHERE id = ?", (step_id,))
        if workflow_id is None:
            raise ValueError(f"step {step_id!r} not found: start it with a step_started event first")
        return store.append(
            NewEvent(workflow_id=workflow_id, event_type=STEP_STATUS_CHANGED, step_id=step_id,
                     status=value, payload=payload)
        )
