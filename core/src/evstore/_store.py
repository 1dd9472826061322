"""``EventStore``: open a store, append, read, run transactions, manage projections."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _sqlite
from ._access import ScopedConnection
from ._declarations import Reactor
from ._envelope import ANY, COLUMNS, ExpectedVersion, NewEvent, RecordedEvent
from ._errors import (
    InvalidArgumentError,
    InvalidEventError,
    StoreClosedError,
    TransactionError,
    UnknownProjectionError,
)
from ._plugins import Hooks, PluginInfo, PluginSet, load_plugins
from ._projector import ConnectionScopes, Projector, head
from ._registry import DEFAULT_MAX_PAYLOAD_BYTES, Prepared, Registry
from ._transactions import Transaction, check_expected

DEFAULT_BUSY_TIMEOUT = 30.0
DEFAULT_MAX_REACTOR_DEPTH = 8


@dataclass(frozen=True)
class ProjectionStatus:
    """One row of ``store.projection_status()`` (and ``evstore status``)."""

    name: str
    version: int
    position: int
    lag: int
    status: str  # "ok" | "failing" | "not loaded"
    error: str | None
    plugin: str | None


class _ThreadState:
    """The connection of one thread (and process: a forked child opens its own)."""

    def __init__(self, scopes: ConnectionScopes, pid: int) -> None:
        self.scopes = scopes
        self.pid = pid
        self.transaction: Transaction | None = None


class EventStore:
    """An event log with plugin projections, on one SQLite file.

    Open it with :meth:`open`. It keeps one connection per thread, reused for every
    call on that thread; :meth:`close` closes them all.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: str = "full",
        plugins: Sequence[object] | None = None,
        autoload: bool | None = None,
        permissive: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_reactor_depth: int = DEFAULT_MAX_REACTOR_DEPTH,
        reactors: bool = True,
    ) -> None:
        self.path = _check_path_argument(path)
        self.durability = _check_choice("durability", durability, _sqlite.DURABILITY_PRAGMAS)
        self.busy_timeout = _check_number("busy_timeout", busy_timeout, minimum=0.0)
        self.max_reactor_depth = int(_check_number("max_reactor_depth", max_reactor_depth, minimum=1))
        max_payload = int(_check_number("max_payload_bytes", max_payload_bytes, minimum=1))
        for flag, value in (("permissive", permissive), ("reactors", reactors)):
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"{flag} must be True or False, got {value!r}")
        _sqlite.check_path(self.path)
        self._plugins: PluginSet = load_plugins(plugins, autoload)
        self._hooks = Hooks(self._plugins)
        self._registry = Registry(permissive=permissive, max_payload_bytes=max_payload)
        self._hooks.register_event_types(self._registry.add_event_type)
        self._hooks.register_projections(self._registry.add_projection)
        self._hooks.register_reactors(self._registry.add_reactor)
        self._registry.check_reactor_reads()
        self._projector = Projector(self._registry)
        self._reactors_by_type: dict[str, list[tuple[Reactor, PluginInfo]]] = {}
        # reactors=False is for replaying a log that already holds the follow-ups (an
        # import): running the reactors again would append them twice.
        for name in sorted(self._registry.reactors) if reactors else ():
            reactor, plugin = self._registry.reactors[name]
            for event_type in sorted(reactor.handles):
                self._reactors_by_type.setdefault(event_type, []).append((reactor, plugin))
        self._local = threading.local()
        self._all_states: list[_ThreadState] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            state = self._state()
            _sqlite.ensure_schema(state.scopes.conn, self.path)
            with _sqlite.write_lock(state.scopes.conn):
                self._projector.open_all(state.scopes)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> EventStore:
        """Open (or create) the store at ``path``. Options: ``durability`` ("full", the
        default: an acknowledged event survives power loss; "normal": it survives a
        process crash), ``plugins`` (explicit plugin objects), ``autoload`` (load
        installed plugins; default unless EVSTORE_DISABLE_PLUGIN_AUTOLOAD=1),
        ``permissive`` (store any event the envelope allows: undeclared types, missing
        required fields, payloads not matching their model), ``busy_timeout`` (seconds),
        ``max_payload_bytes``, ``max_reactor_depth`` and ``reactors`` (False: appends run
        no reactor, for importing a log that already holds their follow-ups)."""
        return cls(path, **options)

    # --- connections ---------------------------------------------------------------

    def _state(self) -> _ThreadState:
        state: _ThreadState | None = getattr(self._local, "state", None)
        if state is not None and state.pid == os.getpid():
            return state
        if self._closed:
            raise StoreClosedError(f"the store at {str(self.path)!r} is closed; open it again")
        conn, guard = _sqlite.connect(self.path, durability=self.durability, busy_timeout=self.busy_timeout)
        state = _ThreadState(ConnectionScopes(conn, guard, self._registry), os.getpid())
        self._local.state = state
        with self._lock:
            self._all_states.append(state)
        return state

    def close(self) -> None:
        """Close every connection of this store. Further calls raise ``StoreClosedError``."""
        self._closed = True
        with self._lock:
            states, self._all_states = self._all_states, []
        for state in states:
            if state.pid == os.getpid():
                state.scopes.conn.close()
        self._local = threading.local()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------

    def _prepare_batch(self, events: Sequence[Any], expected_version: Any) -> list[Prepared]:
        prepare = self._registry.prepare
        prepared = [prepare(event) for event in events]
        if len(prepared) > 1:
            if expected_version is not ANY and len({p[0] for p in prepared}) > 1:
                raise InvalidArgumentError(
                    "expected_version applies to one workflow, but this batch spans "
                    f"{sorted({p[0] for p in prepared})[:5]}; append each workflow separately"
                )
            if len({p[8] for p in prepared}) != len(prepared):
                raise InvalidEventError("two events of this batch have the same event_id")
        return prepared

    def append(self, event: NewEvent, *, expected_version: ExpectedVersion | int = ANY) -> int:
        """Append one event in its own transaction (or the thread's open one); returns
        its global position. ``expected_version`` guards against concurrent writers."""
        return self.append_many([event], expected_version=expected_version)[0]

    def append_many(
        self, events: Iterable[NewEvent], *, expected_version: ExpectedVersion | int = ANY
    ) -> list[int]:
        """Append events atomically (all or none); returns their positions in order."""
        batch = events if isinstance(events, list) else list(events)
        expected = check_expected(expected_version)
        prepared = self._prepare_batch(batch, expected)
        if not prepared:
            return []
        state = self._state()
        if state.transaction is not None:
            return state.transaction.append_prepared(batch, prepared, expected)
        with self._write(state) as tx:
            return tx.append_prepared(batch, prepared, expected)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Group appends atomically: all commit at the end of the block or none does.

        Nested on the same thread, the inner block is a SAVEPOINT: its failure undoes
        only its own appends and the error propagates to the outer block.
        """
        state = self._state()
        outer = state.transaction
        if outer is None:
            with self._write(state) as tx:
                yield tx
            return
        outer._usable()
        conn = state.scopes.conn
        saved = outer.snapshot()
        conn.execute("SAVEPOINT evstore_nested")
        try:
            yield outer
        except BaseException:
            conn.execute("ROLLBACK TO evstore_nested")
            conn.execute("RELEASE evstore_nested")
            outer.restore(saved)
            outer._failed = None
            raise
        conn.execute("RELEASE evstore_nested")

    @contextmanager
    def _write(self, state: _ThreadState) -> Iterator[Transaction]:
        conn = state.scopes.conn
        tx = Transaction(self, state.scopes)
        _sqlite.begin(conn)
        state.transaction = tx
        try:
            tx.start()
            yield tx
            committed = tx.finish()
            conn.execute("COMMIT")
        except BaseException:
            _sqlite.rollback(conn)
            state.scopes.known = None
            raise
        finally:
            tx.active = False
            state.transaction = None
        self._projector.committed(state.scopes, tx._live)
        if committed and self._hooks.has_after_commit:
            self._hooks.after_commit(self, committed)

    # --- reading --------------------------------------------------------------------

    def read(
        self,
        workflow_id: str,
        *,
        from_version: int | None = None,
        backwards: bool = False,
        types: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """One workflow's events by version: forwards from ``from_version`` (default 1),
        or backwards from it (default: the latest), optionally only ``types``."""
        if not isinstance(workflow_id, str) or not workflow_id:
            raise InvalidArgumentError(f"workflow_id must be a non-empty string, got {workflow_id!r}")
        clauses, params = ["workflow_id = ?"], [workflow_id]  # type: list[str], list[Any]
        if from_version is not None:
            _check_int("from_version", from_version, minimum=0)
            clauses.append("version <= ?" if backwards else "version >= ?")
            params.append(from_version)
        _type_filter(types, clauses, params)
        sql = (
            f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(clauses)} "
            f"ORDER BY version {'DESC' if backwards else 'ASC'}{_limit(limit, params)}"
        )
        return list(map(RecordedEvent, self._state().scopes.conn.execute(sql, params).fetchall()))

    def read_all(
        self, *, after: int = 0, limit: int | None = None, types: Iterable[str] | None = None
    ) -> list[RecordedEvent]:
        """The global log in position order, after position ``after``."""
        _check_int("after", after, minimum=0)
        clauses, params = ["id > ?"], [after]
        _type_filter(types, clauses, params)
        sql = f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY id{_limit(limit, params)}"
        return list(map(RecordedEvent, self._state().scopes.conn.execute(sql, params).fetchall()))

    def iter_all(
        self, *, after: int = 0, types: Iterable[str] | None = None, batch_size: int = 1000
    ) -> Iterator[RecordedEvent]:
        """Stream the whole log (or what follows ``after``) in constant memory."""
        _check_int("batch_size", batch_size, minimum=1)
        type_list = None if types is None else list(types)
        while True:
            page = self.read_all(after=after, limit=batch_size, types=type_list)
            yield from page
            if len(page) < batch_size:
                return
            after = page[-1].id

    def head(self) -> int:
        """The position of the newest event (0 for an empty log)."""
        return head(self._state().scopes.conn)

    def version(self, workflow_id: str) -> int:
        """The workflow's current version (0 if it has no events)."""
        if not isinstance(workflow_id, str) or not workflow_id:
            raise InvalidArgumentError(f"workflow_id must be a non-empty string, got {workflow_id!r}")
        row = self._state().scopes.conn.execute(
            "SELECT MAX(version) FROM events WHERE workflow_id = ?", (workflow_id,)
        ).fetchone()
        return int(row[0] or 0)

    @property
    def reader(self) -> ScopedConnection:
        """This thread's connection for read-only SQL on projection tables (inside an
        open transaction it sees that transaction's writes). Writes are refused."""
        return self._state().scopes.reader

    # --- plugins and projections ---------------------------------------------------------

    @property
    def plugins(self) -> list[PluginInfo]:
        return [self._plugins.infos[name] for name in sorted(self._plugins.infos)]

    @property
    def registry(self) -> Registry:
        return self._registry

    def has_projection(self, name: str) -> bool:
        """Whether a projection of that name is loaded in this store."""
        return name in self._registry.projections

    def projection_status(self) -> list[ProjectionStatus]:
        conn = self._state().scopes.conn
        current = head(conn)
        result = []
        for name, version, position, status, error in conn.execute(
            "SELECT name, version, position, status, error FROM evstore_projections ORDER BY name"
        ):
            registered = self._registry.projections.get(name)
            result.append(
                ProjectionStatus(
                    name, version, position, current - position,
                    status if registered else "not loaded", error,
                    registered.plugin.name if registered else None,
                )
            )
        return result

    def _names(self, names: Iterable[str] | None) -> list[str]:
        if names is None:
            return sorted(self._registry.projections)
        chosen = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in chosen if n not in self._registry.projections]
        if unknown:
            raise UnknownProjectionError(
                f"no loaded projection is named {', '.join(map(repr, unknown))}; loaded: "
                f"{', '.join(sorted(self._registry.projections)) or 'none'}. Check the name "
                "with `evstore status`, or load the plugin that provides it."
            )
        return chosen

    def catch_up(
        self, names: Iterable[str] | None = None, *, progress: Callable[[int], None] | None = None
    ) -> list[str]:
        """Replay what the named projections (default: all) have not applied yet, failing
        ones included. Returns the names that are still failing. ``progress(position)``
        is called every few thousand events (for progress bars)."""
        chosen = self._names(names)
        state = self._state()
        self._no_open_transaction(state)
        state.scopes.known = None  # positions and statuses change underneath
        with _sqlite.write_lock(state.scopes.conn):
            return self._projector.catch_up(state.scopes, chosen, progress)

    def rebuild(
        self, names: Iterable[str] | None = None, *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Drop and rebuild the named projections (default: all) from the whole log in
        one transaction. Returns the number of events replayed. ``progress(position)`` is
        called every few thousand events."""
        chosen = self._names(names)
        state = self._state()
        self._no_open_transaction(state)
        state.scopes.known = None  # positions and statuses change underneath
        with _sqlite.write_lock(state.scopes.conn):
            return self._projector.rebuild(state.scopes, chosen, progress)

    @contextmanager
    def snapshot(self) -> Iterator[ScopedConnection]:
        """Read several times from one consistent snapshot of the database.

        Outside a transaction each read is its own snapshot, so two reads may straddle
        another process's commit. Inside this block every read on this thread (the
        store's read methods and the yielded read-only connection) sees the database as
        it was when the block's first read ran. Inside an open write transaction it just
        yields (that transaction is already one snapshot).
        """
        state = self._state()
        conn = state.scopes.conn
        if state.transaction is not None or conn.in_transaction:
            yield state.scopes.reader
            return
        conn.execute("BEGIN DEFERRED")  # a read transaction: WAL keeps its snapshot stable
        try:
            yield state.scopes.reader
        finally:
            _sqlite.rollback(conn)

    def _no_open_transaction(self, state: _ThreadState) -> None:
        if state.transaction is not None:
            raise TransactionError("catch-up and rebuild cannot run inside store.transaction()")


def _check_path_argument(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path) or str(path) == ":memory:":
        raise InvalidArgumentError(
            f"path must be a file path (str or os.PathLike), got {path!r}; in-memory stores "
            "are not supported because each thread has its own connection"
        )
    return Path(path)


def _check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    if value not in choices:
        raise InvalidArgumentError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return str(value)


def _check_number(name: str, value: Any, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise InvalidArgumentError(f"{name} must be a number >= {minimum}, got {value!r}")
    return float(value)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an int >= {minimum}, got {value!r}")


def _limit(limit: int | None, params: list[Any]) -> str:
    if limit is None:
        return ""
    _check_int("limit", limit, minimum=0)
    params.append(limit)
    return " LIMIT ?"


def _type_filter(types: Iterable[str] | None, clauses: list[str], params: list[Any]) -> None:
    if types is None:
        return
    if isinstance(types, str):
        types = [types]
    names = list(types)
    if not names or not all(isinstance(t, str) and t for t in names):
        raise InvalidArgumentError(f"types must be a non-empty list of event type names, got {names!r}")
    clauses.append(f"event_type IN ({','.join('?' * len(names))})")
    params.extend(names)

