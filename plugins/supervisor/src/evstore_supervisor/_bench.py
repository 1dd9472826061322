"""``evstore bench`` rows for the supervisor workload on the six first-party plugins.

A realistic supervisor run (workflow, steps by three roles, a feature with phases and
components, metrics, checkpoints, a graph execution; ``_bench_specs``) appended to a
store that loads the installed plugins (``EventStore.open`` with autoload, so
``EVSTORE_PLUGINS`` and ``EVSTORE_DISABLE_PLUGINS`` apply): single appends at full
durability and 100 per transaction, each against the raw floor (the same events, no
projection) and against the same work by hand (``_bench_replay``), see
``_bench_inline``; and rebuilding the six projections from 100k events (--quick: 20k)
through their batch handlers, against the same rebuild through their per-event
handlers only (its raw column; both rates are shown). Rates count the caller's events,
except the rebuild's, which counts every event replayed; the features cascade's
follow-ups are part of the store's cost and are reported in each row's size, with the
number of projections loaded (other installed plugins' projections run on these
appends too, and the label names them). This plugin
contributes the rows through ``evstore_bench_workloads``; when one of the six
projections is not loaded, every row is skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evstore import EventStore, EvstoreError
from evstore.bench import (
    PREFILL_BATCH,
    Context,
    Progress,
    Result,
    Sizes,
    Workload,
    interleave,
    measure,
    remove_database,
    short_count,
)

from ._bench_async import TARGETS as ASYNC_TARGETS
from ._bench_async import async_rows
from ._bench_async import labels as async_labels
from ._bench_inline import TARGETS as INLINE_TARGETS
from ._bench_inline import inline_labels, inline_rows
from ._bench_specs import (
    FOLLOW_UPS_PER_UNIT,
    REQUIRED_PROJECTIONS,
    UNIT_EVENTS,
    missing_projections,
    new_events,
    supervisor_specs,
)

# Issue #13: batch application should at least double a rebuild. The rebuild through the
# batch handlers against the same rebuild, in the same run, through the per-event ones.
REBUILD_TARGET = 2.0
_PROJECTIONS = len(REQUIRED_PROJECTIONS)
# (full run, --quick): events in the log that is rebuilt.
REBUILD_SIZE = (100_000, 20_000)


def bench_workloads() -> list[Workload]:
    """What ``evstore_bench_workloads`` registers: the workload on the six plugins, then
    the facade against the original (``_bench_facade``)."""
    from ._bench_facade import facade_rows

    return [Workload("supervisor", supervisor), Workload("facade", facade_rows)]


def supervisor(context: Context) -> list[Result]:
    """Single appends (full durability) and BATCH_SIZE per transaction, each against the
    floor and the same work, and a rebuild of the six projections; or every row skipped
    with the reason when the plugins are not all loaded."""
    sizes, workdir, progress = context.sizes, context.workdir, context.progress
    reason, others = _probe(workdir)
    # Other installed plugins' projections run on the appends too: say so in the label.
    extra = f" (+{', '.join(others)})" if others else ""
    rebuild_label = (
        f"supervisor: rebuild {_PROJECTIONS} projections of {short_count(sizes.count(*REBUILD_SIZE))}, "
        "batch vs per-event handlers"
    )
    if reason is not None:
        inline = [
            Result.skip(key, label, durability, INLINE_TARGETS[key], "ratio", reason)
            for key, (label, durability) in inline_labels(extra).items()
        ]
        async_skipped = [
            Result.skip(key, label, durability, ASYNC_TARGETS[key], "seconds" if key.endswith("lag") else "ratio",
                        reason)
            for key, (label, durability) in async_labels(extra).items()
        ]
        rebuild = Result.skip("supervisor_rebuild", rebuild_label, "normal", REBUILD_TARGET, "ratio", reason)
        return [*inline, *async_skipped, rebuild]
    return [
        *inline_rows(sizes, workdir, progress, open_plugin_store, extra),
        *async_rows(sizes, workdir, progress, extra),
        _rebuild(sizes, workdir, progress, rebuild_label),
    ]


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


def _rebuild(sizes: Sizes, workdir: Path, progress: Progress, label: str) -> Result:
    """Rebuild the six projections from the whole log through their batch handlers (as
    every rebuild does), against the same rebuild of the same store through their
    per-event handlers only (the raw column), round by round."""
    key = "supervisor_rebuild"
    wanted = sizes.count(*REBUILD_SIZE)
    path = workdir / "supervisor-rebuild.db"
    try:
        store = open_plugin_store(path, "normal")
        try:
            progress("supervisor: prefilling the log to rebuild", 0, 1)
            appended = 0
            # The cascade's follow-ups count towards the log: ask for a little less than
            # what is missing, so the log ends a few events past ``wanted`` at most.
            while (stored := store.head()) < wanted:
                missing = -(-(wanted - stored) * UNIT_EVENTS // (UNIT_EVENTS + FOLLOW_UPS_PER_UNIT))
                chunk = supervisor_specs(min(PREFILL_BATCH, missing), appended)
                store.append_many(new_events(chunk))
                appended += len(chunk)
            progress("supervisor: prefilling the log to rebuild", 1, 1)
            replayed = store.head()

            def rebuild() -> None:
                assert store.rebuild(REQUIRED_PROJECTIONS) == replayed

            def per_event_side(_round: int) -> float:
                with per_event_handlers_only(store):
                    return measure(replayed, rebuild)

            def batch_side(_round: int) -> float:
                return measure(replayed, rebuild)

            rates = interleave([per_event_side, batch_side], sizes.rounds, label, progress)
        finally:
            store.close()
    finally:
        remove_database(path)
    size = {"events": replayed, "follow_ups": replayed - appended, "projections": _PROJECTIONS}
    return Result.from_rates(key, label, "normal", size, rates, REBUILD_TARGET)


@contextmanager
def per_event_handlers_only(store: EventStore) -> Iterator[None]:
    """The bench's switch for the rebuild row's raw side: while it is on, ``store``'s six
    projections have no batch handler, so its replays apply every event through the
    per-event handlers, as before batch handlers existed. Each store builds projection
    objects of its own, so no other store is affected; they get their handlers back on
    the way out, whatever happens."""
    projections = [store.registry.projections[name].projection for name in REQUIRED_PROJECTIONS]
    handlers = [projection.batch_handler for projection in projections]
    try:
        for projection in projections:
            projection.batch_handler = None
        yield
    finally:
        for projection, handler in zip(projections, handlers, strict=True):
            projection.batch_handler = handler
