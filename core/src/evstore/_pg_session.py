"""One thread's connection to a PostgreSQL store: kernel SQL, transactions, the log's
inserts and scoped projection SQL (the pool and schema are ``_postgres``'s).

Every write transaction takes the store's advisory lock right after BEGIN, at READ
COMMITTED; why that orders positions by commit is in ``_postgres``'s docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus

from . import _pg_guard, _pg_sql
from ._backend import SAVEPOINT_BATCH, Cursor, Scope
from ._errors import (
    StoreBusyError,
    StoreConnectionError,
    StoreReadOnlyError,
    TransactionError,
)
from ._pg_catalog import CatalogQueries
from ._pg_insert import (
    COPY_FROM,
    INSERT_PREPARABLE,
    PREPARED,
    EventIdTaken,
    RowRefused,
    bindable,
    copy_rows,
    insert_returning,
    needs_savepoint,
    run_first,
)
from ._pg_support import in_pipeline

if TYPE_CHECKING:
    from ._postgres import PostgresBackend

T = TypeVar("T")


class PostgresSession(CatalogQueries):
    """One thread's connection from the store's pool."""

    dialect = "postgresql"
    # The trigger computes a left-out version while inserting, where the kernel's
    # lookup would cost a round trip per workflow.
    fills_versions = True
    # A batch is inserted in a savepoint, so a stored event id undoes it whole: probing
    # every batch's ids first would cost a query per 500 events for the rare retry.
    refuses_stored_ids = True

    def __init__(self, backend: PostgresBackend, conn: psycopg.Connection[Any]) -> None:
        self.backend = backend
        self.schema = backend.schema
        self.conn = conn
        self.scope: Scope | None = None
        self._translations = backend.translations
        self._closed = False
        # Ours, not the driver's: a broken connection no longer knows it was in one.
        self._in_transaction = False
        self._notify = False  # events were inserted in this transaction: NOTIFY at commit
        # BEGIN (and the write lock) not sent yet: they go with the transaction's first
        # statement, in its round trip (see begin_write).
        self._pending_begin: tuple[str, ...] = ()
        # Session advisory locks this connection holds (workers' leases); they die with it.
        self._session_locks: set[str] = set()
        # The cursor single-row INSERTs run on, kept with its connection (see _insert).
        self._insert_cursor: psycopg.Cursor[Any] | None = None
        # The caller was handed the connection in this transaction (``raw``): its SQL may
        # have deallocated the prepared INSERT without psycopg noticing (psycopg misses a
        # DEALLOCATE ALL it has seen before), so inserts go in savepoints again.
        self._handed_out = False

    # --- kernel SQL ---------------------------------------------------------------------

    def _translated(self, sql: str) -> _pg_sql.Translation:
        found: _pg_sql.Translation | None = self._translations.get(sql)
        if found is None:
            found = self._translations[sql] = _pg_sql.translate(sql)
        return found

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return self._run(self._translated(sql), parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        return self._run_many(self._translated(sql), rows)

    def _run_many(self, translation: _pg_sql.Translation, rows: Iterable[Any]) -> Cursor:
        self._send_begin()
        cursor = self._usable().cursor()
        try:
            cursor.executemany(translation.driver, list(rows))
        except psycopg.OperationalError as error:
            raise self._lost(error) from None
        return cursor

    def _run(self, translation: _pg_sql.Translation, parameters: Any) -> Cursor:
        if self._pending_begin:
            if translation.count or translation.names:
                return self._begin_with(translation, parameters)
            self._send_begin()  # a text without placeholders may hold several statements
        conn = self._usable()
        try:
            if translation.count or translation.names:
                return conn.execute(translation.driver, parameters)
            # No placeholders: the text as translated from (with a migration's type names
            # mapped), unescaped, since psycopg reads %% only when given parameters.
            return conn.execute(translation.source)
        except psycopg.OperationalError as error:
            raise self._lost(error) from None

    def _usable(self) -> psycopg.Connection[Any]:
        conn = self.conn
        if not self._in_transaction and not conn.closed and (
            conn.info.transaction_status != TransactionStatus.IDLE or in_pipeline(conn)
        ):
            conn.close()  # left mid-command by an interrupt: never reuse it
        if conn.broken or conn.closed:
            if self._in_transaction and not self._pending_begin:
                raise StoreConnectionError(
                    f"the connection to {self.backend.target!r} broke in the middle of a transaction, "
                    "which the server rolled back; roll back and retry"
                )
            # Lost between transactions (a server restart): take a fresh one; nothing
            # was in flight.
            self.backend.put(conn)
            conn = self.conn = self.backend._get()
            self._session_locks.clear()  # they died with the old connection
        return conn

    def _lost(self, error: psycopg.Error) -> StoreConnectionError:
        return StoreConnectionError(
            f"lost the connection to {self.backend.target!r} ({str(error).strip() or type(error).__name__}). "
            "A transaction in progress was rolled back by the server: nothing of it is stored, except "
            "if the connection broke during COMMIT, when it may have committed. Retrying an append with "
            "the same event ids is safe either way."
        )

    # --- transactions -------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def begin_write(self, log_lock: bool = True) -> None:
        """Start a write transaction: BEGIN at READ COMMITTED, then the store's advisory
        lock (``log_lock=False``: BEGIN alone, for a worker's batch, which inserts no
        event). Nothing is sent yet: both go with the transaction's first statement, in
        its round trip (``_begin_with``), so a single append costs what raw psycopg's
        does. A transaction that runs no statement never reaches the server.

        READ COMMITTED, because every later statement then takes a snapshot after the
        lock was granted and sees what the previous writer committed; under REPEATABLE
        READ the snapshot would be the one taken before the wait, and this writer would
        assign a position or version the previous one already used."""
        if self.backend.read_only:
            raise StoreReadOnlyError(
                f"the store at {self.backend.target!r} was opened read-only; open it without read_only to write"
            )
        if self._in_transaction or self.conn.info.transaction_status != TransactionStatus.IDLE:
            self.rollback()  # left open by an interrupt: stale (the kernel never nests BEGIN)
        self._usable()
        lock = (f"SELECT pg_advisory_xact_lock({self.backend.lock_key})",) if log_lock else ()
        self._pending_begin = ("BEGIN ISOLATION LEVEL READ COMMITTED", *lock)
        self._in_transaction = True
        self._handed_out = False

    def _send_begin(self) -> None:
        """Send a pending BEGIN (and lock) on its own, before a statement that cannot
        share its round trip."""
        if not self._pending_begin:
            return
        conn = self._usable()
        statements, self._pending_begin = self._pending_begin, ()
        # Several statements in one round trip: the simple query protocol, never prepared.
        self._guarded_begin(lambda: conn.execute("; ".join(statements), prepare=False))

    def _begin_with(self, translation: _pg_sql.Translation, parameters: Any) -> Cursor:
        """The pending BEGIN and lock, then ``sql``, in one round trip. ``sql`` runs
        after the lock was granted, so its READ COMMITTED snapshot sees the previous
        writer's commit."""
        conn = self._usable()
        if len(self._pending_begin) > 1 and bindable(parameters):
            # Prepared while the server is idle (BEGIN not sent yet), as the statement is.
            PREPARED.name(conn, *INSERT_PREPARABLE)
        statements, self._pending_begin = self._pending_begin, ()
        return self._guarded_begin(
            lambda: run_first(conn, statements, translation.driver, translation.parseable, parameters)
        )

    def _guarded_begin(self, send: Callable[[], T]) -> T:
        conn = self.conn
        try:
            return send()
        except psycopg.errors.LockNotAvailable:
            raise self._busy(conn) from None
        except psycopg.OperationalError as error:
            self._drop_if_pipelined(conn)
            raise self._lost(error) from None
        except psycopg.Error:
            self._drop_if_pipelined(conn)
            raise
        except BaseException:
            # Interrupted with BEGIN in flight: the connection's state is unknown, so it
            # goes (the server ends the transaction and frees the lock).
            conn.close()
            raise

    def _busy(self, conn: psycopg.Connection[Any]) -> StoreBusyError:
        """The lock wait timed out (lock_timeout): roll back, and say who to look for."""
        self._drop_if_pipelined(conn)
        self.rollback()
        return StoreBusyError(
            f"could not take the write lock of {self.backend.target!r} within the busy timeout "
            f"({self.backend.busy_timeout:g} s): another writer holds it. Look for a stuck writer, or "
            "open the store with a longer busy_timeout."
        )

    @staticmethod
    def _drop_if_pipelined(conn: psycopg.Connection[Any]) -> None:
        if in_pipeline(conn):
            conn.close()

    def begin_read(self) -> None:
        if self._in_transaction or self.conn.info.transaction_status != TransactionStatus.IDLE:
            self.rollback()
        conn = self._usable()
        self._in_transaction = True
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def commit(self) -> None:
        if self._pending_begin:  # no statement ran: there is nothing on the server to commit
            self._pending_begin, self._in_transaction = (), False
            return
        if self.conn.info.transaction_status == TransactionStatus.INERROR:
            # A statement failed with nothing to roll back to (the caller caught its
            # error and went on). PostgreSQL would answer COMMIT with a silent ROLLBACK:
            # say so instead of reporting a commit that did not happen.
            self.rollback()
            raise TransactionError(
                f"the transaction on {self.backend.target!r} was rolled back, not committed: a statement in "
                "it failed on the server, which then refuses the rest of the transaction. Retry the whole "
                "transaction."
            )
        try:
            if self._notify:
                # Wakes workers LISTENing on the store's channel; delivered at COMMIT, in
                # the same round trip. Only a wake-up: workers also poll.
                self._notify = False
                self.conn.execute(f"NOTIFY {self.backend.channel}; COMMIT", prepare=False)
            else:
                self.conn.execute("COMMIT")
        except psycopg.OperationalError as error:
            raise self._lost(error) from None
        finally:
            self._in_transaction = self.conn.info.transaction_status == TransactionStatus.INTRANS

    def rollback(self) -> None:
        self._in_transaction = self._notify = False
        self._pending_begin = ()
        conn = self.conn
        if conn.closed or conn.broken:
            return
        if conn.info.transaction_status == TransactionStatus.ACTIVE:
            # An interrupt landed while a statement was in flight: the connection's
            # state is unknown. Drop it (the server then ends the transaction and frees
            # the advisory lock); the next call takes a fresh one.
            conn.close()
            return
        if conn.info.transaction_status != TransactionStatus.IDLE or in_pipeline(conn):
            try:
                conn.execute("ROLLBACK")
            except Exception:
                # The connection is in no state to take a command (an interrupt left a
                # pipeline or a result half read): drop it, which ends the transaction
                # on the server; the next call takes a fresh connection.
                conn.close()

    def savepoint(self, name: str) -> None:
        self.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self.execute(f"RELEASE SAVEPOINT {name}")

    def rollback_to(self, name: str) -> None:
        if not self.conn.closed and self.conn.info.transaction_status == TransactionStatus.ACTIVE:
            # Ctrl-C cut a statement off and the caller unwinds with it: sending ROLLBACK TO
            # failed ("another command is already in progress") and that error replaced the
            # KeyboardInterrupt. Drop the connection: the server rolls the transaction back.
            self.conn.close()
            return
        self.execute(f"ROLLBACK TO SAVEPOINT {name}")
        self.execute(f"RELEASE SAVEPOINT {name}")

    # --- the log ----------------------------------------------------------------------

    def insert_events(self, rows: Sequence[tuple[Any, ...]]) -> tuple[int, Sequence[int] | None]:
        self._notify = True
        return self._insert(rows)

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> tuple[int, list[int]]:
        """A conflict the kernel recovers from (a retried event id, a version another
        statement took) must leave the transaction usable, as it does on SQLite: a
        single row whose version the trigger fills in cannot fail that way (a taken
        event id makes its INSERT do nothing), anything else is inserted inside a
        savepoint. The statements go in one round trip, preceded by the write lock's
        BEGIN if it was not sent yet."""
        conn = self._usable()
        begin, self._pending_begin = self._pending_begin, ()
        bare = not self._handed_out and not needs_savepoint(rows)
        try:
            if len(rows) >= COPY_FROM:
                inserted = copy_rows(conn, begin, rows)
            else:
                cursor = self._insert_cursor
                if cursor is None or cursor.connection is not conn:
                    cursor = self._insert_cursor = conn.cursor()
                inserted = insert_returning(conn, begin, rows, cursor if bare else None)
        except psycopg.errors.LockNotAvailable:
            if not begin:
                raise
            raise self._busy(conn) from None
        except psycopg.Error as error:
            if isinstance(error, psycopg.OperationalError) or in_pipeline(conn) or conn.closed:
                conn.close()
                raise self._lost(error) from None
            if bare or isinstance(error, psycopg.errors.InFailedSqlTransaction):
                # An unexpected server error (out of disk, a cancelled statement) with no
                # savepoint to go back to, or a transaction an earlier statement aborted
                # (the savepoint was never taken): it can only be rolled back, and
                # commit() refuses it (see there).
                raise
            conn.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT_BATCH}")
            conn.execute(f"RELEASE SAVEPOINT {SAVEPOINT_BATCH}")
            raise
        except EventIdTaken:
            raise  # the INSERT did nothing: the transaction is as it was
        except RowRefused as refused:
            # A bad event of a streamed batch: the COPY was aborted, and the rows sent
            # before it are undone with the savepoint, so the transaction stays usable,
            # as when the batch was refused before anything was sent. Aborting leaves
            # the transaction failed; in any other state the connection goes.
            if conn.info.transaction_status != TransactionStatus.INERROR:
                conn.close()
            else:
                conn.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT_BATCH}; RELEASE SAVEPOINT {SAVEPOINT_BATCH}")
            raise refused.error from refused.error.__cause__  # as raised, without the wrapper
        except BaseException:
            # Interrupted with the pipeline in flight: its state is unknown, so the
            # connection goes (the server ends the transaction and frees the lock).
            conn.close()
            raise
        return inserted

    def head(self) -> int:
        return int(self.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    def change_marker(self) -> int | None:
        return None  # nothing as cheap as SQLite's data_version: the kernel re-reads

    def locked_projection_row(self, name: str) -> tuple[int, int, str] | None:
        # FOR UPDATE: a rebuild or catch-up of the same projection by another process
        # waits for this batch (or this batch for it), never interleaves with it.
        found = self.execute(
            "SELECT version, position, status FROM evstore_projections WHERE name = ? FOR UPDATE", (name,)
        ).fetchone()
        return None if found is None else (int(found[0]), int(found[1]), str(found[2]))

    def try_session_lock(self, name: str) -> bool:
        if name in self._session_locks:
            return True
        key = self.backend.key_for(name)
        if not self.execute(f"SELECT pg_try_advisory_lock({key})").fetchone()[0]:
            return False
        self._session_locks.add(name)
        return True

    def release_session_lock(self, name: str) -> None:
        if name in self._session_locks:
            self._session_locks.discard(name)
            self.execute(f"SELECT pg_advisory_unlock({self.backend.key_for(name)})")

    def violated_constraint(self, error: BaseException) -> str | None:
        if isinstance(error, EventIdTaken):
            return "event_id"
        if not isinstance(error, psycopg.errors.UniqueViolation):
            return None
        name = error.diag.constraint_name
        return {"events_version_unique": "version", "events_event_id_unique": "event_id"}.get(name or "")

    # --- scoped SQL -------------------------------------------------------------------

    def enter(self, scope: Scope) -> None:
        self.scope = scope

    def leave(self) -> None:
        self.scope = None

    @property
    def active_scope(self) -> Scope | None:
        return self.scope

    def _checked(self, scope: Scope, sql: str) -> _pg_sql.Translation:
        found = scope.cache.get(sql)
        if found is not None:
            return found  # type: ignore[no-any-return]
        text = _pg_sql.map_ddl(sql) if scope.ddl else sql
        translation = _pg_sql.translate(text)
        if _pg_guard.check(scope, translation.parseable, self.backend.schema, self._index_table):
            scope.cache[sql] = translation
        return translation

    def run(self, scope: Scope, sql: str, parameters: Any) -> Cursor:
        translation = self._checked(scope, sql)
        return self._run(translation, parameters)

    def run_many(self, scope: Scope, sql: str, rows: Iterable[Any]) -> Cursor:
        return self._run_many(self._checked(scope, sql), rows)

    def split_script(self, script: str) -> list[str]:
        return _pg_sql.split(script)

    def limit_statements(self, seconds: float | None) -> None:
        if seconds is None and self.conn.info.transaction_status == TransactionStatus.INERROR:
            return  # the aborted statement's savepoint, rolled back next, undoes the SET LOCAL
        # SET LOCAL ends with the transaction; 0 means no limit.
        self.execute(f"SET LOCAL statement_timeout = {0 if seconds is None else max(1, int(seconds * 1000))}")

    @property
    def raw(self) -> psycopg.Connection[Any]:
        self._send_begin()  # the caller's SQL belongs in the transaction, under the lock
        self._handed_out = True
        return self.conn

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._insert_cursor = None  # its connection goes back to the pool
        self.rollback()
        if self._session_locks and not self.conn.closed:
            # Session locks outlive transactions: a pooled connection must not carry a
            # worker's lease to whoever takes it next.
            try:
                self.conn.execute("SELECT pg_advisory_unlock_all()")
            except Exception:  # then the connection goes, and its locks with it
                self.conn.close()
            self._session_locks.clear()
        self.backend.put(self.conn)
