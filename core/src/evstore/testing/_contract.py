"""``ProjectionContract``: what every projection must do, as tests it inherits.

A plugin's test module subclasses it, says which plugins to load, which projection to
check and how to generate valid event sequences, and pytest runs the checks below on
it. Each check opens fresh stores in a temporary folder per hypothesis example.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from .._declarations import EventType, Handler, Migration, Projection
from .._envelope import NewEvent, RecordedEvent
from .._errors import ProjectionConflictError, ProjectionError, ProjectionFailedError, ReactorError
from .._replay import replay_batches_of
from .._store import EventStore
from ..hookspecs import hookimpl
from ._backends import TargetFactory
from ._proxy import with_wrapped_handlers
from ._tables import Snapshot, all_tables, projection_position, projection_tables, schema_of, snapshot_tables

UNKNOWN_EVENT_TYPE = "evstore_testing_unknown_event_type"
RIVAL_EVENT_TYPE = "evstore_testing_rival_event"


class DeliberateHandlerError(RuntimeError):
    """Raised by the contract right after a projection handler wrote its rows."""


class _RollBack(Exception):
    """Leaves a ``store.transaction()`` block so that it rolls back."""


# The checks whose outcome no replay batch size changes: they replay nothing, or nothing
# the others do not cover (see ``replay_checks_only``).
_CHECKS_THAT_REPLAY_NOTHING = (
    "test_migrations_apply_twice_cleanly",
    "test_redelivered_event_changes_nothing",
    "test_unknown_event_types_are_ignored",
    "test_writes_only_its_declared_tables",
    "test_position_advances_with_its_rows",
    "test_upgrade_from_the_previous_version_equals_a_rebuild",
    "test_tables_of_an_unloaded_owner_are_refused",
)


class ProjectionContract:
    """Inherit the checks every projection must pass.

    ::

        class TestTodosContract(ProjectionContract):
            plugins = [evstore_todos]            # plugin modules or objects to load
            projection_name = "todos"            # the projection under test
            events = st.lists(todo_events())     # valid event sequences (hypothesis)

    Attributes a subclass sets:

    - ``plugins``: every plugin the events need (the one providing the projection, and
      those declaring the event types it handles). Loaded explicitly, autoload off.
    - ``projection_name``: the projection checked.
    - ``events``: a hypothesis strategy of lists of ``NewEvent`` that form a valid
      history (every append succeeds); :mod:`evstore.testing.strategies` has builders.
    - ``permissive`` (default False): open stores accepting undeclared event types,
      for projections handling types that none of ``plugins`` declares.
    - ``max_examples`` (default 25): hypothesis examples per check.
    - ``store_options``: more ``EventStore.open`` options.
    - ``previous_plugins``: the plugins as the last release shipped them (or override
      :meth:`make_previous_plugins`), for the upgrade check: a store they built, opened
      with today's plugins, must hold what a rebuild gives. Left unset, that check is
      skipped and says so.
    - ``replay_batch_size`` (default None: the kernel's own): replays (rebuild, catch-up)
      read this many events at a time in every check, so a subclass with a small size
      runs the checks again across batch boundaries.
    - ``replay_checks_only`` (default False): set in such a subclass, it leaves out the
      checks that replay nothing (they run once, in the class it extends).

    To leave a check out, set it to ``None`` in the subclass (``test_... = None``) and
    say why in a comment.
    """

    plugins: ClassVar[Sequence[object]] = ()
    projection_name: ClassVar[str] = ""
    events: ClassVar[st.SearchStrategy[list[NewEvent]]]
    permissive: ClassVar[bool] = False
    max_examples: ClassVar[int] = 25
    store_options: ClassVar[Mapping[str, Any]] = {}
    previous_plugins: ClassVar[Sequence[object] | None] = None
    replay_batch_size: ClassVar[int | None] = None
    replay_checks_only: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("replay_checks_only"):
            for name in _CHECKS_THAT_REPLAY_NOTHING:
                setattr(cls, name, None)

    @pytest.fixture(autouse=True)
    def _evstore_targets(self, evstore_target_factory: TargetFactory) -> Iterator[None]:
        """Under pytest, each check runs once per chosen backend (``--evstore-backend``),
        its stores in that backend's targets; called directly, on SQLite."""
        self._targets = evstore_target_factory
        yield
        self._targets = None

    # --- the checks ---------------------------------------------------------------------

    def test_migrations_apply_twice_cleanly(self) -> None:
        """Reopening a store applies no migration again and changes no row; a rebuild
        drops and recreates the tables with the same schema and ledger."""

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            with self._folder() as folder:
                with closing(self.open_store(folder)) as store:
                    declared = projection_tables(store, self.projection_name)
                    schema = schema_of(store, declared)
                    ledger = self._ledger(store)
                    projection = store.registry.projections[self.projection_name].projection
                    expected = [migration.name for migration in projection.migrations]
                    assert ledger == expected, f"the migration ledger lists {ledger}; the projection has {expected}"
                    self._append_in_batches(store, history, data)
                    self._assert_ok(store)
                    rows = self.rows(store)
                with closing(self.open_store(folder)) as store:
                    assert schema_of(store, declared) == schema, "reopening the store changed the projection's schema"
                    assert self._ledger(store) == ledger, "reopening the store applied migrations again"
                    assert self.rows(store) == rows, "reopening the store changed the projection's rows"
                    self._assert_ok(store)
                    store.rebuild([self.projection_name])
                    assert schema_of(store, declared) == schema, "a rebuild recreated the tables differently"
                    assert self._ledger(store) == ledger, "a rebuild recorded different migrations"
                    assert self.rows(store) == rows, "a rebuild changed the rows"

        self._for_each_history(check)

    def test_rebuild_from_zero_equals_incremental(self) -> None:
        """After any valid history, ``store.rebuild()`` reproduces the rows that live
        appends built, row for row (handlers take everything from events, nothing from
        the clock or randomness)."""

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            with self._folder() as folder, closing(self.open_store(folder)) as store:
                self._append_in_batches(store, history, data)
                self._assert_ok(store)
                incremental = self.rows(store)
                store.rebuild([self.projection_name])
                assert self.rows(store) == incremental, "rebuilding from the log gave different rows"
                assert projection_position(store, self.projection_name) == (store.head(), "ok")

        self._for_each_history(check)

    def test_rebuild_applies_the_batch_handler_without_falling_back(self) -> None:
        """A projection with a batch handler (``on_batch``): a rebuild after any valid
        history, its log cut into batches of any size, applies every batch through it,
        never falling back to the per-event handlers, and gives the rows live appends built. (The kernel re-applies a
        batch event by event when the batch handler raises, which would otherwise hide
        a batch handler that always fails: here the per-event handlers raise.)"""
        with self._folder() as folder, closing(self.open_store(folder)) as probe:
            if probe.registry.projections[self.projection_name].projection.batch_handler is None:
                pytest.skip(f"{self.projection_name!r} has no batch handler")

        def refuse(event_type: str, handler: Handler) -> Handler:
            def refusing(db: Any, event: RecordedEvent) -> None:
                raise DeliberateHandlerError(
                    f"evstore.testing: the rebuild fell back to the per-event handler of {event_type!r}"
                )

            return refusing

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            # Any batch size: a short history in one batch never shows a handler that
            # forgets the rows earlier batches wrote.
            size = data.draw(st.integers(min_value=1, max_value=max(1, len(history))), label="replay batch size")
            with self._folder() as folder:
                with closing(self.open_store(folder)) as store:
                    self._append_in_batches(store, history, data)
                    incremental = self.rows(store)
                plugins = with_wrapped_handlers(self.make_plugins(), self.projection_name, refuse)
                with closing(self.open_store(folder, plugins=plugins)) as store, replay_batches_of(size):
                    try:
                        store.rebuild([self.projection_name])
                    except ProjectionError as error:
                        raise AssertionError(
                            f"the rebuild fell back from the batch handler to the per-event ones: {error}"
                        ) from error
                    assert self.rows(store) == incremental, "the batch handler gave other rows than live appends"

        self._for_each_history(check)

    def test_redelivered_event_changes_nothing(self) -> None:
        """Appending an event again (same ``event_id``: a retry after a lost
        acknowledgement) returns its original position and changes no row."""

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            assume(history)
            with self._folder() as folder, closing(self.open_store(folder)) as store:
                positions = self._append_in_batches(store, history, data)
                rows, head = self.rows(store), store.head()
                index = data.draw(st.integers(min_value=0, max_value=len(history) - 1), label="redelivered")
                assert store.append(history[index]) == positions[index]
                assert store.append_many(history[index:]) == positions[index:]
                assert store.head() == head, "a redelivered event was stored again"
                assert self.rows(store) == rows, "a redelivered event changed the projection's rows"

        self._for_each_history(check)

    def test_unknown_event_types_are_ignored(self) -> None:
        """In a permissive store, events of a type no plugin declares (written by a newer
        plugin, say) leave the tables as they were and the projection healthy."""

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            with self._folder() as folder, closing(self.open_store(folder, permissive=True)) as store:
                self._append_in_batches(store, history, data)
                rows = self.rows(store)
                for template in history[-3:] or [NewEvent(workflow_id="wf-1", event_type=UNKNOWN_EVENT_TYPE)]:
                    store.append(
                        NewEvent(
                            workflow_id=template.workflow_id, event_type=UNKNOWN_EVENT_TYPE,
                            role=template.role, step_id=template.step_id, component_id=template.component_id,
                            status=template.status, payload=template.payload, timestamp=template.timestamp,
                        )
                    )
                assert self.rows(store) == rows, f"an event of unknown type {UNKNOWN_EVENT_TYPE!r} changed rows"
                self._assert_ok(store)
                assert projection_position(store, self.projection_name)[0] == store.head()

        self._for_each_history(check)

    def test_events_not_matching_their_model_never_fail_it(self) -> None:
        """Events a permissive store kept although they are not what their declared type
        promises (a required envelope field missing, a payload the model refuses: stored
        by the supervisor facade, raw SQL or an import) never mark the projection
        failing, and a rebuild gives the rows the live appends gave: the handler projects
        what it can, or the kernel skips the event for it."""

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            with self._folder() as folder, closing(self.open_store(folder, permissive=True)) as store:
                self._append_in_batches(store, history, data)
                declared = store.registry.event_types
                for template in history[-4:]:
                    if template.event_type not in declared:
                        continue
                    for payload in ({}, {key: [None] for key in dict(template.payload)}):
                        envelope = {"role": template.role, "step_id": template.step_id,
                                    "component_id": template.component_id, "status": template.status}
                        event_type = declared[template.event_type][0]
                        for name in event_type.requires:
                            envelope[name] = None
                        if event_type.refusal(envelope, payload) is None:
                            continue  # what its type promises: the other checks cover it
                        store.append(NewEvent(
                            workflow_id=template.workflow_id, event_type=template.event_type,
                            role=envelope["role"], step_id=envelope["step_id"],
                            component_id=envelope["component_id"], status=envelope["status"],
                            payload=payload, timestamp=template.timestamp,
                        ))
                self._assert_ok(store)
                incremental = self.rows(store)
                store.rebuild([self.projection_name])
                assert self.rows(store) == incremental, "rebuilding events that miss their model gave other rows"

        self._for_each_history(check)

    def test_writes_only_its_declared_tables(self) -> None:
        """While a handler runs, no other table (another projection's, the log, the
        kernel's) and no schema object outside its own tables changes."""
        violations: list[str] = []

        def watch(event_type: str, handler: Handler) -> Handler:
            def watched(db: Any, event: RecordedEvent) -> None:
                declared = {t.lower() for t in self._declared}
                others = [t for t in all_tables(db) if t.lower() not in declared]
                schema, before = schema_of(db), snapshot_tables(db, others)
                handler(db, event)
                outside = [o for o in schema_of(db) if str(o[2]).lower() not in declared]
                if outside != [o for o in schema if str(o[2]).lower() not in declared]:
                    violations.append(f"handler for {event_type!r} changed the schema outside its tables")
                changed = [t for t, rows in snapshot_tables(db, others).items() if rows != before[t]]
                if changed:
                    violations.append(f"handler for {event_type!r} changed tables it does not declare: {changed}")

            return watched

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            violations.clear()
            plugins = with_wrapped_handlers(self.make_plugins(), self.projection_name, watch)
            with self._folder() as folder, closing(self.open_store(folder, plugins=plugins)) as store:
                self._declared = projection_tables(store, self.projection_name)
                self._append_in_batches(store, history, data)
                self._assert_ok(store)
                assert not violations, "; ".join(violations)

        self._for_each_history(check)

    def test_position_advances_with_its_rows(self) -> None:
        """The projection's rows and its recorded position change in the appending
        transaction: another connection sees both before or both after the commit, and
        a rollback takes back both."""

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            assume(history)
            split = data.draw(st.integers(min_value=0, max_value=len(history) - 1), label="split")
            with self._folder() as folder, closing(self.open_store(folder)) as store:
                self._append_in_batches(store, history[:split], data)
                rows, position, head = self.rows(store), self._position(store), store.head()
                with closing(self._observer(store)) as observer:
                    try:
                        with store.transaction():
                            self._append_in_batches(store, history[split:], data)
                            assert self.rows(observer) == rows, "rows were visible before the commit"
                            assert self._position(observer) == position, "the position moved before the commit"
                            raise _RollBack
                    except _RollBack:
                        pass
                    assert (self.rows(store), self._position(store), store.head()) == (rows, position, head), (
                        "a rolled-back transaction left rows, position or events behind"
                    )
                    with store.transaction():
                        self._append_in_batches(store, history[split:], data)
                    self._assert_ok(store)
                    assert self._position(observer) == store.head(), "the position did not advance with the commit"
                    assert self.rows(observer) == self.rows(store), "another connection sees different rows"

        self._for_each_history(check)

    def test_handler_error_leaves_no_partial_rows(self) -> None:
        """A handler that raises after writing leaves none of its rows: the projection is
        marked failing at the event before (or, if strict, the append is rejected), and
        once the error is gone a catch-up brings it to what a rebuild gives."""
        armed: set[str] = set()

        def sabotage(event_type: str, handler: Handler) -> Handler:
            def failing_after_writing(db: Any, event: RecordedEvent) -> None:
                handler(db, event)
                if event.event_id in armed:
                    raise DeliberateHandlerError(f"evstore.testing: deliberate failure after handling {event_type!r}")

            return failing_after_writing

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            armed.clear()
            plugins = with_wrapped_handlers(self.make_plugins(), self.projection_name, sabotage)
            with self._folder() as folder, closing(self.open_store(folder, plugins=plugins)) as store:
                projection = store.registry.projections[self.projection_name].projection
                handled = [i for i, event in enumerate(history) if event.event_type in projection.handled_types]
                assume(handled)
                index = data.draw(st.sampled_from(handled), label="failing event")
                self._append_in_batches(store, history[:index], data)
                rows, head = self.rows(store), store.head()
                armed.add(_canonical_id(history[index]))
                try:
                    store.append(history[index])
                except (ProjectionFailedError, ReactorError) as error:
                    note(f"append rejected: {error}")
                    if not isinstance(error, ProjectionFailedError):
                        assert not projection.strict
                    assert store.head() == head, "a rejected append stored events"
                    assert self.rows(store) == rows, "a rejected append left rows behind"
                    armed.clear()
                    return
                assert not projection.strict, "a strict projection's error must reject the append"
                assert self.rows(store) == rows, "the failing handler's rows were kept"
                assert projection_position(store, self.projection_name) == (head, "failing")
                armed.clear()
                assert store.catch_up([self.projection_name]) == [], "catch-up failed once the error was gone"
                caught_up = self.rows(store)
                store.rebuild([self.projection_name])
                assert self.rows(store) == caught_up, "catch-up after a failure differs from a rebuild"

        self._for_each_history(check)

    def test_upgrade_from_the_previous_version_equals_a_rebuild(self) -> None:
        """A store built by the previous release of the plugins (``previous_plugins``),
        opened with today's, holds the rows a rebuild gives. Catches a migration that
        changes what rows hold (a new column filled by the handlers) without a version
        bump: the kernel then only migrates, and the old rows keep the old meaning."""
        previous = self.make_previous_plugins()
        if previous is None:
            pytest.skip(f"{type(self).__name__} sets no previous_plugins, so upgrades are not checked")

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            with self._folder() as folder:
                with closing(self.open_store(folder, plugins=previous)) as old:
                    self._append_in_batches(old, history, data)
                    old_version = self._assert_ok(old, "the previous version")
                with closing(self.open_store(folder)) as store:
                    self._assert_ok(store)
                    upgraded = self.rows(store)
                    store.rebuild([self.projection_name])
                    version = store.registry.projections[self.projection_name].projection.version
                    assert self.rows(store) == upgraded, (
                        f"a store built by the previous version (v{old_version}) and opened with v{version} "
                        "holds rows that differ from a rebuild: the new version changes what rows hold, so bump "
                        "the projection's version (the kernel then rebuilds it on open)"
                    )

        self._for_each_history(check)

    def test_tables_of_an_unloaded_owner_are_refused(self) -> None:
        """Once a store records the projection's tables, they stay its own while its
        plugin is not loaded (uninstalled, or disabled with EVSTORE_DISABLE_PLUGINS): a
        projection of another plugin declaring one of them is refused at open, one writing
        it is refused naming the owner, and the rows are as they were when the owner
        comes back."""

        def check(history: list[NewEvent], data: st.DataObject) -> None:
            tables = self._declared_tables()
            if not tables:
                return  # a projection without tables has nothing another could take over
            with self._folder() as folder:
                with closing(self.open_store(folder)) as store:
                    self._append_in_batches(store, history, data)
                    rows, location = self.rows(store), store.location
                table = data.draw(st.sampled_from(tables), label="table taken over")
                try:
                    EventStore.open(location, plugins=[_Rival(claims=table)], autoload=False).close()
                except ProjectionConflictError as error:
                    assert repr(self.projection_name) in str(error), f"the refusal does not name the owner: {error}"
                else:
                    raise AssertionError(
                        f"a projection of another plugin claimed table {table!r} while {self.projection_name!r} "
                        "was not loaded, and the store accepted it"
                    )
                with closing(EventStore.open(location, plugins=[_Rival(writes=table)], autoload=False)) as rival:
                    rival.append(NewEvent(workflow_id="wf-rival", event_type=RIVAL_EVENT_TYPE))
                    [status] = [s for s in rival.projection_status() if s.name == _Rival.name]
                    assert status.status == "failing", f"a handler of another plugin wrote table {table!r}"
                    owner = f"belongs to projection {self.projection_name!r}"
                    assert owner in str(status.error), f"the refusal does not say whose table it is: {status.error}"
                with closing(self.open_store(folder)) as store:
                    assert self.rows(store) == rows, "the projection's tables changed while it was not loaded"

        # The refusal does not depend on the rows, only on their being there: a few
        # histories are enough, and each example opens four stores.
        self._for_each_history(check, max_examples=min(5, self.max_examples))

    # --- what subclasses may override ---------------------------------------------------

    def make_plugins(self) -> list[object]:
        """The plugins for one store; override to build fresh plugin objects per store."""
        return list(self.plugins)

    def make_previous_plugins(self) -> list[object] | None:
        """The plugins of the previous release, for the upgrade check (None: skip it)."""
        return None if self.previous_plugins is None else list(self.previous_plugins)

    def open_store(self, folder: Path, *, plugins: Sequence[object] | None = None, **options: Any) -> EventStore:
        """Open the store the checks use (autoload off, durability "normal")."""
        chosen: dict[str, Any] = {
            "autoload": False, "durability": "normal", "permissive": self.permissive, **self.store_options, **options
        }
        store = EventStore.open(
            self._target(folder), plugins=self.make_plugins() if plugins is None else list(plugins), **chosen
        )
        if not store.has_projection(self.projection_name):
            loaded = ", ".join(sorted(store.registry.projections)) or "none"
            store.close()
            raise AssertionError(
                f"no projection named {self.projection_name!r} is loaded by {type(self).__name__}.plugins "
                f"(loaded: {loaded})"
            )
        return store

    def rows(self, source: EventStore) -> Snapshot:
        """The projection's state: every row of every table it declares."""
        tables = self._declared_tables()
        return snapshot_tables(source, tables)

    # --- helpers --------------------------------------------------------------------------

    _declared: tuple[str, ...] = ()
    _targets: TargetFactory | None = None

    def _target(self, folder: Path) -> str:
        """The store of one example: a file in its folder, or a schema named after it."""
        if self._targets is None or self._targets.backend == "sqlite":
            return str(folder / "contract.db")
        return self._targets(folder.name)

    def _observer(self, store: EventStore) -> EventStore:
        """A second, read-only store on the same database: what another process sees."""
        return EventStore.open(store.location, autoload=False, read_only=True)

    def _declared_tables(self) -> tuple[str, ...]:
        if not self._declared:
            with self._folder() as folder, closing(self.open_store(folder)) as store:
                self._declared = projection_tables(store, self.projection_name)
        return self._declared

    def _for_each_history(
        self, check: Callable[[list[NewEvent], st.DataObject], None], *, max_examples: int | None = None
    ) -> None:
        if not self.projection_name or not hasattr(self, "events"):
            raise TypeError(
                f"{type(self).__name__} must set projection_name and events (a hypothesis strategy of "
                "lists of NewEvent) to use ProjectionContract"
            )

        @settings(
            max_examples=self.max_examples if max_examples is None else max_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(history=self.events, data=st.data())
        def run(history: list[NewEvent], data: st.DataObject) -> None:
            if self.replay_batch_size is None:
                check(list(history), data)
                return
            with replay_batches_of(self.replay_batch_size):
                check(list(history), data)

        run()

    @staticmethod
    @contextmanager
    def _folder() -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="evstore-contract-") as folder:
            yield Path(folder)

    @staticmethod
    def _append_in_batches(store: EventStore, events: Sequence[NewEvent], data: st.DataObject) -> list[int]:
        """Append in batches of drawn sizes: handlers see events alone and several to a
        transaction. Returns the positions."""
        positions: list[int] = []
        start = 0
        while start < len(events):
            size = data.draw(st.integers(min_value=1, max_value=4), label="batch size")
            positions.extend(store.append_many(events[start:start + size]))
            start += size
        return positions

    def _assert_ok(self, store: EventStore, which: str = "") -> int:
        """Fails unless the projection is ok; returns its recorded version."""
        for status in store.projection_status():
            if status.name == self.projection_name:
                assert status.status == "ok", (
                    f"projection {self.projection_name!r}{f' ({which})' if which else ''} failed on a valid "
                    f"history: {status.error}"
                )
                return status.version
        raise AssertionError(f"projection {self.projection_name!r} is not loaded")

    def _ledger(self, store: EventStore) -> list[str]:
        rows = store.reader.fetchall(
            "SELECT name FROM evstore_migrations WHERE projection = ?", (self.projection_name,)
        )
        # In declaration order, the order the kernel applies them in.
        declared = [m.name for m in store.registry.projections[self.projection_name].projection.migrations]
        names = [row[0] for row in rows]
        return sorted(names, key=lambda name: declared.index(name) if name in declared else len(declared))

    def _position(self, source: EventStore) -> int:
        found = source.reader.fetchone(
            "SELECT position FROM evstore_projections WHERE name = ?", (self.projection_name,)
        )
        return int(found[0])


class _Rival:
    """Another plugin's projection, for the ownership check: it declares ``claims`` as
    its own table, or declares a table of its own and writes ``writes`` from a handler."""

    evstore_plugin_name = "evstore_testing_rival"
    name = "evstore_testing_rival"

    def __init__(self, *, claims: str | None = None, writes: str | None = None) -> None:
        self.claims, self.writes = claims, writes

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType(RIVAL_EVENT_TYPE))

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        table = self.claims or "kit_rival_rows"
        rival = Projection(
            self.name, tables=[table], migrations=[Migration("1", f'CREATE TABLE IF NOT EXISTS "{table}" (n INTEGER)')]
        )
        target = self.writes

        @rival.on(RIVAL_EVENT_TYPE)
        def take_over(db: Any, event: RecordedEvent) -> None:
            if target is not None:
                db.execute(f'DELETE FROM "{target}"')

        register(rival)


def _canonical_id(event: NewEvent) -> str:
    return str(uuid.UUID(str(event.event_id)))
