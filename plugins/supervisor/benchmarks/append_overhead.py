"""How much the facade adds to an append: ``Database.append_event`` against the kernel's
``EventStore.append``, on the same supervisor workload, at the same durability.

Run it from the repository root (it is a measurement, not a test)::

    .venv/bin/python plugins/supervisor/benchmarks/append_overhead.py [--events 600] [--rounds 7]

Both sides load the same plugins (the six projection plugins and the facade's event
types) on stores of their own in one temporary folder, and append the same events one
by one, each in its own transaction. Rounds alternate between the sides (and which goes
first), so drift in the machine's speed hits both alike; the medians are compared.

The workload is ``evstore bench``'s supervisor workload when this evstore has it, else
a smaller supervisor-like run defined here (the output says which).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evstore import EventStore, NewEvent
from evstore_supervisor import PLUGINS, Database, Event

# (workflow_id, event_type, role, step_id, component_id, status, payload)
Spec = tuple[str, str, "str | None", "str | None", "str | None", "str | None", dict[str, Any]]


def _local_specs(count: int, start: int) -> list[Spec]:
    """A supervisor-like run of ten events per workflow: a workflow, two steps with
    gates, a failure and a retry."""
    specs: list[Spec] = []
    number = start // 10
    while len(specs) < count + start % 10:
        wf = f"run-{number}"
        specs += [
            (wf, "workflow_started", None, None, None, None, {"initial_step": f"{wf}-plan",
                                                              "context": {"branch": f"feature/{number}"}}),
            (wf, "step_started", "planner", f"{wf}-plan", None, None, {"gates": ["lint", "tests"],
                                                                       "context": {"attempt": 1}}),
            (wf, "gate_passed", "planner", f"{wf}-plan", None, None, {"gate": "lint"}),
            (wf, "step_completed", "planner", f"{wf}-plan", None, "completed", {"output": {"summary": "plan"}}),
            (wf, "step_started", "implementer", f"{wf}-impl", None, None, {"gates": ["tests"]}),
            (wf, "gate_failed", "implementer", f"{wf}-impl", None, None, {"gate": "tests", "error": "2 failed"}),
            (wf, "step_failed", "implementer", f"{wf}-impl", None, "failed", {"error": "tests failed"}),
            (wf, "step_retried", "implementer", f"{wf}-impl", None, None, {}),
            (wf, "step_completed", "implementer", f"{wf}-impl", None, "completed", {"output": {"files": 3}}),
            (wf, "workflow_completed", None, None, None, "completed", {}),
        ]
        number += 1
    return specs[start % 10:start % 10 + count]


def workload() -> tuple[str, Callable[[int, int], list[Spec]]]:
    try:
        # The bench rows' own workload (this distribution's), so that it uses exactly
        # the events `evstore bench` uses.
        from evstore_supervisor._bench_specs import supervisor_specs
    except ImportError:
        return "supervisor-like run (local)", _local_specs
    return "evstore bench supervisor workload", supervisor_specs


def measure(count: int, append_all: Callable[[], None]) -> float:
    started = time.perf_counter()
    append_all()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=600, help="appends per side per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    args = parser.parse_args()
    name, specs_for = workload()
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore.open(Path(folder) / "kernel.db", plugins=list(PLUGINS), autoload=False,
                                durability=args.durability)
        db = Database(Path(folder) / "facade.db", autoload=False, durability=args.durability)
        kernel_rates, facade_rates = [], []
        try:
            for round_number in range(args.rounds):
                specs = specs_for(args.events, round_number * args.events)

                def kernel_side(specs: list[Spec] = specs) -> None:
                    for w, t, r, s, c, st, p in specs:
                        store.append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, component_id=c,
                                              status=st, payload=p))

                def facade_side(specs: list[Spec] = specs) -> None:
                    for w, t, r, s, c, st, p in specs:
                        db.append_event(Event(workflow_id=w, event_type=t, role=r, step_id=s, component_id=c,
                                              status=st, payload=p))

                sides = [(kernel_rates, kernel_side), (facade_rates, facade_side)]
                for rates, side in sides if round_number % 2 == 0 else reversed(sides):
                    rates.append(measure(len(specs), side))
            assert db.store.head() == store.head(), "both sides must have appended the same events"
        finally:
            store.close()
            db.close()
    kernel, facade = statistics.median(kernel_rates), statistics.median(facade_rates)
    print(f"workload: {name}; {args.rounds} rounds of {args.events} appends per side, "
          f"durability={args.durability}, plugins: six projections + supervisor event types")
    print(f"kernel EventStore.append:   {kernel:8.0f} appends/s (median; rounds {_rounded(kernel_rates)})")
    print(f"facade Database.append_event: {facade:6.0f} appends/s (median; rounds {_rounded(facade_rates)})")
    # Each round's two sides ran back to back, so their ratio is the least disturbed by
    # the machine's load changing between rounds.
    paired = statistics.median(k / f for k, f in zip(kernel_rates, facade_rates, strict=True))
    print(f"facade overhead: {(kernel / facade - 1) * 100:+.1f}% time per append (ratio of medians), "
          f"{(paired - 1) * 100:+.1f}% (median of per-round ratios); target <= +10%")


def _rounded(rates: list[float]) -> str:
    return ", ".join(f"{rate:.0f}" for rate in rates)


if __name__ == "__main__":
    main()
