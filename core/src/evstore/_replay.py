"""Installing, migrating, catching up and rebuilding projections: everything that
replays stored events rather than applying fresh ones.

Every function runs inside the write transaction its caller holds. Replays never run
reactors (their follow-ups are already in the log).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from . import _json
from ._backend import Session
from ._declarations import BatchHandler, Handler
from ._envelope import COLUMNS, RecordedEvent
from ._errors import EvstoreError, MigrationError, ProjectionConflictError, ProjectionError, describe
from ._projector import ConnectionScopes, Projector, record_skips, run_within
from ._registry import Registered

log = logging.getLogger("evstore")
# Events read (and handed to a batch handler) at a time: bounded memory on long logs.
REPLAY_BATCH = 2000
_SAVEPOINT = "evstore_replay"
Progress = Callable[[int], None]
Skipped = list[tuple[str, int, str]]
Targets = dict[str, list[tuple[str, Handler]]]
# An event's stored row, in ``COLUMNS`` order, and the positions of its id and type.
Row = tuple[Any, ...]
_ID, _TYPE = 0, 2


class Maintenance:
    """Start-up, catch-up and rebuild of the projections of one store."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self.registry = projector.registry

    # --- start-up ---------------------------------------------------------------------

    def open_all(self, scopes: ConnectionScopes, owners: dict[str, str]) -> None:
        """Claim tables, install new projections, rebuild those whose version went up,
        apply new migrations and catch up those behind. Called inside the write lock."""
        session = scopes.session
        self._claim_tables(session, owners)
        rows = {
            row[0]: tuple(row[1:])
            for row in session.execute("SELECT name, version, position, status FROM evstore_projections").fetchall()
        }
        head = session.head()
        for name in sorted(self.registry.projections):
            registered = self.registry.projections[name]
            recorded = rows.get(name)
            ours = registered.projection.version
            if recorded is None:
                self._install(scopes, registered)
            elif recorded[0] < ours:
                log.info("projection %r: version %s -> %s, rebuilding", name, recorded[0], ours)
                self.rebuild(scopes, [name])
            elif recorded[0] > ours:
                # Rebuilding back to our older version would undo the other process's
                # upgrade, and it would rebuild again: leave the projection alone.
                self.projector.note_version(name, recorded[0])
            else:
                self._migrate(scopes, registered)
                # Async projections are caught up by their workers, not by whoever opens.
                if recorded[2] == "ok" and recorded[1] < head and name in self.projector.inline:
                    self.catch_up(scopes, [name])

    def _claim_tables(self, session: Session, owners: dict[str, str]) -> None:
        """A table belongs to the projection recorded as its owner in this store, whether
        or not that projection's plugin is loaded now: while its owner is disabled,
        another plugin may not take a table over (and empty it)."""
        recorded = {
            str(table).lower(): str(projection)
            for table, projection in session.execute("SELECT name, projection FROM evstore_tables").fetchall()
        }
        for table, projection in recorded.items():
            loaded = self.registry.projections.get(projection)
            described = loaded.describe() if loaded else f"projection {projection!r} (recorded here; not loaded)"
            owners.setdefault(table, described)
        for name in sorted(self.registry.projections):
            registered = self.registry.projections[name]
            for table in registered.projection.tables:
                owner = recorded.get(table.lower())
                if owner is not None and owner != name:
                    absent = "" if owner in self.registry.projections else " (whose plugin is not loaded now)"
                    raise ProjectionConflictError(
                        f"{registered.describe()} declares table {table!r}, but this store records it "
                        f"as owned by projection {owner!r}{absent}; a table has one owner. Rename the "
                        f"table, or {registered.plugin.how_to_disable()}."
                    )
        for name in sorted(self.registry.projections):
            for table in self.registry.projections[name].projection.tables:
                if table.lower() not in recorded:
                    session.execute(
                        "INSERT INTO evstore_tables (name, projection) VALUES (?, ?)", (table.lower(), name)
                    )

    def _install(self, scopes: ConnectionScopes, registered: Registered) -> None:
        self._migrate(scopes, registered)
        scopes.session.execute(
            "INSERT INTO evstore_projections (name, version, position, status, updated_at) "
            "VALUES (?, ?, 0, 'ok', ?)",
            (registered.projection.name, registered.projection.version, _json.utc_now()),
        )
        if registered.projection.name in self.projector.inline:
            self.catch_up(scopes, [registered.projection.name])

    def _migrate(self, scopes: ConnectionScopes, registered: Registered) -> None:
        projection = registered.projection
        session = scopes.session
        applied = {
            row[0]
            for row in session.execute(
                "SELECT name FROM evstore_migrations WHERE projection = ?", (projection.name,)
            ).fetchall()
        }
        pending = [m for m in projection.migrations if m.name not in applied]
        if pending:
            scoped = scopes.migrations[projection.name]
            session.savepoint("evstore_migration")
            migration = pending[0]
            try:
                for migration in pending:
                    step = migration.for_dialect(session.dialect)
                    with scoped:
                        if isinstance(step, str):
                            scoped.execute_script(step)
                        else:
                            step(scoped)
                    session.execute(
                        "INSERT INTO evstore_migrations (projection, name, applied_at) VALUES (?, ?, ?)",
                        (projection.name, migration.name, _json.utc_now()),
                    )
            except Exception as error:
                session.rollback_to("evstore_migration")
                raise MigrationError(
                    f"{registered.describe()}: migration {migration.name!r} failed: "
                    f"{describe(error)}. Its tables are unchanged. Fix the "
                    f"migration, or {registered.plugin.how_to_disable()}."
                ) from error
            except BaseException:
                session.rollback_to("evstore_migration")
                raise
            session.release("evstore_migration")
        missing = [t for t in projection.tables if session.table_kind(t) is None]
        if missing:
            raise ProjectionError(
                f"{registered.describe()} declares tables {missing} that its migrations do not "
                "create. Add a migration creating them, or remove them from tables."
            )

    # --- catch-up and rebuild -------------------------------------------------------------

    def catch_up(self, scopes: ConnectionScopes, names: Sequence[str], progress: Progress | None = None) -> list[str]:
        """Replay events after each projection's position; returns those that failed.

        Each projection catches up inside its own SAVEPOINT: a failure rolls back only
        its replayed rows and leaves it failing at its old position.
        """
        session = scopes.session
        failed = []
        for name in names:
            if name in self.projector.outdated:
                failed.append(name)
                continue
            position = int(
                session.execute("SELECT position FROM evstore_projections WHERE name = ?", (name,)).fetchone()[0]
            )
            skipped: Skipped = []
            session.savepoint("evstore_catch_up")
            try:
                self.replay(scopes, [name], position, progress, skipped)
            except _ReplayError as failure:
                session.rollback_to("evstore_catch_up")
                log.error(
                    "%s", self.projector.mark_failing(session, name, failure.event, failure.error, position)
                )
                failed.append(name)
                continue
            except BaseException:
                session.rollback_to("evstore_catch_up")
                raise
            session.execute(
                "UPDATE evstore_projections SET status = 'ok', error = NULL, failed_event = NULL, "
                "position = (SELECT COALESCE(MAX(id), 0) FROM events), updated_at = ? WHERE name = ?",
                (_json.utc_now(), name),
            )
            record_skips(session, skipped)
            session.release("evstore_catch_up")
            _log_skips(skipped)
        return failed

    def rebuild(self, scopes: ConnectionScopes, names: Sequence[str], progress: Progress | None = None) -> int:
        """Drop the projections' tables, re-run their migrations and replay the whole log
        into them, all in the caller's transaction: readers see the old tables or the
        new ones, never half. Returns the number of events replayed."""
        session = scopes.session
        for name in names:
            if name in self.projector.outdated:
                raise ProjectionError(self.projector.outdated_message(name, self.projector.outdated[name]))
        for name in names:
            registered = self.registry.projections[name]
            for table in registered.projection.tables:
                kind = session.table_kind(table)
                if kind is not None:
                    session.drop(table, kind)
            session.execute("DELETE FROM evstore_migrations WHERE projection = ?", (name,))
            self._migrate(scopes, registered)
        skipped: Skipped = []
        try:
            count = self.replay(scopes, names, 0, progress, skipped)
        except _ReplayError as failure:
            raise ProjectionError(
                self.projector.failure_message(
                    failure.name, failure.event, failure.error,
                    "The rebuild was rolled back; the tables are as they were before it.",
                )
            ) from failure.error
        now = _json.utc_now()
        for name in names:
            session.execute(
                "INSERT INTO evstore_projections (name, version, position, status, updated_at) "
                "VALUES (?, ?, (SELECT COALESCE(MAX(id), 0) FROM events), 'ok', ?) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
                "position = excluded.position, status = 'ok', error = NULL, "
                "failed_event = NULL, updated_at = excluded.updated_at, skipped = 0, last_skip = NULL",
                (name, self.registry.projections[name].projection.version, now),
            )
        record_skips(session, skipped)
        _log_skips(skipped)
        return count

    def replay(
        self, scopes: ConnectionScopes, names: Sequence[str], after: int, progress: Progress | None,
        skipped: Skipped,
    ) -> int:
        """Apply stored events after ``after`` to ``names``, a batch at a time (see
        :meth:`apply_chunk`). ``progress(position)`` is called after each batch."""
        targets = self.targets(names)
        if not targets:
            return 0
        count = 0
        batches = _batches_after(scopes.session, after, sorted(targets))
        while True:
            # Reading a batch makes the objects that live until it is applied.
            with collection_paused():
                rows = next(batches, None)
                if rows is None:
                    return count
                self._apply_rows(scopes, targets, rows, skipped)
            count += len(rows)
            if progress is not None:
                progress(rows[-1][_ID])

    def targets(self, names: Sequence[str]) -> Targets:
        """event type -> [(projection, handler)] for the projections ``names``."""
        wanted = set(names)
        targets = {
            event_type: [(n, h) for n, h, _ in entries if n in wanted]
            for event_type, entries in self.projector.replay_dispatch.items()
        }
        return {t: entries for t, entries in targets.items() if entries}

    def apply_chunk(
        self, scopes: ConnectionScopes, targets: Targets, batch: list[RecordedEvent], skipped: Skipped
    ) -> None:
        """Apply one batch of stored events inside a savepoint. A handler raising on an
        event whose payload does not match its model rolls back that batch only, which
        is applied again without that event for that projection (the decision a live
        append makes); one raising on a conforming event raises ``_ReplayError``. A
        projection's batch handler that raises is replaced by its per-event handlers for
        this batch, so the failing event is found exactly."""
        with collection_paused():
            self._apply_rows(scopes, targets, [event.row() for event in batch], skipped)

    def _apply_rows(self, scopes: ConnectionScopes, targets: Targets, batch: list[Row], skipped: Skipped) -> None:
        """:meth:`apply_chunk` on the stored rows of the events (``COLUMNS`` order).

        The kernel keeps the rows, which nothing can change, and hands every consumer a
        ``RecordedEvent`` of its own made from them: each handler call gets events no
        other consumer has touched, and failures are reported with pristine ones."""
        session = scopes.session
        skips: set[tuple[str, int]] = set()
        per_event: set[str] = set()
        while True:
            session.savepoint(_SAVEPOINT)
            try:
                self._apply_batch(scopes, targets, batch, skips, per_event)
            except _BatchFailed as failure:
                session.rollback_to(_SAVEPOINT)
                per_event.add(failure.name)
                continue
            except _ReplayError as failure:
                session.rollback_to(_SAVEPOINT)
                if self.registry.conforms(failure.event):
                    raise
                skips.add((failure.name, failure.event.id))
                skipped.append((
                    failure.name, failure.event.id,
                    self.projector.skip_message(failure.name, failure.event, failure.error),
                ))
                continue
            except BaseException:
                session.rollback_to(_SAVEPOINT)
                raise
            session.release(_SAVEPOINT)
            return

    def _apply_batch(
        self, scopes: ConnectionScopes, targets: Targets, batch: list[Row],
        skips: set[tuple[str, int]], per_event: set[str],
    ) -> None:
        projections, budgets, session = scopes.projections, self.projector.budgets, scopes.session
        batched = self._batch_handlers(targets, per_event)
        # The per-event handlers of the projections without a batch handler, by type:
        # when every projection has one (a rebuild, usually), the loop below sees no
        # event at all rather than looking up and skipping each event's targets.
        unbatched = {
            event_type: kept
            for event_type, entries in targets.items()
            if (kept := [(name, handler) for name, handler in entries if name not in batched])
        }
        if unbatched:
            self._apply_per_event(scopes, unbatched, batch, skips)
        if not batched:
            return
        # Each batched projection's own events, made in one pass over the batch
        # (filtering the whole batch once per projection cost 2% of rebuilding the
        # six first-party projections).
        copies: dict[str, list[RecordedEvent]] = {name: [] for name in batched}
        routes = {
            event_type: [copies[name] for name, _ in entries if name in copies]
            for event_type, entries in targets.items()
        }
        for row in batch:
            for mine in routes[row[_TYPE]]:
                mine.append(RecordedEvent(row))
        for name, handle_batch in sorted(batched.items()):
            mine = copies[name]
            if not mine:
                continue
            scoped = projections[name]
            try:
                budget = budgets.get(name)
                if budget is None:
                    with scoped:
                        handle_batch(scoped, mine)
                else:
                    run_within(
                        session, budget, scoped, partial(_call_batch, handle_batch, mine), RecordedEvent(batch[0])
                    )
            except Exception as error:
                raise _BatchFailed(name) from error

    def _apply_per_event(
        self, scopes: ConnectionScopes, targets: Targets, batch: list[Row], skips: set[tuple[str, int]]
    ) -> None:
        projections, budgets, session = scopes.projections, self.projector.budgets, scopes.session
        for row in batch:
            for name, handler in targets.get(row[_TYPE], ()):
                if skips and (name, row[_ID]) in skips:
                    continue
                scoped = projections[name]
                try:
                    budget = budgets.get(name)
                    if budget is None:
                        with scoped:
                            handler(scoped, RecordedEvent(row))
                    else:
                        run_within(session, budget, scoped, handler, RecordedEvent(row))
                except Exception as error:
                    raise _ReplayError(name, RecordedEvent(row), error) from error

    def _batch_handlers(self, targets: Targets, per_event: set[str]) -> dict[str, BatchHandler]:
        names = {name for entries in targets.values() for name, _ in entries}
        found = {}
        for name in names - per_event:
            handler = self.registry.projections[name].projection.batch_handler
            if handler is not None:
                found[name] = handler
        return found


