"""The facade against the original supervisor ``Database``, in one process: reading one
workflow of many events with ``get_events``, and ``append_event`` one event at a time, at
each side's default durability (the facade: ``full``; the original: SQLite's default
``synchronous=FULL`` in WAL mode).

Run it from the repository root (it is a measurement, not a test)::

    .venv/bin/python plugins/supervisor/benchmarks/vs_original.py \\
        [--original ../shared/seed/original] [--events 10000] [--appends 300] [--rounds 7]

Both sides get the same events (a supervisor-like mix: steps with gates, outputs and
errors, gates, metadata) in stores of their own in one temporary folder. Rounds alternate
the sides and which goes first, so drift in the machine's speed hits both alike; the
medians are compared, and the ratio is the original's median time over the facade's.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evstore_supervisor import Database

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _specs(count: int, workflow_id: str) -> list[dict[str, Any]]:
    """``count`` events of one workflow, as ``Event`` keyword arguments."""
    kinds: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("step_started", {"role": "implementer"}, {"gates": ["lint", "tests"], "context": {"attempt": 1}}),
        ("gate_passed", {}, {"gate": "lint", "details": {"warnings": 0}}),
        ("gate_failed", {}, {"gate": "tests", "error": "2 failed", "output": "x" * 200}),
        ("step_completed", {"status": "completed"}, {"output": {"summary": "done", "files": ["a.py", "b.py"]}}),
        ("metadata_set", {}, {"key": "skip", "value": {"reason": "flaky", "until": "2025-02-01"}}),
    ]
    # Started, so the original's projection of the steps does not fail on its foreign key.
    specs: list[dict[str, Any]] = [{"workflow_id": workflow_id, "event_type": "workflow_started",
                                    "payload": {"initial_step": "s-0"}, "timestamp": T0}]
    for n in range(count - 1):
        event_type, envelope, payload = kinds[n % len(kinds)]
        specs.append({
            "workflow_id": workflow_id, "event_type": event_type, "step_id": f"s-{n // len(kinds)}",
            "payload": payload, "timestamp": T0 + timedelta(milliseconds=n), **envelope,
        })
    return specs


def _fill_original(db: Any, original: Any, specs: list[dict[str, Any]]) -> None:
    """The rows the original's ``append_event`` writes for ``specs``, in one transaction
    (appending 10k events one by one takes it minutes): the same INSERT, the same
    values. Its projections are not needed for reading the log."""
    rows = []
    for spec in specs:
        event = original.Event(**spec)
        rows.append((event.workflow_id, event.event_type.value, event.role, event.step_id, event.component_id,
                     event.status, original._safe_json_dumps(event.payload), event.timestamp.isoformat()))
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO events (workflow_id, event_type, role, step_id, component_id, status, payload, "
            "timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _rounds(sides: dict[str, Callable[[int], Callable[[], object]]], rounds: int) -> dict[str, float]:
    """Median seconds of each side over ``rounds``, alternating which runs first."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for n in range(rounds):
        for name in names if n % 2 == 0 else reversed(names):
            times[name].append(_timed(sides[name](n)))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", type=Path, default=Path("..", "shared", "seed", "original"))
    parser.add_argument("--events", type=int, default=10_000, help="events in the workflow read back")
    parser.add_argument("--appends", type=int, default=300, help="events appended per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=["reads", "appends"], help="measure only one of the two")
    args = parser.parse_args()
    if not (args.original / "supervisor" / "core" / "state.py").is_file():
        sys.exit(f"no original supervisor checkout at {args.original} (give --original PATH)")
    sys.path.insert(0, str(args.original))
    original = importlib.import_module("supervisor.core.state")
    import evstore_supervisor

    with tempfile.TemporaryDirectory() as folder:
        theirs = original.Database(Path(folder) / "original" / "state.db")
        ours = Database(Path(folder) / "facade" / "state.db", autoload=False)
        try:
            specs = _specs(args.events, "read-me")
            _fill_original(theirs, original, specs)
            ours.append_events([evstore_supervisor.Event(**spec) for spec in specs])
            assert len(ours.get_events("read-me")) == len(theirs.get_events("read-me")) == args.events
            reads = _rounds({
                "original": lambda n: lambda: theirs.get_events("read-me"),
                "facade": lambda n: lambda: ours.get_events("read-me"),
            }, args.rounds if args.only != "appends" else 1)

            def appending(db: Any, module: Any) -> Callable[[int], Callable[[], object]]:
                def prepared(n: int) -> Callable[[], object]:
                    events = [module.Event(**spec) for spec in _specs(args.appends, f"append-{n}")]
                    return lambda: [db.append_event(event) for event in events]
                return prepared

            appends = _rounds({"original": appending(theirs, original),
                               "facade": appending(ours, evstore_supervisor)},
                              args.rounds if args.only != "reads" else 1)
        finally:
            ours.close()
    print(f"get_events, one workflow of {args.events} events (median of {args.rounds} rounds):")
    print(f"  original {reads['original'] * 1000:8.1f} ms   facade {reads['facade'] * 1000:8.1f} ms   "
          f"facade is {reads['original'] / reads['facade']:.2f}x the original")
    per = args.appends
    print(f"append_event, {per} events one by one, default durability (median of {args.rounds} rounds):")
    print(f"  original {appends['original'] / per * 1e6:8.1f} us/event   facade "
          f"{appends['facade'] / per * 1e6:8.1f} us/event   facade is "
          f"{appends['original'] / appends['facade']:.2f}x the original")


if __name__ == "__main__":
    main()
