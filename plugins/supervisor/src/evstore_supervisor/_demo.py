"""A realistic supervisor run, through the drop-in ``Database`` and ``GraphEngine``.

One run plans a feature (two phases, four components for backend and frontend roles),
implements it (a component fails and is reworked, a dependency is remapped, a test gate
fails and the step is retried), reviews it with a human approval, records metrics from
three CLIs, takes checkpoints, and executes a graph whose two branches are claimed by
two worker threads in parallel and whose review loops once. The features plugin's
cascade appends ``phase_completed`` and ``feature_completed`` along the way.

Every id of a run ends in its number (``demo-3-C1``), and the number is claimed with
``expected_version=NO_STREAM`` on the run's workflow, so re-running the demo, even
twice at once, always makes a new run and never touches an earlier one.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import evstore_graph
from evstore import NO_STREAM, ConcurrencyError

from ._database import Database
from ._events import Event, EventType
from ._models import ComponentStatus, FeatureStatus, Interface

GRAPH_ID: Final = "demo-pipeline"
LOOP_KEY: Final = "rework"
WORKERS: Final = ("worker-1", "worker-2")
BRANCHES: Final = frozenset({"backend", "frontend"})
GRAPH: Final[dict[str, Any]] = {
    "nodes": [
        {"id": "plan", "type": "llm"},
        {"id": "backend", "type": "code"},
        {"id": "frontend", "type": "code"},
        {"id": "integrate", "type": "test"},
        {"id": "review", "type": "llm"},
        {"id": "merge", "type": "git"},
    ],
    "edges": [
        {"source": "plan", "target": "backend"},
        {"source": "plan", "target": "frontend"},
        {"source": "backend", "target": "integrate"},
        {"source": "frontend", "target": "integrate"},
        {"source": "integrate", "target": "review"},
        {"source": "review", "target": "merge", "condition": {"key": "verdict", "equals": "approve"}},
        {"source": "review", "target": "integrate", "loop_key": LOOP_KEY, "max_iterations": 2,
         "condition": {"key": "verdict", "equals": "rework"}},
    ],
}
# Successes out of four tries per (task type, cli): each task type has a clear winner,
# so "best CLI per task type" says something. Durations vary per run.
SUCCESSES: Final = {
    ("plan", "claude"): 4, ("plan", "codex"): 3, ("plan", "gemini"): 2,
    ("implement", "claude"): 3, ("implement", "codex"): 4, ("implement", "gemini"): 2,
    ("review", "claude"): 3, ("review", "codex"): 2, ("review", "gemini"): 4,
}
TASK_ROLES: Final = {"plan": "planner", "implement": "implementer", "review": "reviewer"}
MIN_SAMPLES: Final = 3


@dataclass
class DemoRun:
    """What one run made: its ids, and what the display needs beyond the tables."""

    number: int
    workflow_id: str
    feature_id: str
    execution_id: str
    head_before: int = 0
    head_after: int = 0
    seconds: float = 0.0
    ran_by: dict[str, list[str]] = field(default_factory=dict)
    """Each worker's nodes, in the order it ran them."""

    @property
    def events_appended(self) -> int:
        return self.head_after - self.head_before


def run_demo(db: Database) -> DemoRun:
    started = time.perf_counter()
    head_before = db.store.head()
    number = _claim_run(db)
    prefix = f"demo-{number}"
    run = DemoRun(number, prefix, f"{prefix}-F1", f"{prefix}-x", head_before=head_before)
    _Supervisor(db, run).work()
    run.ran_by = _execute_graph(db, run)
    _record_metrics(db, run)
    db.append_event(Event(workflow_id=run.workflow_id, event_type=EventType.WORKFLOW_COMPLETED))
    run.head_after = db.store.head()
    run.seconds = time.perf_counter() - started
    return run


