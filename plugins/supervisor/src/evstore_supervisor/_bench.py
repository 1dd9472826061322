"""``evstore bench`` rows for the supervisor workload on the six first-party plugins.

Inline projections must not make appends slow. These cases append the workload of
``_supervisor`` to a store that loads the installed plugins (``EventStore.open`` with
autoload, so ``EVSTORE_PLUGINS`` and ``EVSTORE_DISABLE_PLUGINS`` apply) and to the raw
log, which stores the same events with no projection at all. Rates count the events
the caller appends; the features cascade's follow-ups are part of evstore's cost and
are reported in each row's size, with the number of projections loaded (other
installed plugins' projections run on these appends too, and cost their share).
This plugin contributes them through ``evstore_bench_workloads``: when one of the six
projections is not loaded, every case is reported as skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from evstore import EventStore, EvstoreError, NewEvent
from evstore.bench import (
    BATCH_SIZE,
    PREFILL_BATCH,
    Context,
    Progress,
    RawLog,
    Result,
    Sizes,
    Workload,
    both_sides,
    each,
    interleave,
    measure,
    remove_database,
    short_count,
)

from ._bench_specs import (
    FOLLOW_UPS_PER_UNIT,
    REQUIRED_PROJECTIONS,
    UNIT_EVENTS,
    SupervisorSpec,
    missing_projections,
    new_events,
    supervisor_specs,
)

# Single appends and batches are compared with raw (ratios); the rebuild's target is
# absolute (events/s), its ratio to raw reading the whole log is shown for context.
TARGETS = {"supervisor_single_full": 0.75, "supervisor_batch": 0.5, "supervisor_rebuild": 50_000.0}
TARGET_UNITS = {"supervisor_single_full": "ratio", "supervisor_batch": "ratio", "supervisor_rebuild": "events/s"}
_PROJECTIONS = len(REQUIRED_PROJECTIONS)
# (full run, --quick): events appended one by one per round (synchronous=FULL),
# transactions of BATCH_SIZE events per round, events in the log that is rebuilt.
SIZES = {"single": (400, 150), "transactions": (30, 10), "rebuild": (100_000, 20_000)}


def bench_workload() -> Workload:
    """What ``evstore_bench_workloads`` registers."""
    return Workload("supervisor", supervisor)


def supervisor(context: Context) -> list[Result]:
    """Single appends (full durability), BATCH_SIZE per transaction, and a rebuild of the
    six projections, or the three rows skipped when the plugins are not all loaded."""
    sizes, workdir, progress = context.sizes, context.workdir, context.progress
    reason, others = _probe(workdir)
    # Other installed plugins' projections run on the appends too: say so in the label.
    extra = f" (+{', '.join(others)})" if others else ""
    rebuilt = short_count(sizes.count(*SIZES["rebuild"]))
    labels = {
        "supervisor_single_full": (f"supervisor: single append (full){extra}", "full"),
        "supervisor_batch": (f"supervisor: {BATCH_SIZE} per transaction{extra}", "normal"),
        "supervisor_rebuild": (f"supervisor: rebuild {_PROJECTIONS} projections of {rebuilt}", "normal"),
    }
    if reason is not None:
        return [
            Result.skip(key, label, durability, TARGETS[key], TARGET_UNITS[key], reason)
            for key, (label, durability) in labels.items()
        ]
    cases: dict[str, Callable[[Sizes, Path, Progress, str], Result]] = {
        "supervisor_single_full": _single_full,
        "supervisor_batch": _batch,
        "supervisor_rebuild": _rebuild,
    }
    return [case(sizes, workdir, progress, labels[key][0]) for key, case in cases.items()]


def open_plugin_store(path: Path, durability: str) -> EventStore:
    """A store with the installed plugins, filtered by the usual environment variables."""
    return EventStore.open(path, durability=durability, autoload=True)


def _probe(workdir: Path) -> tuple[str | None, list[str]]:
    """Why the supervisor cases cannot run here (None if they can), and the other
    projections that would run beside the six."""
    path = workdir / "supervisor-probe.db"
    try:
        try:
            store = open_plugin_store(path, "normal")
        except EvstoreError as error:
            return f"the installed plugins failed to load: {error}", []
        try:
            missing = missing_projections(store)
            others = sorted(set(store.registry.projections) - set(REQUIRED_PROJECTIONS))
        finally:
            store.close()
    finally:
        remove_database(path)
    if not missing:
        return None, others
    return (
        f"projection(s) {', '.join(missing)} not loaded: install "
        f"{', '.join(f'evstore-{name}' for name in missing)} (or check EVSTORE_PLUGINS and "
        "EVSTORE_DISABLE_PLUGINS)",
        others,
    )


def _sides(workdir: Path, name: str, durability: str) -> AbstractContextManager[tuple[RawLog, EventStore]]:
    """A raw log and a store with the plugins, on separate files, deleted afterwards."""
    return both_sides(workdir, name, durability, open_plugin_store)


def _append_one_by_one(store: EventStore, specs: list[SupervisorSpec]) -> None:
    append = store.append
    for w, t, r, s, c, st, p in specs:
        append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, component_id=c, status=st, payload=p))


def _append_in_transaction(store: EventStore, specs: list[SupervisorSpec]) -> None:
    with store.transaction() as tx:
        for w, t, r, s, c, st, p in specs:
            tx.append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, component_id=c, status=st, payload=p))


def _single_full(sizes: Sizes, workdir: Path, progress: Progress, label: str) -> Result:
    key = "supervisor_single_full"
    count = sizes.count(*SIZES["single"])
    with _sides(workdir, "supervisor-single", "full") as (raw, store):

        def raw_side(round_number: int) -> float:
            return measure(count, each(raw.append_envelope, supervisor_specs(count, round_number * count)))

        def evstore_side(round_number: int) -> float:
            specs = supervisor_specs(count, round_number * count)
            return measure(count, lambda: _append_one_by_one(store, specs))

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
        follow_ups = store.head() - count * sizes.rounds
        loaded = len(store.registry.projections)
    size = {"events_per_round": count, "follow_ups_total": follow_ups, "projections_loaded": loaded}
    return Result.from_rates(key, label, "full", size, rates, TARGETS[key], TARGET_UNITS[key])


def _batch(sizes: Sizes, workdir: Path, progress: Progress, label: str) -> Result:
    key = "supervisor_batch"
    transactions = sizes.count(*SIZES["transactions"])
    count = transactions * BATCH_SIZE

    def batches(round_number: int) -> list[list[SupervisorSpec]]:
        specs = supervisor_specs(count, round_number * count)
        return [specs[i:i + BATCH_SIZE] for i in range(0, count, BATCH_SIZE)]

    with _sides(workdir, "supervisor-batch", "normal") as (raw, store):

        def raw_side(round_number: int) -> float:
            return measure(count, each(raw.append_envelopes, batches(round_number)))

        def evstore_side(round_number: int) -> float:
            chunks = batches(round_number)
            return measure(count, each(lambda chunk: _append_in_transaction(store, chunk), chunks))

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
        follow_ups = store.head() - count * sizes.rounds
        loaded = len(store.registry.projections)
    size = {
        "events_per_round": count, "events_per_transaction": BATCH_SIZE, "follow_ups_total": follow_ups,
        "projections_loaded": loaded,
    }
    return Result.from_rates(key, label, "normal", size, rates, TARGETS[key], TARGET_UNITS[key])


def _rebuild(sizes: Sizes, workdir: Path, progress: Progress, label: str) -> Result:
    """Rebuild the six projections from the whole log, against raw reading its (same,
    minus the follow-ups) log once with every payload decoded."""
    key = "supervisor_rebuild"
    wanted = sizes.count(*SIZES["rebuild"])
    with _sides(workdir, "supervisor-rebuild", "normal") as (raw, store):
        progress("supervisor: prefilling the log to rebuild", 0, 1)
        appended = 0
        # The cascade's follow-ups count towards the log: ask for a little less than what
        # is missing, so the log ends a few events past ``wanted`` at most.
        while (stored := store.head()) < wanted:
            missing = -(-(wanted - stored) * UNIT_EVENTS // (UNIT_EVENTS + FOLLOW_UPS_PER_UNIT))
            chunk = supervisor_specs(min(PREFILL_BATCH, missing), appended)
            store.append_many(new_events(chunk))
            raw.append_envelopes_bulk(chunk)
            appended += len(chunk)
        progress("supervisor: prefilling the log to rebuild", 1, 1)
        replayed = store.head()

        def raw_side(_round: int) -> float:
            return measure(appended, raw.read_all)

        def evstore_side(_round: int) -> float:
            def run() -> None:
                assert store.rebuild(REQUIRED_PROJECTIONS) == replayed

            return measure(replayed, run)

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    size = {"events": replayed, "projections": _PROJECTIONS, "raw_events": appended}
    return Result.from_rates(key, label, "normal", size, rates, TARGETS[key], TARGET_UNITS[key])