@contextmanager
def collection_paused() -> Iterator[None]:
    """No automatic garbage collection inside the block (if it was on, it is on again
    after it, however the block ends); nested blocks leave it to the outermost. For code
    that makes many objects which all live until the block ends: a replay batch, a read
    of thousands of events built into objects.

    Such a block makes tens of thousands of container objects (events, payload dicts,
    rows) that all live until it ends. With the collector on, every 700 of them start a
    collection that scans them all again; the survivors are promoted, and enough
    promoted objects start a collection of the whole heap. Paused, rebuilding the six
    first-party projections from 100k events through their batch handlers took 11-18%
    less CPU (the same rebuild event by event, which keeps fewer objects alive, took as
    long as before); reading a 10k-event workflow into objects, a third less.

    Nothing made inside needs the collector to be freed: reference counting frees it
    when its last reference goes, and any cycle left behind is found by the first
    collection after the block, so keep the block to one batch.

    The switch is the process's: while a block runs, other threads' allocations start
    no collection either (their cycles wait for the end of the block), and a thread that
    turns the collector off meanwhile finds it on again afterwards.
    """
    was_enabled = gc.isenabled()
    try:
        gc.disable()
        yield
    finally:
        if was_enabled:
            gc.enable()


def _log_skips(skipped: Skipped) -> None:
    for _name, _position, message in skipped:
        log.warning("%s", message)


