"""A realistic supervisor workload, as plain data, for the six first-party plugins.

The events are built from event type strings and payload dicts that follow the
plugins' declared payload models, so the raw side stores exactly the same rows. One *unit* is one
supervisor run: a workflow with three steps (plan, implement, review) done by three
roles, a feature with two phases of two components each, a metric and a checkpoint per
step, and a graph execution whose three nodes drive the steps. Every id is derived from
the unit's number, so ``supervisor_specs`` produces as many events as asked for, unit
after unit, and any stretch of them can be appended to a store holding the ones before.

The sequence is legal for the strict ``graph`` projection (each node goes ready →
claimed → completed, one at a time, before the next becomes ready) and for the
``features`` cascade: when a phase's last component completes, the cascade reactor
appends ``phase_completed`` in the same transaction, and after the second phase
``feature_completed`` (``FOLLOW_UPS_PER_UNIT`` extra events per unit, which the store
appends on top of the caller's). A prefix of the sequence is legal too, so ``count``
need not be a multiple of ``UNIT_EVENTS``.

``plugins/supervisor/benchmarks/append_overhead.py`` reuses ``supervisor_specs`` to
measure the same events through the facade.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from evstore import EventStore, NewEvent
from evstore.bench import Envelope

# (workflow_id, event_type, role, step_id, component_id, status, payload)
SupervisorSpec = Envelope

# The projections the workload is written for, and the plugins that provide them.
REQUIRED_PROJECTIONS = ("workflows", "steps", "features", "checkpoints", "metrics", "graph")

# (graph node, role doing its step); the implement step does the feature's components.
_STEPS = (("plan", "planner"), ("implement", "implementer"), ("review", "reviewer"))
_PHASES = (("p1", "Backend", 1), ("p2", "Frontend", 2))
_COMPONENTS_PER_PHASE = 2
_WORKERS = 4


def _definition() -> dict[str, Any]:
    """The graph every run executes: plan → implement → review, with a rework loop
    from review back to implement that this workload's reviews never take."""
    return {
        "nodes": [
            {"id": node, "type": "agent", "config": {"role": role, "timeout_seconds": 900}}
            for node, role in _STEPS
        ],
        "edges": [
            {"source": "plan", "target": "implement"},
            {"source": "implement", "target": "review"},
            {
                "source": "review", "target": "implement", "loop_key": "rework",
                "max_iterations": 2, "condition": {"key": "verdict", "equals": "rework"},
            },
        ],
    }