def _claim_run(db: Database) -> int:
    """The next run number, claimed by starting its workflow with NO_STREAM: a run
    started by someone else in between makes this one take the next number."""
    number = 1 + int(db.store.reader.fetchvalue("SELECT COUNT(*) FROM workflows WHERE id GLOB 'demo-[0-9]*'"))
    while True:
        workflow_id = f"demo-{number}"
        started = Event(workflow_id=workflow_id, event_type=EventType.WORKFLOW_STARTED,
                        payload={"initial_step": f"{workflow_id}-plan", "context": {"run": number}})
        try:
            db.append_event(started, expected_version=NO_STREAM)
        except ConcurrencyError:
            number += 1
            continue
        return number


class _Supervisor:
    """The planner, implementers and reviewer of one run, writing through the facade
    exactly as the original supervisor's code called its ``Database``."""

    def __init__(self, db: Database, run: DemoRun) -> None:
        self.db = db
        self.workflow_id = run.workflow_id
        self.feature_id = run.feature_id
        self.prefix = run.workflow_id

    def ids(self, *names: str) -> list[str]:
        return [f"{self.prefix}-{name}" for name in names]

    def log(self, event_type: EventType, **fields: Any) -> int:
        fields.setdefault("workflow_id", self.workflow_id)
        return self.db.append_event(Event(event_type=event_type, **fields))

    def work(self) -> None:
        self.plan()
        self.implement()
        self.review()

    def plan(self) -> None:
        db, feature = self.db, self.feature_id
        plan_step, = self.ids("plan")
        p1, p2, c1, c2, c3, c4 = self.ids("P1", "P2", "C1", "C2", "C3", "C4")
        self.log(EventType.STEP_STARTED, step_id=plan_step, role="planner",
                 payload={"gates": ["plan_review"], "context": {"feature": feature}})
        db.create_feature(feature, "Sign in with passkeys", "WebAuthn sign-in beside passwords")
        with db.transaction():  # the plan lands whole or not at all
            db.create_phase(p1, feature, "Backend", 1, interfaces=[Interface(
                name="PasskeyAPI", type="http", definition="POST /passkeys/challenge, /verify", locked=True)])
            db.create_phase(p2, feature, "Frontend", 2)
            db.create_component(c1, p1, "Challenge endpoint", files=["api/passkeys.py"], assigned_role="backend")
            db.create_component(c2, p1, "Credential store", files=["db/credentials.py"], assigned_role="backend")
            db.create_component(c3, p2, "Sign-in button", files=["web/SignIn.tsx"], depends_on=[c1],
                                assigned_role="frontend")
            db.create_component(c4, p2, "Passkey settings", files=["web/Settings.tsx"], depends_on=[c1],
                                assigned_role="frontend")
        self.log(EventType.GATE_PASSED, step_id=plan_step, role="planner", payload={"gate": "plan_review"})
        self.log(EventType.STEP_COMPLETED, step_id=plan_step, role="planner",
                 payload={"output": {"phases": 2, "components": 4}})
        db.create_checkpoint(self.workflow_id, plan_step, "3f9c2a1", {"after": "plan", "components": 4})
        db.update_feature_status(feature, FeatureStatus.IN_PROGRESS)

    def component(self, component_id: str, role: str, *, fail_first: str | None = None) -> None:
        feature = self.feature_id
        self.log(EventType.COMPONENT_STARTED, workflow_id=feature, component_id=component_id, role=role)
        if fail_first is not None:
            self.log(EventType.COMPONENT_FAILED, workflow_id=feature, component_id=component_id, role=role,
                     payload={"error": fail_first})
            self.db.update_component(component_id, ComponentStatus.IMPLEMENTING)  # rework
        self.log(EventType.COMPONENT_COMPLETED, workflow_id=feature, component_id=component_id, role=role,
                 payload={"output": {"tests_passed": True}})

    def implement(self) -> None:
        step, = self.ids("implement")
        c1, c2, c3, c4 = self.ids("C1", "C2", "C3", "C4")
        self.log(EventType.STEP_STARTED, step_id=step, role="implementer", payload={"gates": ["tests", "lint"]})
        self.component(c1, "backend")
        self.component(c2, "backend", fail_first="migration clashes with the users table")  # phase 1 completes
        self.db.update_component_dependencies(c4, [c1, c2])  # settings list the stored credentials too
        self.log(EventType.GATE_FAILED, step_id=step, role="implementer", payload={"gate": "tests", "failed": 2})
        self.log(EventType.STEP_RETRIED, step_id=step, role="implementer")
        self.component(c3, "frontend")
        self.component(c4, "frontend")  # phase 2 completes, then the feature
        for gate in ("tests", "lint"):
            self.log(EventType.GATE_PASSED, step_id=step, role="implementer", payload={"gate": gate})
        self.log(EventType.STEP_COMPLETED, step_id=step, role="implementer", payload={"output": {"commits": 5}})
        self.db.create_checkpoint(self.workflow_id, step, "8d41e07", {"after": "implement", "commits": 5})

    def review(self) -> None:
        step, = self.ids("review")
        self.log(EventType.STEP_STARTED, step_id=step, role="reviewer", payload={"gates": ["human_approval"]})
        self.log(EventType.APPROVAL_REQUESTED, step_id=step, role="reviewer", payload={"from": "alice"})
        self.log(EventType.APPROVAL_GRANTED, step_id=step, role="reviewer", payload={"by": "alice"})
        self.log(EventType.STEP_COMPLETED, step_id=step, role="reviewer", payload={"output": {"approved": True}})