def _call_batch(handle_batch: BatchHandler, events: list[RecordedEvent], db: Any, _first: RecordedEvent) -> None:
    handle_batch(db, events)


class _BatchFailed(Exception):
    """A batch handler raised: apply that batch again event by event (internal)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextmanager
def replay_batches_of(size: int) -> Iterator[None]:
    """Replays in this process read ``size`` events at a time inside the block (the
    test kit's way to cut a short history into several batches)."""
    global REPLAY_BATCH
    if type(size) is not int or size < 1:
        raise ValueError(f"a replay batch holds at least one event, got {size!r}")
    saved, REPLAY_BATCH = REPLAY_BATCH, size
    try:
        yield
    finally:
        REPLAY_BATCH = saved


class _ReplayError(EvstoreError):
    def __init__(self, name: str, event: RecordedEvent, error: BaseException) -> None:
        super().__init__(f"{name} failed on event {event.id}")
        self.name, self.event, self.error = name, event, error


def _batches_after(session: Session, after: int, types: Sequence[str]) -> Iterator[list[Row]]:
    """The rows of the stored events of ``types`` after position ``after``, in position
    order, a batch at a time, so replaying a long log takes constant memory."""
    marks = ",".join("?" * len(types))
    sql = (
        f"SELECT {COLUMNS} FROM events WHERE id > ? AND event_type IN ({marks}) "
        f"ORDER BY id LIMIT {REPLAY_BATCH}"
    )
    while True:
        rows = session.execute(sql, (after, *types)).fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][_ID]