def _unit(number: int) -> list[SupervisorSpec]:
    """The events of run ``number``, in the order a supervisor appends them."""
    workflow = f"run-{number}"
    feature = f"feature-{number}"
    graph_id, execution_id = f"plan-{number}", f"exec-{number}"
    graph_stream, execution_stream = f"graph:{graph_id}", f"execution:{execution_id}"
    definition = _definition()
    components = [
        (f"{feature}-{phase}-c{index}", f"{feature}-{phase}")
        for phase, _title, _sequence in _PHASES
        for index in range(1, _COMPONENTS_PER_PHASE + 1)
    ]
    specs: list[SupervisorSpec] = [
        (workflow, "workflow_started", None, None, None, None, {
            "initial_step": f"{workflow}-plan",
            "context": {"feature_id": feature, "repository": "git@example.com:acme/shop.git",
                        "branch": f"feature/{number}", "requested_by": "alice"},
        }),
        (feature, "feature_created", None, None, None, None, {
            "title": f"Checkout flow #{number}",
            "description": "Let customers pay with a saved card in one step.",
        }),
    ]
    for phase, title, sequence in _PHASES:
        # The backend phase exposes the API the frontend phase builds on.
        interfaces = [{"name": "CheckoutAPI", "type": "http", "definition": "POST /checkout"}] * (sequence == 1)
        specs.append((feature, "phase_created", None, None, None, None, {
            "id": f"{feature}-{phase}", "title": title, "sequence": sequence, "interfaces": interfaces,
        }))
    for index, (component, phase_id) in enumerate(components):
        specs.append((feature, "component_created", None, None, component, None, {
            "phase_id": phase_id, "title": f"Component {index + 1}",
            "files": [f"src/checkout/part_{index}.py", f"tests/test_part_{index}.py"],
            "depends_on": [components[index - 1][0]] if index % _COMPONENTS_PER_PHASE else [],
            "assigned_role": "implementer",
        }))
    specs.append((graph_stream, "graph_saved", None, None, None, None,
                  {"name": f"supervisor run {number}", "definition": definition}))
    specs.append((execution_stream, "execution_started", None, None, None, None, {
        "graph_id": graph_id, "graph_version": 1, "workflow_id": workflow, "definition": definition,
        "max_parallel": 2, "input": {"feature_id": feature},
    }))
    for position, (node, role) in enumerate(_STEPS):
        step_id = f"{workflow}-{node}"
        node_input = {"feature_id": feature} if position == 0 else {"after": _STEPS[position - 1][0]}
        specs += [
            (execution_stream, "node_ready", None, None, None, None, {"node_id": node, "input": node_input}),
            (execution_stream, "node_claimed", None, None, None, None,
             {"node_id": node, "worker_id": f"worker-{number % _WORKERS}"}),
            (workflow, "step_started", role, step_id, None, None, {
                "gates": ["lint", "tests"], "context": {"node": node, "attempt": 1, "feature_id": feature},
            }),
        ]
        if node == "implement":
            for component, _phase_id in components:
                specs += [
                    (feature, "component_started", "implementer", None, component, None, {}),
                    (feature, "component_completed", "implementer", None, component, "completed",
                     {"output": {"files_changed": 2, "tests": "passed"}}),
                ]
        specs += [
            (workflow, "step_completed", role, step_id, None, "completed", {
                "output": {"summary": f"{node} done for {feature}", "files_changed": 4, "verdict": "approve"},
            }),
            (workflow, "metric_recorded", role, None, None, None, {
                "cli": "claude", "task_type": node, "success": True,
                "duration_seconds": 30.0 + number % 90, "retry_count": 0, "token_usage": 12_000 + number % 5000,
            }),
            (workflow, "checkpoint_created", role, step_id, None, None, {
                "git_sha": f"{number:08x}{position:032x}",
                "context": {"step": node, "feature_id": feature, "branch": f"feature/{number}"},
            }),
            (execution_stream, "node_completed", None, None, None, None,
             {"node_id": node, "output": {"verdict": "approve", "step_id": step_id}}),
        ]
    specs += [
        (execution_stream, "execution_completed", None, None, None, None, {}),
        (workflow, "workflow_completed", None, None, None, "completed", {}),
    ]
    return specs


UNIT_EVENTS = len(_unit(0))  # events the caller appends per run
FOLLOW_UPS_PER_UNIT = len(_PHASES) + 1  # phase_completed per phase, then feature_completed


def supervisor_specs(count: int, start: int = 0) -> list[SupervisorSpec]:
    """Events ``start`` to ``start + count - 1`` of the endless sequence of runs.

    Appending ``supervisor_specs(n, 0)`` and then ``supervisor_specs(m, n)`` to one store
    gives the same log as appending ``supervisor_specs(n + m, 0)``.
    """
    specs: list[SupervisorSpec] = []
    unit, skip = divmod(start, UNIT_EVENTS)
    while len(specs) < count:
        specs.extend(_unit(unit)[skip:])
        unit, skip = unit + 1, 0
    del specs[count:]
    return specs


def new_events(specs: Iterable[SupervisorSpec]) -> list[NewEvent]:
    return [
        NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, component_id=c, status=st, payload=p)
        for w, t, r, s, c, st, p in specs
    ]


def missing_projections(store: EventStore, required: Sequence[str] = REQUIRED_PROJECTIONS) -> list[str]:
    """The projections of ``required`` that ``store`` has not loaded."""
    return [name for name in required if not store.has_projection(name)]
