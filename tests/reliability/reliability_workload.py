"""A supervisor-like workload for the reliability suite, built as plain events for the
six first-party plugins (workflows, steps, features, checkpoints, metrics) and run by a
child process that reports each acknowledged commit on stdout."""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from evstore import EventStore, NewEvent

PLUGIN_MODULES = ["evstore_workflows", "evstore_steps", "evstore_features", "evstore_checkpoints", "evstore_metrics"]


def plugins() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in PLUGIN_MODULES]


def open_store(path: str, durability: str = "normal", **options: Any) -> EventStore:
    return EventStore.open(path, plugins=plugins(), autoload=False, durability=durability, **options)


def unit_events(rng: random.Random, unit: str) -> list[list[NewEvent]]:
    """One supervisor run as a list of commits (each a list of events of one transaction)."""
    wf, feature, phase = f"wf-{unit}", f"F-{unit}", f"P-{unit}"
    commits: list[list[NewEvent]] = [
        [NewEvent(workflow_id=wf, event_type="workflow_started", payload={"initial_step": "plan"})],
        [
            NewEvent(workflow_id=feature, event_type="feature_created", payload={"title": f"feature {unit}"}),
            NewEvent(workflow_id=feature, event_type="phase_created",
                     payload={"id": phase, "feature_id": feature, "title": "build", "sequence": 1}),
        ],
    ]
    components = [f"C-{unit}-{n}" for n in range(rng.randint(1, 3))]
    commits.append([
        NewEvent(workflow_id=feature, event_type="component_created", component_id=c,
                 payload={"phase_id": phase, "feature_id": feature, "title": c})
        for c in components
    ])
    for n, step in enumerate(["plan", "implement", "review"]):
        step_id = f"{wf}-{step}"
        commits.append([NewEvent(workflow_id=wf, event_type="step_started", role=step, step_id=step_id,
                                 payload={"gates": ["lint"], "context": {"n": n}})])
        commits.append([
            NewEvent(workflow_id=wf, event_type="step_completed", step_id=step_id, payload={"output": {"ok": True}}),
            NewEvent(workflow_id=wf, event_type="metric_recorded", role=step,
                     payload={"cli": rng.choice(["claude", "codex"]), "task_type": step, "success": True,
                              "duration_seconds": rng.random() * 10}),
            NewEvent(workflow_id=wf, event_type="checkpoint_created", step_id=step_id,
                     payload={"git_sha": f"{rng.getrandbits(40):010x}", "context": {"step": step}}),
        ])
    for component in components:
        commits.append([NewEvent(workflow_id=feature, event_type="component_started", component_id=component)])
        outcome = "component_completed" if rng.random() < 0.8 else "component_failed"
        payload = {"output": {"files": 1}} if outcome == "component_completed" else {"error": "tests failed"}
        commits.append([NewEvent(workflow_id=feature, event_type=outcome, component_id=component, payload=payload)])
    commits.append([NewEvent(workflow_id=wf, event_type="workflow_completed")])
    return commits


def tag(commit: list[NewEvent], txn: str) -> list[NewEvent]:
    """Mark every event of a commit so a check can find partially visible transactions."""
    for event in commit:
        event.metadata = {"txn": txn, "size": len(commit)}
    return commit


def run_child(path: str, durability: str, seed: int) -> None:
    """Append forever, printing one JSON line per acknowledged commit."""
    rng = random.Random(seed)
    store = open_store(path, durability)
    counter = 0
    while True:
        commits = unit_events(rng, f"{seed}-{counter}")
        counter += 1
        # Interleave two units' commits and group some into multi-workflow transactions.
        while commits:
            take = rng.choice([1, 1, 2, 3])
            group, commits = commits[:take], commits[take:]
            txn = f"{seed}-{counter}-{rng.getrandbits(32)}"
            events = tag([e for commit in group for e in commit], txn)
            mode = rng.choice(["single", "many", "transaction"]) if len(group) > 1 or len(events) > 1 else "single"
            if mode == "single" and len(events) == 1:
                positions = [store.append(events[0])]
            elif mode == "many" and len({e.workflow_id for e in events}) == 1:
                positions = store.append_many(events)
            else:
                with store.transaction() as tx:
                    positions = [tx.append(e) for e in events]
            print(json.dumps({"txn": txn, "ids": [str(e.event_id) for e in events], "positions": positions}),
                  flush=True)


if __name__ == "__main__":
    run_child(sys.argv[1], sys.argv[2], int(sys.argv[3]))


def contend(path: str, worker: int, count: int) -> dict[str, Any]:
    """A writer process: appends ``count`` events, alternating a shared workflow (with
    expected_version and retries on conflict), a shared workflow without a check, and
    its own workflow. Returns what it saw: acknowledged positions, conflicts, and any
    error that was not a ConcurrencyError."""
    from evstore import ConcurrencyError

    acknowledged: list[int] = []
    conflicts, unexpected = 0, []
    with open_store(path) as store:
        for n in range(count):
            kind = n % 3
            step = f"s-{worker}-{n}"
            event = NewEvent(workflow_id=["guarded", "open", f"own-{worker}"][kind], event_type="step_started",
                             role="worker", step_id=step, payload={"context": {"worker": worker}})
            while True:
                try:
                    if kind == 0:
                        seen = store.version("guarded")
                        time.sleep(random.random() / 500)  # decide slowly: let others race us
                        acknowledged.append(store.append(event, expected_version=seen))
                    else:
                        acknowledged.append(store.append(event))
                    break
                except ConcurrencyError:
                    conflicts += 1
                except Exception as error:  # anything else is a failure of the store
                    unexpected.append(f"{type(error).__name__}: {error}")
                    break
    return {"acknowledged": acknowledged, "conflicts": conflicts, "unexpected": unexpected}
