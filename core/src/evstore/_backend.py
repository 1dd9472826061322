"""The seam between the kernel and a database.

The write pipeline (``_transactions``), the projector and the reads talk to a
:class:`Session` (one thread's connection) and never to a driver; everything
dialect-specific — how the write lock is taken, how positions are assigned, how table
ownership is enforced, which errors mean what — lives behind it, in ``_sqlite`` and
``_postgres``. Kernel SQL is written once, with ``?`` placeholders, in the subset both
dialects share; a backend translates it if it must.

Sessions are used by one thread at a time (the store hands each thread its own), so
nothing here locks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Savepoint names the kernel uses; backends splice them into SQL, so they are constants.
SAVEPOINT_BATCH = "evstore_batch"


class Cursor(Protocol):
    """The part of a DB-API cursor the kernel uses."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...


class StatementCache(dict[str, Any]):
    """What a backend keeps per statement text of a scope (the tagged text, the checked
    translation). A plugin that puts values into its SQL text (an ``IN`` list of ids,
    literals) makes a new text per call: without a bound, a long-running worker's cache
    would grow for the life of the store. Past ``LIMIT`` texts it starts over; checking
    a statement again costs microseconds. (The PostgreSQL backend's cache of the
    kernel's own translated SQL is one too, with a larger ``limit``.)"""

    LIMIT = 2048
    __slots__ = ("limit",)

    def __init__(self, limit: int = LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: str, value: Any) -> None:
        if len(self) >= self.limit:
            self.clear()
        super().__setitem__(key, value)


@dataclass(eq=False)
class Scope:
    """Who runs SQL right now: a projection (writing its own tables only), a reactor or
    a query (reading only). ``owner`` is unique per store ("projection:steps")."""

    owner: str
    writable: frozenset[str]
    describe: str
    # Whose table is each table the scope may not write, for error messages that say
    # whom to ask instead of "declare it".
    owners: dict[str, str] = field(default_factory=dict)
    # Schema changes (of its own tables) are allowed only while a migration runs.
    ddl: bool = False
    # Per-backend cache of prepared statement texts or verdicts, keyed by SQL text.
    cache: StatementCache = field(default_factory=StatementCache)


