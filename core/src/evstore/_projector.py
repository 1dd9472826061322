"""Running projections: migrations, inline application, failure, catch-up, rebuild.

All methods run inside a write transaction the caller holds (``BEGIN IMMEDIATE``), so
a projection's rows and its recorded position always commit together.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from . import _json
from ._access import Guard, ScopedConnection
from ._declarations import Handler
from ._envelope import COLUMNS, RecordedEvent
from ._errors import EvstoreError, MigrationError, ProjectionError, ProjectionFailedError
from ._registry import Registered, Registry

log = logging.getLogger("evstore")
REPLAY_BATCH = 2000
Progress = Callable[[int], None]


@dataclass
class Live:
    """Per-transaction projection state: which projections receive events inline."""

    live: set[str] = field(default_factory=set)
    # The log's head when the transaction began, and the last position the live
    # projections have seen in it; None when no projection is loaded.
    start: int | None = None
    head: int | None = None
    data_version: int | None = None
    # Failure messages to log once the transaction has committed (if it rolls back, the
    # failure never happened as far as anyone can see).
    failures: list[str] = field(default_factory=list)


class ConnectionScopes:
    """One SQLite connection with its scoped views: one per projection and reactor, and
    a read-only one for queries."""

    def __init__(self, conn: sqlite3.Connection, guard: Guard, registry: Registry) -> None:
        self.conn = conn
        self.projections = {
            name: ScopedConnection(
                conn, guard, f"projection:{name}", reg.projection.tables, reg.describe()
            )
            for name, reg in registry.projections.items()
        }
        self.reactors = {
            name: ScopedConnection(
                conn, guard, f"reactor:{name}", (), f"reactor {name!r} of {info.describe()}"
            )
            for name, (_, info) in registry.reactors.items()
        }
        self.reader = ScopedConnection(conn, guard, "reader", (), "a read-only query", standalone=True)
        # What the last transaction committed on this connection left behind: (SQLite's
        # data_version then, the live projections, the head). Valid while no other
        # connection has committed, which data_version tells us for free.
        self.known: tuple[int, frozenset[str], int] | None = None


class Projector:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.dispatch: dict[str, list[tuple[str, Handler, bool]]] = {}
        for name in sorted(registry.projections):
            projection = registry.projections[name].projection
            for event_type, handler in projection.handlers.items():
                self.dispatch.setdefault(event_type, []).append((name, handler, projection.strict))

    # --- start-up ---------------------------------------------------------------------

    def open_all(self, scopes: ConnectionScopes) -> None:
        """Install new projections, rebuild those whose version changed, apply new
        migrations and catch up those behind. Called inside the write lock."""
        conn = scopes.conn
        rows = {
            row[0]: row[1:]
            for row in conn.execute("SELECT name, version, position, status FROM evstore_projections")
        }
        for name in sorted(self.registry.projections):
            registered = self.registry.projections[name]
            recorded = rows.get(name)
            if recorded is None:
                self._install(scopes, registered)
            elif recorded[0] != registered.projection.version:
                log.info("projection %r: version %s -> %s, rebuilding", name, recorded[0],
                         registered.projection.version)
                self.rebuild(scopes, [name])
            else:
                self._migrate(scopes, registered)
                if recorded[2] == "ok" and recorded[1] < head(conn):
                    self.catch_up(scopes, [name])

    def _install(self, scopes: ConnectionScopes, registered: Registered) -> None:
        self._migrate(scopes, registered)
        scopes.conn.execute(
            "INSERT INTO evstore_projections (name, version, position, status, updated_at) "
            "VALUES (?, ?, 0, 'ok', ?)",
            (registered.projection.name, registered.projection.version, _json.utc_now()),
        )
        self.catch_up(scopes, [registered.projection.name])

    def _migrate(self, scopes: ConnectionScopes, registered: Registered) -> None:
        projection = registered.projection
        conn = scopes.conn
        applied = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM evstore_migrations WHERE projection = ?", (projection.name,)
            )
        }
        pending = [m for m in projection.migrations if m.name not in applied]
        if pending:
            scoped = scopes.projections[projection.name]
            conn.execute("SAVEPOINT evstore_migration")
            try:
                for migration in pending:
                    with scoped:
                        if isinstance(migration.apply, str):
                            scoped.execute_script(migration.apply)
                        else:
                            migration.apply(scoped)
                    conn.execute(
                        "INSERT INTO evstore_migrations (projection, name, applied_at) VALUES (?, ?, ?)",
                        (projection.name, migration.name, _json.utc_now()),
                    )
            except Exception as error:
                conn.execute("ROLLBACK TO evstore_migration")
                conn.execute("RELEASE evstore_migration")
                raise MigrationError(
                    f"{registered.describe()}: migration {migration.name!r} failed: "
                    f"{type(error).__name__}: {error}. Its tables are unchanged. Fix the "
                    f"migration, or {registered.plugin.how_to_disable()}."
                ) from error
            conn.execute("RELEASE evstore_migration")
        missing = [t for t in projection.tables if not _table_exists(conn, t)]
        if missing:
            raise ProjectionError(
                f"{registered.describe()} declares tables {missing} that its migrations do not "
                "create. Add a migration creating them, or remove them from tables."
            )

    # --- live appends -----------------------------------------------------------------

    def begin(self, scopes: ConnectionScopes) -> Live:
        """At the start of a write transaction: find which projections are current.

        Another process (perhaps with this projection disabled) may have appended since
        we last looked; a projection that is behind is caught up first, so an inline
        apply never skips an event.
        """
        conn = scopes.conn
        state = Live()
        if not self.registry.projections:
            return state
        state.data_version = data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        known = scopes.known
        if known is not None and known[0] == data_version:
            # Nothing was committed by anyone else since our last commit: the positions
            # are as we left them, so skip reading them (two queries per transaction).
            state.live = set(known[1])
            state.start = state.head = known[2]
            return state
        current_head = head(conn)
        state.start = state.head = current_head
        behind = []
        for name, position, status in conn.execute(
            "SELECT name, position, status FROM evstore_projections"
        ):
            if name not in self.registry.projections or status != "ok":
                continue
            if position < current_head:
                behind.append(name)
            state.live.add(name)
        if behind:
            failed = self.catch_up(scopes, behind)
            state.live.difference_update(failed)
        return state

    def apply(self, scopes: ConnectionScopes, state: Live, events: Sequence[RecordedEvent]) -> None:
        """Apply freshly appended events to every live projection that handles them.

        All of it runs inside one SAVEPOINT. When a non-strict handler raises, the
        savepoint is rolled back (undoing every projection's work on these events), that
        projection is marked failing at the position before the first of them, and the
        others apply the events again: the outcome of isolating each projection in a
        savepoint of its own, at the cost of one savepoint per append instead of one per
        projection and event. A strict projection's error rejects the append.
        """
        dispatch = self.dispatch
        if not any(event.event_type in dispatch for event in events):
            return
        conn = scopes.conn
        while True:
            conn.execute("SAVEPOINT evstore_projections")
            try:
                for event in events:
                    targets = dispatch.get(event.event_type)
                    if targets:
                        self._apply_one(scopes, state, event, targets)
            except _HandlerFailed as failure:
                conn.execute("ROLLBACK TO evstore_projections")
                conn.execute("RELEASE evstore_projections")
                state.live.discard(failure.name)
                state.failures.append(
                    self._mark_failing(conn, failure.name, failure.event, failure.error, events[0].id - 1)
                )
                continue
            except BaseException:
                conn.execute("ROLLBACK TO evstore_projections")
                conn.execute("RELEASE evstore_projections")
                raise
            conn.execute("RELEASE evstore_projections")
            return

    def _apply_one(
        self, scopes: ConnectionScopes, state: Live, event: RecordedEvent, targets: list[tuple[str, Handler, bool]]
    ) -> None:
        live = state.live
        for name, handler, strict in targets:
            if name not in live:
                continue
            scoped = scopes.projections[name]
            try:
                with scoped:
                    handler(scoped, event)
            except Exception as error:
                if not strict:
                    raise _HandlerFailed(name, event, error) from error
                raise ProjectionFailedError(
                    self._failure_message(
                        name, event, error,
                        f"{name!r} is strict, so the append was rejected and nothing was written.",
                    )
                ) from error

    def committed(self, scopes: ConnectionScopes, state: Live) -> None:
        """After COMMIT: remember the state so the next transaction can skip reading it."""
        for message in state.failures:
            log.error("%s", message)
        if state.data_version is not None and state.head is not None:
            scopes.known = (state.data_version, frozenset(state.live), state.head)

    def apply_foreign(self, scopes: ConnectionScopes, state: Live, upto: int) -> None:
        """Apply rows that raw SQL inserted into ``events`` inside this transaction (on
        ``tx.connection``), between the kernel's own appends: without this the recorded
        position would pass over them and no catch-up would ever apply them. Reactors do
        not run for them: only kernel appends are reacted to."""
        assert state.head is not None
        self.apply(scopes, state, _events_between(scopes.conn, state.head, upto))
        state.head = upto

    def finish(self, scopes: ConnectionScopes, state: Live) -> None:
        """Record the live projections' position, in the appending transaction (after
        applying any rows raw SQL added since their last append)."""
        if not state.live or state.head is None:
            return
        conn = scopes.conn
        current = head(conn)
        if current == state.start:
            return
        if current > state.head:
            self.apply_foreign(scopes, state, current)
        state.head = current
        names = sorted(state.live)
        conn.execute(
            f"UPDATE evstore_projections SET position = ?, updated_at = ? "
            f"WHERE name IN ({','.join('?' * len(names))})",
            (current, _json.utc_now(), *names),
        )

    # --- failure --------------------------------------------------------------------

    def _failure_message(self, name: str, event: RecordedEvent, error: BaseException, outcome: str) -> str:
        plugin = self.registry.projections[name].plugin
        where = (
            f"projection {name!r} ({plugin.distribution} {plugin.version})"
            if plugin.distribution
            else f"projection {name!r} (plugin {plugin.name!r})"
        )
        return (
            f"{where} failed on event {event.id} ({event.event_type}, workflow "
            f"{event.workflow_id!r}): {type(error).__name__}: {error}. {outcome} "
            f"Fix the plugin, or {plugin.how_to_disable()}."
        )

    def _mark_failing(
        self, conn: sqlite3.Connection, name: str, event: RecordedEvent, error: BaseException, position: int
    ) -> str:
        message = self._failure_message(
            name, event, error,
            f"The event is stored; {name!r} is marked failing at position {position} and "
            f"skipped until `evstore catch-up {name}` succeeds.",
        )
        conn.execute(
            "UPDATE evstore_projections SET status = 'failing', position = ?, error = ?, "
            "failed_event = ?, updated_at = ? WHERE name = ?",
            (position, message, event.id, _json.utc_now(), name),
        )
        return message

    # --- catch-up and rebuild -------------------------------------------------------------

    def catch_up(
        self, scopes: ConnectionScopes, names: Iterable[str], progress: Progress | None = None
    ) -> list[str]:
        """Replay events after each projection's position; returns those that failed.

        Each projection catches up inside its own SAVEPOINT: a failure rolls back only
        its replayed rows and leaves it failing at its old position.
        """
        conn = scopes.conn
        failed = []
        for name in names:
            position = conn.execute(
                "SELECT position FROM evstore_projections WHERE name = ?", (name,)
            ).fetchone()[0]
            conn.execute("SAVEPOINT evstore_catch_up")
            try:
                self._replay(scopes, [name], position, progress)
            except _ReplayError as failure:
                conn.execute("ROLLBACK TO evstore_catch_up")
                conn.execute("RELEASE evstore_catch_up")
                log.error("%s", self._mark_failing(conn, name, failure.event, failure.error, position))
                failed.append(name)
                continue
            conn.execute(
                "UPDATE evstore_projections SET status = 'ok', error = NULL, failed_event = NULL, "
                "position = (SELECT COALESCE(MAX(id), 0) FROM events), updated_at = ? WHERE name = ?",
                (_json.utc_now(), name),
            )
            conn.execute("RELEASE evstore_catch_up")
        return failed

    def rebuild(self, scopes: ConnectionScopes, names: Sequence[str], progress: Progress | None = None) -> int:
        """Drop the projections' tables, re-run their migrations and replay the whole log
        into them, all in the caller's transaction: readers see the old tables or the
        new ones, never half. Returns the number of events replayed."""
        conn = scopes.conn
        for name in names:
            registered = self.registry.projections[name]
            for table in registered.projection.tables:
                kind = conn.execute(
                    "SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE", (table,)
                ).fetchone()
                if kind is not None:
                    conn.execute(f'DROP {"VIEW" if kind[0] == "view" else "TABLE"} "{table}"')
            conn.execute("DELETE FROM evstore_migrations WHERE projection = ?", (name,))
            self._migrate(scopes, registered)
        try:
            count = self._replay(scopes, names, 0, progress)
        except _ReplayError as failure:
            raise ProjectionError(
                self._failure_message(
                    failure.name, failure.event, failure.error,
                    "The rebuild was rolled back; the tables are as they were before it.",
                )
            ) from failure.error
        now = _json.utc_now()
        for name in names:
            conn.execute(
                "INSERT INTO evstore_projections (name, version, position, status, updated_at) "
                "VALUES (?, ?, (SELECT COALESCE(MAX(id), 0) FROM events), 'ok', ?) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
                "position = excluded.position, status = 'ok', error = NULL, "
                "failed_event = NULL, updated_at = excluded.updated_at",
                (name, self.registry.projections[name].projection.version, now),
            )
        return count

    def _replay(
        self, scopes: ConnectionScopes, names: Sequence[str], after: int, progress: Progress | None = None
    ) -> int:
        """Apply stored events after ``after`` to ``names``; no reactors run here.
        ``progress(position)`` is called after each batch with the last position applied."""
        wanted = set(names)
        targets = {
            event_type: [(n, h) for n, h, _ in entries if n in wanted]
            for event_type, entries in self.dispatch.items()
        }
        targets = {t: entries for t, entries in targets.items() if entries}
        if not targets:
            return 0
        count = 0
        for event in _events_after(scopes.conn, after, sorted(targets)):
            for name, handler in targets[event.event_type]:
                scoped = scopes.projections[name]
                try:
                    with scoped:
                        handler(scoped, event)
                except Exception as error:
                    raise _ReplayError(name, event, error) from error
            count += 1
            if progress is not None and count % REPLAY_BATCH == 0:
                progress(event.id)
        return count


class _HandlerFailed(Exception):
    """A non-strict handler raised during a live append (internal control flow)."""

    def __init__(self, name: str, event: RecordedEvent, error: BaseException) -> None:
        super().__init__(name)
        self.name, self.event, self.error = name, event, error


class _ReplayError(EvstoreError):
    def __init__(self, name: str, event: RecordedEvent, error: BaseException) -> None:
        super().__init__(f"{name} failed on event {event.id}")
        self.name, self.event, self.error = name, event, error


def head(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


def _events_after(conn: sqlite3.Connection, after: int, types: Sequence[str]) -> Iterator[RecordedEvent]:
    """Stored events of ``types`` after position ``after``, in position order, fetched in
    batches so replaying a long log takes constant memory."""
    marks = ",".join("?" * len(types))
    sql = (
        f"SELECT {COLUMNS} FROM events WHERE id > ? AND event_type IN ({marks}) "
        f"ORDER BY id LIMIT {REPLAY_BATCH}"
    )
    while True:
        rows = conn.execute(sql, (after, *types)).fetchall()
        if not rows:
            return
        for row in rows:
            yield RecordedEvent(row)
        after = rows[-1][0]


def _events_between(conn: sqlite3.Connection, after: int, upto: int) -> list[RecordedEvent]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM events WHERE id > ? AND id <= ? ORDER BY id", (after, upto))
    return [RecordedEvent(row) for row in rows]


def _table_exists(conn: sqlite3.Connection, table: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')",
            (table,),
        ).fetchone()
        is not None
    )
