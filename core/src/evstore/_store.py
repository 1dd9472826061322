"""``EventStore``: open a store, append, read, run transactions, manage projections."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from ._access import ScopedConnection
from ._async import wait_for_projections
from ._backend import Backend
from ._declarations import Reactor
from ._envelope import ANY, COLUMNS, ExpectedVersion, NewEvent, RecordedEvent
from ._errors import (
    InvalidArgumentError,
    InvalidEventError,
    StoreClosedError,
    TransactionError,
    UnknownProjectionError,
)
from ._group import GroupCommit
from ._plugins import Hooks, PluginInfo, PluginSet, load_plugins
from ._projector import ConnectionScopes, Projector
from ._registry import DEFAULT_MAX_PAYLOAD_BYTES, Prepared, Registry
from ._replay import Maintenance
from ._store_parts import (
    ProjectionStatus,
    _Call,
    _check_workflow,
    _close_quietly,
    _limit,
    _names_or_env,
    _ThreadState,
    _type_filter,
    statuses,
)
from ._subscriptions import Subscription
from ._transactions import Transaction, check_expected
from ._validate import check_choice, check_int, check_number, open_backend

DEFAULT_BUSY_TIMEOUT = 30.0
ENV_ASYNC = "EVSTORE_ASYNC_PROJECTIONS"
ENV_INLINE = "EVSTORE_INLINE_PROJECTIONS"
DEFAULT_MAX_REACTOR_DEPTH = 8
DURABILITIES = ("full", "normal")


class EventStore:
    """An event log with plugin projections, on SQLite or PostgreSQL.

    Open it with :meth:`open`. It keeps one connection per thread, reused for every
    call on that thread; :meth:`close` closes them all.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        durability: str = "full",
        plugins: Sequence[object] | None = None,
        autoload: bool | None = None,
        permissive: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        max_reactor_depth: int = DEFAULT_MAX_REACTOR_DEPTH,
        reactors: bool = True,
        read_only: bool = False,
        async_projections: Iterable[str] | None = None,
        inline_projections: Iterable[str] | None = None,
        schema: str | None = None,
        pool_size: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        self.durability = check_choice("durability", durability, DURABILITIES)
        self.busy_timeout = check_number("busy_timeout", busy_timeout, minimum=0.0)
        self.max_reactor_depth = check_int("max_reactor_depth", max_reactor_depth, minimum=1)
        max_payload = check_int("max_payload_bytes", max_payload_bytes, minimum=1)
        for flag, value in (("permissive", permissive), ("reactors", reactors), ("read_only", read_only)):
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"{flag} must be True or False, got {value!r}")
        self.read_only = read_only
        self._backend: Backend = open_backend(
            target, durability=self.durability, busy_timeout=self.busy_timeout, read_only=read_only,
            schema=schema, pool_size=pool_size, pool_timeout=pool_timeout,
        )
        self.path: Path | None = getattr(self._backend, "path", None)
        self.dialect = self._backend.dialect
        self._plugins: PluginSet = load_plugins(plugins, autoload)
        self._hooks = Hooks(self._plugins)
        self._registry = Registry(permissive=permissive, max_payload_bytes=max_payload)
        self._hooks.register_event_types(self._registry.add_event_type)
        self._hooks.register_projections(self._registry.add_projection)
        self._hooks.register_reactors(self._registry.add_reactor)
        self._registry.check_reactor_reads()
        explicit = async_projections is not None or inline_projections is not None
        self._registry.decide_lifecycles(
            _names_or_env(async_projections, ENV_ASYNC), _names_or_env(inline_projections, ENV_INLINE),
            strict=explicit, reactors_run=reactors,
        )
        self._projector = Projector(self._registry)
        self._maintenance = Maintenance(self._projector)
        self._reactors_by_type: dict[str, list[tuple[Reactor, PluginInfo]]] = {}
        # reactors=False is for replaying a log that already holds the follow-ups (an
        # import): running the reactors again would append them twice.
        for name in sorted(self._registry.reactors) if reactors else ():
            reactor, plugin = self._registry.reactors[name]
            for event_type in sorted(reactor.handles):
                self._reactors_by_type.setdefault(event_type, []).append((reactor, plugin))
        # Who owns each table (loaded projections, and those recorded in the store), for
        # error messages that say whose table a plugin tried to write.
        self._table_owners: dict[str, str] = {
            table: self._registry.projections[name].describe() for table, name in self._registry.table_owners.items()
        }
        self._local = threading.local()
        self._states: weakref.WeakSet[_ThreadState] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False
        self._group = GroupCommit(self)
        try:
            with _Call(self) as state:
                self._backend.ensure_schema(state.session)
                if not read_only:
                    with self._locked(state):
                        self._maintenance.open_all(state.scopes, self._table_owners)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, target: str | os.PathLike[str], **options: Any) -> EventStore:
        """Open (or create) the store at ``target``: a SQLite file path, or a PostgreSQL
        URL (``postgresql://user@host:5432/db``; pick a schema with ``schema=`` or
        ``?options=-csearch_path%3Dname``).

        Options: ``durability`` ("full", the default: an acknowledged event survives
        power loss; "normal": it survives a process crash), ``plugins`` (explicit plugin
        objects), ``autoload`` (load installed plugins; default unless
        EVSTORE_DISABLE_PLUGIN_AUTOLOAD=1), ``permissive`` (store any event the envelope
        allows: undeclared types, missing required fields, payloads not matching their
        model), ``busy_timeout`` (seconds to wait for the write lock),
        ``max_payload_bytes``, ``max_reactor_depth``, ``reactors`` (False: appends run no
        reactor, for importing a log that already holds their follow-ups), ``read_only``
        (create, migrate and catch up nothing; every write raises
        ``StoreReadOnlyError``), and on PostgreSQL ``schema``, ``pool_size`` and
        ``pool_timeout``; ``async_projections`` / ``inline_projections`` (names whose
        lifecycle to override; default from EVSTORE_ASYNC_PROJECTIONS and
        EVSTORE_INLINE_PROJECTIONS, else each plugin's choice)."""
        return cls(target, **options)

    @property
    def target(self) -> str:
        """The SQLite path or the PostgreSQL URL and schema (without the password), for
        messages."""
        return self._backend.target

    @property
    def location(self) -> str:
        """What ``EventStore.open`` takes to open this same store again (the path, or
        the URL with its schema and credentials: do not log it, log ``target``)."""
        return self._backend.location

    # --- sessions ----------------------------------------------------------------------

    def _acquire(self) -> _ThreadState:
        """This thread's state, its lock held, for the duration of one store call."""
        state: _ThreadState | None = getattr(self._local, "state", None)
        if state is None or state.pid != os.getpid():
            state = self._new_state()
        state.lock.acquire()
        state.depth += 1
        if self._closed:
            self._release(state)
            raise StoreClosedError(f"the store at {self.target!r} is closed; open it again")
        if state.depth == 1 and state.transaction is None and not state.reading and state.session.in_transaction:
            # An interrupt (KeyboardInterrupt, SystemExit from a signal handler) landed
            # between BEGIN and the rollback that should have followed: end that
            # transaction now rather than write into it or hold its lock.
            state.session.rollback()
        return state

    def _release(self, state: _ThreadState) -> None:
        state.depth -= 1
        try:
            if state.depth == 0 and self._closed:
                _close_quietly(state.session)
        finally:
            state.lock.release()
        if state.depth == 0 and self._closed:
            self._close_backend_when_idle()

    def _new_state(self) -> _ThreadState:
        if self._closed:
            raise StoreClosedError(f"the store at {self.target!r} is closed; open it again")
        session = self._backend.connect()
        holder: list[_ThreadState] = []
        scopes = ConnectionScopes(
            session, self._registry, self._table_owners, lambda: self._reader_call(holder[0])
        )
        state = _ThreadState(session, scopes)
        holder.append(state)
        self._local.state = state
        with self._lock:
            self._states.add(state)
        # A thread that ends without closing leaves its state to the garbage collector:
        # close its connection then (idle by definition: its thread is gone).
        weakref.finalize(state, _close_quietly, session)
        return state

    def _reader_call(self, state: _ThreadState) -> Callable[[], None]:
        if threading.get_ident() != state.thread or state.pid != os.getpid():
            raise TransactionError(
                "store.reader belongs to the thread that got it; each thread reads through its "
                "own store.reader"
            )
        state.lock.acquire()
        state.depth += 1
        if self._closed:
            self._release(state)
            raise StoreClosedError(f"the store at {self.target!r} is closed; open it again")
        return partial(self._release, state)

    def close(self) -> None:
        """Close every connection of this store, from any thread. A thread inside a store
        call finishes it; its later calls raise ``StoreClosedError``."""
        self._closed = True
        with self._lock:
            states = list(self._states)
        me = threading.get_ident()
        for state in states:
            if state.pid != os.getpid() or (state.thread == me and state.depth > 0):
                continue  # a forked parent's, or ours mid-call: released at the call's end
            if state.lock.acquire(blocking=False):
                try:
                    if state.depth == 0:
                        _close_quietly(state.session)
                finally:
                    state.lock.release()
        self._close_backend_when_idle()

    def _close_backend_when_idle(self) -> None:
        """The backend (PostgreSQL's pool) closes once no thread is inside a call; the
        last thread to leave one closes it."""
        with self._lock:
            busy = any(state.depth for state in self._states if state.pid == os.getpid())
        if not busy:
            self._backend.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------

    def _prepare_batch(self, events: Sequence[Any], expected_version: Any) -> Sequence[Prepared]:
        # Prepared while the backend sends it (see Registry.stream), unless something
        # needs the whole batch first: an expected version's checks, before_append hooks
        # (promised validated events).
        stream_from = self._backend.stream_from
        if (
            stream_from is not None and len(events) >= stream_from and expected_version is ANY
            and not self._hooks.has_before_append
        ):
            return self._registry.stream(events)
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
        expected = expected_version if expected_version is ANY else check_expected(expected_version)
        if len(batch) == 1:  # store.append: no batch to check against itself
            prepared: Sequence[Prepared] = [self._registry.prepare(batch[0])]
        else:
            prepared = self._prepare_batch(batch, expected)
            if not prepared:
                return []
        with _Call(self) as state:
            if state.transaction is not None:
                return state.transaction.append_prepared(batch, prepared, expected)
            if threading.current_thread() is threading.main_thread():
                # Only the main thread receives signals, and a KeyboardInterrupt can land
                # in any bytecode, even a finally's: group commit's hand-over of the lead
                # cannot be made safe against that, and a lost hand-over stops every
                # later append. The main thread's own transaction heals itself at the
                # next BEGIN, so it appends alone; worker threads share commits.
                return self._append_alone(state, batch, prepared, expected)
            return self._group.append(state, batch, prepared, expected)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Group appends atomically: all commit at the end of the block or none does.

        Nested on the same thread, the inner block is a SAVEPOINT: its failure undoes
        only its own appends and the error propagates to the outer block.
        """
        state = self._acquire()
        try:
            outer = state.transaction
            if outer is None:
                with self._write(state) as tx:
                    yield tx
                return
            outer._usable()
            session = state.session
            saved = outer.snapshot()
            session.savepoint("evstore_nested")
            try:
                yield outer
            except BaseException:
                session.rollback_to("evstore_nested")
                outer.restore(saved)
                outer._failed = None
                raise
            session.release("evstore_nested")
        finally:
            self._release(state)

    @contextmanager
    def _write(self, state: _ThreadState) -> Iterator[Transaction]:
        """One write transaction: begin, the caller's appends, the projections' positions,
        commit; any exception at any point (KeyboardInterrupt included) rolls back.

        A generator: should an interrupt land in contextlib's own frames, closing the
        generator still runs the rollback and detaches the transaction."""
        tx = Transaction(self, state.scopes)
        # Attached with no call between here and the try: a signal's KeyboardInterrupt
        # is raised only where a call starts or returns, and one raised on the return of
        # a call before the try (BEGIN's, say) would leave a begun transaction attached to
        # the thread, where the next append would write into it and never commit.
        state.transaction = tx
        try:
            self._start_write(state, tx)
            yield tx
            committed = tx.finish()
            state.session.commit()
        except BaseException:
            state.scopes.known = None
            state.session.rollback()
            raise
        finally:
            state.transaction = None  # first: the object itself is dropped anyway
            tx.active = False
        self._after_write(state, tx, committed)

    def _append_alone(
        self, state: _ThreadState, batch: Sequence[NewEvent], prepared: Sequence[Prepared],
        expected: ExpectedVersion | int,
    ) -> list[int]:
        """``_write`` around one ``append_prepared``, without a generator and contextlib
        per append; the same order of attaching, trying and detaching (see ``_write``)."""
        tx = Transaction(self, state.scopes)
        state.transaction = tx
        try:
            self._start_write(state, tx)
            positions = tx.append_prepared(batch, prepared, expected)
            committed = tx.finish()
            state.session.commit()
        except BaseException:
            state.scopes.known = None
            state.session.rollback()
            raise
        finally:
            state.transaction = None
            tx.active = False
        self._after_write(state, tx, committed)
        return positions

    @staticmethod
    def _start_write(state: _ThreadState, tx: Transaction) -> None:
        # Inside the caller's try: an interrupt landing right after BEGIN must still
        # reach its rollback, or the write lock would stay held.
        state.session.begin_write()
        tx.start()

    def _after_write(self, state: _ThreadState, tx: Transaction, committed: list[RecordedEvent]) -> None:
        self._projector.committed(state.scopes, tx._live)
        if committed and self._hooks.has_after_commit:
            self._hooks.after_commit(self, committed)

    @contextmanager
    def _locked(self, state: _ThreadState) -> Iterator[None]:
        """The write lock for maintenance (open, catch-up, rebuild): all or nothing."""
        session = state.session
        state.scopes.known = None  # positions and statuses change underneath
        try:
            session.begin_write()
            yield
            session.commit()
        except BaseException:
            session.rollback()
            raise

    # --- reading --------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with _Call(self) as state:
            return state.session.execute(sql, params).fetchall()

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
        _check_workflow(workflow_id)
        clauses, params = ["workflow_id = ?"], [workflow_id]  # type: list[str], list[Any]
        if from_version is not None:
            check_int("from_version", from_version, minimum=0)
            clauses.append("version <= ?" if backwards else "version >= ?")
            params.append(from_version)
        _type_filter(types, clauses, params)
        sql = (
            f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(clauses)} "
            f"ORDER BY version {'DESC' if backwards else 'ASC'}{_limit(limit, params)}"
        )
        return list(map(RecordedEvent, self._query(sql, params)))

    def read_all(
        self, *, after: int = 0, limit: int | None = None, types: Iterable[str] | None = None
    ) -> list[RecordedEvent]:
        """The global log in position order, after position ``after``."""
        check_int("after", after, minimum=0)
        clauses, params = ["id > ?"], [after]
        _type_filter(types, clauses, params)
        sql = f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY id{_limit(limit, params)}"
        return list(map(RecordedEvent, self._query(sql, params)))

    def iter_all(
        self, *, after: int = 0, types: Iterable[str] | None = None, batch_size: int = 1000
    ) -> Iterator[RecordedEvent]:
        """Stream the whole log (or what follows ``after``) in constant memory."""
        check_int("batch_size", batch_size, minimum=1)
        type_list = None if types is None else list(types)
        while True:
            page = self.read_all(after=after, limit=batch_size, types=type_list)
            yield from page
            if len(page) < batch_size:
                return
            after = page[-1].id

    def head(self) -> int:
        """The position of the newest event (0 for an empty log)."""
        with _Call(self) as state:
            return state.session.head()

    def version(self, workflow_id: str) -> int:
        """The workflow's current version (0 if it has no events)."""
        _check_workflow(workflow_id)
        return int(self._query("SELECT MAX(version) FROM events WHERE workflow_id = ?", (workflow_id,))[0][0] or 0)

    @property
    def reader(self) -> ScopedConnection:
        """This thread's connection for read-only SQL on projection tables (inside an
        open transaction it sees that transaction's writes). Writes are refused; it
        belongs to the thread that got it."""
        with _Call(self) as state:
            return state.scopes.reader

    @contextmanager
    def snapshot(self) -> Iterator[ScopedConnection]:
        """Read several times from one consistent snapshot of the database.

        Outside a transaction each read is its own snapshot, so two reads may straddle
        another process's commit. Inside this block every read on this thread (the
        store's read methods and the yielded read-only connection) sees the database as
        it was when the block's first read ran. Inside an open write transaction it just
        yields (that transaction is already one snapshot).
        """
        state = self._acquire()
        try:
            session = state.session
            if state.transaction is not None or state.reading:
                yield state.scopes.reader
                return
            state.reading = True
            try:
                session.begin_read()
                yield state.scopes.reader
            finally:
                state.reading = False
                session.rollback()
        finally:
            self._release(state)

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
        """Every projection recorded in the store: version, position, lag (in events
        and seconds), status, lifecycle here, and the worker leading an async one."""
        with _Call(self) as state:
            return statuses(state.session, self._registry, self._projector)

    def wait_for(
        self, position: int, *, projections: Iterable[str] | None = None, timeout: float = 30.0
    ) -> None:
        """Return once the projections (default: all loaded) have applied every event up
        to ``position`` (what an append returned): read-your-writes for async ones.
        Raises ``WaitTimeoutError`` after ``timeout`` seconds, or at once
        ``ProjectionFailedError`` if one of them is failing before reaching it, and
        ``TransactionError`` inside ``store.transaction()`` (nothing in it is committed)."""
        check_int("position", position, minimum=0)
        check_number("timeout", timeout, minimum=0.0)
        names = self._names(projections)
        if self._in_transaction():
            # Positions are recorded at commit, and this transaction holds the write
            # lock a worker's batch needs: the wait could only run out its timeout.
            raise TransactionError(
                "wait_for cannot run inside store.transaction(): what was appended in it is not "
                "committed (nor applied) until the block ends. Call it after the `with` block."
            )
        wait_for_projections(self, position, names, timeout)

    def subscribe(
        self, name: str, *, types: Iterable[str] | None = None, after: int = 0, batch_size: int = 100
    ) -> Subscription:
        """The durable consumer ``name`` (created at ``after``, at most the head, if new),
        reading events of ``types`` (default: all; unless the store is permissive, each
        must be declared by a loaded plugin); see :class:`evstore.Subscription`."""
        return Subscription(self, name, types=types, after=after, batch_size=batch_size)

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
        is called after each batch of replayed events (for progress bars)."""
        chosen = self._names(names)
        with _Call(self) as state:
            self._no_transaction(state)
            with self._locked(state):
                return self._maintenance.catch_up(state.scopes, chosen, progress)

    def rebuild(
        self, names: Iterable[str] | None = None, *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Drop and rebuild the named projections (default: all) from the whole log in
        one transaction. Returns the number of events replayed. ``progress(position)`` is
        called after each batch of replayed events."""
        chosen = self._names(names)
        with _Call(self) as state:
            self._no_transaction(state)
            with self._locked(state):
                return self._maintenance.rebuild(state.scopes, chosen, progress)

    def _change_marker(self) -> int | None:
        with _Call(self) as state:
            return state.session.change_marker()

    def _in_transaction(self) -> bool:
        """Whether the calling thread is inside ``store.transaction()``."""
        with _Call(self) as state:
            return state.transaction is not None

    @staticmethod
    def _no_transaction(state: _ThreadState) -> None:
        if state.transaction is not None:
            raise TransactionError("catch-up and rebuild cannot run inside store.transaction()")
