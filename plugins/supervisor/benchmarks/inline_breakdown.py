"""Where an inline append's time goes: the supervisor workload appended by five sides in
one process, CPU per caller event.

Run it from the repository root (it is a measurement, not a test)::

    .venv/bin/python plugins/supervisor/benchmarks/inline_breakdown.py [--per-transaction 100] [--rounds 7]

The sides, rotated round by round so drift in the machine's speed hits all alike:

- ``floor``: the raw log storing the same events, no projection;
- ``same work``: ``evstore bench``'s same-work side, the statements the projections ran
  replayed by hand with no Python deciding them;
- ``kernel``: a store without plugins (permissive), the same events;
- ``no-op handlers``: the store with the installed plugins, every projection handler
  replaced by one that does nothing (dispatch, sandbox, validation, savepoint and
  reactors still run);
- ``evstore``: the store with the installed plugins.

``evstore - no-op handlers`` is what the handlers cost (their SQL and their Python);
``no-op handlers - kernel`` what the projection machinery costs without them. Minimums
of process CPU time are printed (the least disturbed round), then medians.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evstore import EventStore
from evstore_supervisor._bench import open_plugin_store
from evstore_supervisor._bench_inline import Sides, _append, three_sides
from evstore_supervisor._bench_specs import SupervisorSpec, supervisor_specs


def _without_handler_logic(store: EventStore) -> None:
    """Every projection handler of ``store`` replaced by a no-op, dispatch kept."""

    def nothing(db: Any, event: Any) -> None:
        return None

    projector = store._projector
    projector.dispatch = {
        event_type: [(name, nothing, strict) for name, _handler, strict in targets]
        for event_type, targets in projector.dispatch.items()
    }


def _sides(sides: Sides, kernel: EventStore, no_op: EventStore, count: int, per_transaction: int) -> dict[
    str, Callable[[list[SupervisorSpec], list[Any]], None]
]:
    def floor(specs: list[SupervisorSpec], recorded: list[Any]) -> None:
        if per_transaction == 1:
            for spec in specs:
                sides.floor.append_envelope(spec)
            return
        for start in range(0, count, per_transaction):
            sides.floor.append_envelopes(specs[start:start + per_transaction])

    def same_work(specs: list[SupervisorSpec], recorded: list[Any]) -> None:
        for transaction in recorded:
            sides.same_work.replay(transaction)

    return {
        "floor": floor,
        "same work": same_work,
        "kernel": lambda specs, recorded: _append(kernel, specs, per_transaction),
        "no-op handlers": lambda specs, recorded: _append(no_op, specs, per_transaction),
        "evstore": lambda specs, recorded: _append(sides.store, specs, per_transaction),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-transaction", type=int, default=100, help="appends per transaction (1: single)")
    parser.add_argument("--events", type=int, default=0, help="caller events per round (default 3000, single 400)")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    per_transaction = max(1, options.per_transaction)
    count = options.events or (400 if per_transaction == 1 else 3000)
    count -= count % per_transaction
    specs = supervisor_specs(count * options.rounds)
    per_round = count // per_transaction
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with three_sides(work, "breakdown", "normal", open_plugin_store, specs, per_transaction) as sides:
            kernel = EventStore.open(str(work / "kernel.db"), durability="normal", autoload=False, permissive=True)
            no_op = open_plugin_store(work / "no-op.db", "normal")
            _without_handler_logic(no_op)
            runs = _sides(sides, kernel, no_op, count, per_transaction)
            names = list(runs)
            seconds: dict[str, list[float]] = {name: [] for name in names}
            for round_number in range(options.rounds):
                mine = specs[round_number * count:(round_number + 1) * count]
                recorded = sides.recorded[round_number * per_round:(round_number + 1) * per_round]
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    gc.collect()
                    started = time.process_time()
                    runs[name](mine, recorded)
                    seconds[name].append(time.process_time() - started)
            kernel.close()
            no_op.close()
    print(f"{count} caller events per round, {per_transaction} per transaction, {options.rounds} rounds, "
          "normal durability; CPU µs per caller event:")
    for name in names:
        values = [s / count * 1e6 for s in seconds[name]]
        print(f"  {name:15} min {min(values):7.1f}   median {statistics.median(values):7.1f}")


if __name__ == "__main__":
    main()