def _execute_graph(db: Database, run: DemoRun) -> dict[str, list[str]]:
    """Two worker threads claim and run the graph's nodes until the execution ends:
    after ``plan`` both branches are ready and each worker claims one; the review asks
    for rework once, so the loop resets ``integrate`` and ``review``."""
    engine = evstore_graph.GraphEngine(db.store)
    engine.save_graph(GRAPH_ID, "passkeys pipeline", GRAPH)
    engine.start_execution(run.execution_id, GRAPH_ID, workflow_id=run.workflow_id, max_parallel=len(WORKERS))
    ran_by: dict[str, list[str]] = {worker: [] for worker in WORKERS}
    failures: list[BaseException] = []
    # The branches' work overlaps: each worker holds its branch until the other has
    # claimed the other one, so the run always shows two nodes running at once.
    branches = threading.Barrier(len(WORKERS), timeout=5)

    def run_node(node_id: str) -> None:
        if node_id in BRANCHES:
            try:
                branches.wait()
            except threading.BrokenBarrierError:
                pass  # the other worker is gone; its error is reported below
        else:
            time.sleep(0.002)

    def output_of(node_id: str) -> dict[str, Any]:
        if node_id != "review":
            return {"ok": True}
        first_review = engine.get_loop_count(run.execution_id, LOOP_KEY) == 0
        return {"verdict": "rework" if first_review else "approve"}

    def work(worker: str) -> None:
        try:
            _worker_loop(engine, run.execution_id, worker, run_node, output_of, ran_by[worker])
        except BaseException as error:  # re-raised in the main thread below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(worker,), name=worker) for worker in WORKERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return ran_by


def _worker_loop(
    engine: evstore_graph.GraphEngine, execution_id: str, worker: str, run_node: Callable[[str], None],
    output_of: Callable[[str], dict[str, Any]], ran: list[str],
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        execution = engine.get_execution(execution_id)
        if execution is None or execution.status != "running":
            return
        claimed = engine.claim_ready_nodes(execution_id, worker, limit=1)
        if not claimed:
            time.sleep(0.002)  # another worker holds the only ready work
            continue
        for node in claimed:
            run_node(node.node_id)
            engine.complete_node(execution_id, node.node_id, output_of(node.node_id), worker_id=worker)
            ran.append(node.node_id)
    raise TimeoutError(f"graph execution {execution_id!r} did not finish within 30 s")


def _record_metrics(db: Database, run: DemoRun) -> None:
    rng = random.Random(run.number)  # reproducible per run, different between runs
    with db.transaction():
        for (task_type, cli), successes in SUCCESSES.items():
            for attempt in range(4):
                success = attempt < successes
                db.record_metric(
                    TASK_ROLES[task_type], cli, run.workflow_id, success,
                    round(rng.uniform(8, 60), 1), task_type=task_type,
                    retry_count=0 if success else rng.choice((1, 2)), token_usage=rng.randrange(2_000, 40_000),
                    error_category=None if success else rng.choice(("timeout", "tests_failed")),
                )
