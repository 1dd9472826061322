"""The activity board at work: two workflows, three roles, a retry, measured runs.

Opens a store with every installed plugin (the board comes in through its entry
point), appends what a supervisor would, prints the board, then rebuilds it from the
log and checks nothing changed. Needs evstore-activity-board, evstore-steps and
evstore-metrics installed (`make install` does it). CI runs this script.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from evstore import EventStore, NewEvent
from evstore_activity_board import activity_board


def step(event_type: str, workflow_id: str, step_id: str, role: str | None = None, **payload: object) -> NewEvent:
    return NewEvent(workflow_id=workflow_id, event_type=event_type, step_id=step_id, role=role, payload=payload)


def measured(workflow_id: str, role: str, success: bool, seconds: float) -> NewEvent:
    return NewEvent(
        workflow_id=workflow_id, event_type="metric_recorded", role=role,
        payload={"cli": "claude", "success": success, "duration_seconds": seconds},
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as folder, EventStore.open(Path(folder) / "state.db") as store:
        if not store.has_projection("activity_board"):
            print("evstore-activity-board is not installed: pip install -e examples/activity_board", file=sys.stderr)
            return 1
        store.append_many([
            NewEvent(workflow_id="wf-login", event_type="workflow_started"),
            step("step_started", "wf-login", "plan", role="planner"),
            measured("wf-login", "planner", True, 42.0),
            step("step_completed", "wf-login", "plan", output={"tasks": 2}),
            step("step_started", "wf-login", "build", role="implementer"),
            measured("wf-login", "implementer", False, 310.5),
            step("step_failed", "wf-login", "build", error="tests failed"),
            step("step_retried", "wf-login", "build"),
        ])
        with store.transaction():  # one atomic batch per workflow, as a supervisor would
            store.append(NewEvent(workflow_id="wf-search", event_type="workflow_started"))
            store.append(step("step_started", "wf-search", "review", role="reviewer"))
            store.append(step("step_started", "wf-search", "index", role="implementer"))

        board = activity_board(store)
        print(f"{'role':<12} {'open':>4} {'done':>4} {'failed':>6} {'retries':>7} {'success':>7} {'mean s':>7}")
        for line in board:
            rate = "-" if line.success_rate is None else f"{line.success_rate:.0%}"
            mean = "-" if line.mean_seconds is None else f"{line.mean_seconds:.1f}"
            print(f"{line.role:<12} {line.open_steps:>4} {line.steps_completed:>4} {line.steps_failed:>6} "
                  f"{line.retries:>7} {rate:>7} {mean:>7}")

        store.rebuild(["activity_board"])
        assert activity_board(store) == board, "the rebuilt board differs from the live one"
        print("rebuilt from the log: the same board")
        assert [line.role for line in board] == ["implementer", "reviewer", "planner"]
    return 0


if __name__ == "__main__":
    sys.exit(main())