class Session(Protocol):
    """One thread's connection to the store's database, as the kernel sees it."""

    dialect: str
    # Whether insert_events fills in a version left as None (the next of its workflow)
    # and returns it: the server then saves the kernel a lookup per workflow.
    fills_versions: bool
    # Whether insert_events refuses a batch holding a stored event id as a whole (a
    # unique violation on ``event_id``, nothing inserted), so that the kernel looks for
    # a retried batch only then, instead of probing the ids before every batch.
    refuses_stored_ids: bool

    # --- kernel SQL (``?`` placeholders, unrestricted) ---------------------------------
    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor: ...

    # --- transactions -------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool: ...

    def begin_write(self, log_lock: bool = True) -> None:
        """Start a write transaction holding the store's write lock, so that positions
        and versions assigned in it cannot race another writer. Raises
        ``StoreBusyError`` if the lock cannot be had within the busy timeout.
        ``log_lock=False``: a transaction that appends nothing (a worker's batch) and
        need not wait for appenders, where the backend can tell the two apart."""

    def begin_read(self) -> None:
        """Start a read-only transaction: one consistent snapshot for several reads."""

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Roll back whatever is open; a no-op when nothing is (so it is always safe)."""

    def savepoint(self, name: str) -> None: ...

    def release(self, name: str) -> None: ...

    def rollback_to(self, name: str) -> None:
        """Undo everything since ``savepoint(name)`` and release it."""

    # --- the log ----------------------------------------------------------------------
    def insert_events(self, rows: Sequence[tuple[Any, ...]]) -> tuple[int, Sequence[int] | None]:
        """Insert rows (``INSERT_COLUMNS`` order) inside the write transaction, all or
        none; returns the position of the first (positions are consecutive) and, if the
        session ``fills_versions``, the rows' stored versions (else None: as given).
        A streamed batch (see ``Backend.stream_from``) may raise the error of a bad event
        while its rows are read: nothing of it must then stay inserted."""

    def head(self) -> int:
        """The newest position (0 for an empty log)."""

    def change_marker(self) -> int | None:
        """A number that changes whenever another connection commits, or ``None`` if the
        backend cannot tell cheaply (the kernel then re-reads what it cached)."""

    def violated_constraint(self, error: BaseException) -> str | None:
        """``"version"`` or ``"event_id"`` when ``error`` is a unique violation on the
        log's (workflow_id, version) or event_id; ``None`` otherwise."""

    def locked_projection_row(self, name: str) -> tuple[int, int, str] | None:
        """``(version, position, status)`` of a projection's ledger row, locked against
        other writers of that row until the transaction ends."""

    def try_session_lock(self, name: str) -> bool:
        """Take (or keep) a lock named ``name`` held for as long as this connection
        lives, without waiting; False if another connection holds it. Backends without
        such locks return True (their leases alone decide)."""

    def release_session_lock(self, name: str) -> None: ...

    # --- schema -----------------------------------------------------------------------
    def table_kind(self, name: str) -> str | None:
        """``"table"``, ``"view"`` or ``None`` (names compare case-insensitively)."""

    def drop(self, name: str, kind: str) -> None: ...

    def table_names(self) -> list[str]:
        """Every table and view of the store, the kernel's included, sorted."""

    def column_names(self, table: str) -> list[str]:
        """The table's columns in declaration order (empty if it does not exist)."""

    def schema_objects(self) -> list[tuple[str, str, str, str]]:
        """``(kind, name, table, definition)`` of every table, view, index and trigger,
        sorted: comparing two lists says whether two schemas are the same."""

    # --- scoped SQL (handlers, reactors, migrations, queries) ---------------------------
    def enter(self, scope: Scope) -> None:
        """From now on SQL runs on behalf of ``scope`` until :meth:`leave`."""

    def leave(self) -> None: ...

    @property
    def active_scope(self) -> Scope | None: ...

    def run(self, scope: Scope, sql: str, parameters: Any) -> Cursor:
        """Run ``sql`` as ``scope`` (which must be entered): writes outside its tables,
        transaction control and DDL outside migrations raise ``ProjectionAccessError``."""

    def run_many(self, scope: Scope, sql: str, rows: Iterable[Any]) -> Cursor: ...

    def split_script(self, script: str) -> list[str]: ...

    def limit_statements(self, seconds: float | None) -> None:
        """Abort any statement still running ``seconds`` from now (``None``: no limit),
        until the next call; used around handlers of projections with a time budget."""

    @property
    def raw(self) -> Any:
        """The driver's connection, for the application's own SQL inside its
        transaction (a facade composing plugins into an application's API); never
        handed to plugins."""

    def close(self) -> None: ...


class Backend(Protocol):
    """A database the store lives in: opens sessions and owns the kernel schema."""

    dialect: str
    # Batches of at least this many events reach ``insert_events`` prepared lazily
    # (``Registry.stream``), for a session that sends rows as it reads them; None: never.
    stream_from: int | None

    @property
    def target(self) -> str:
        """The path or URL (password removed), for messages."""

    @property
    def location(self) -> str:
        """What opens this store again: the path, or the URL including its schema."""

    def connect(self) -> Session: ...

    def storage_error(self, error: BaseException) -> Exception | None:
        """The typed error (``StorageError``) for a driver error that means the storage
        failed — disk full, a damaged file, a missing kernel table — or ``None`` for any
        other error, which then propagates as it is."""

    def ensure_schema(self, session: Session) -> None:
        """Create the kernel tables in a new database or check (and upgrade) an existing
        one's, inside the write lock."""

    def close(self) -> None: ...


INSERT_COLUMNS = (
    "workflow_id, event_type, role, step_id, component_id, status, payload, timestamp, "
    "version, event_id, metadata"
)
