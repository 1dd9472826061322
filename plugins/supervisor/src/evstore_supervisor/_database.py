"""``Database``: the original supervisor's API on an evstore ``EventStore``.

The store holds everything: the facade adds no storage of its own. Reads go to the
plugins' query functions, and every write is an event appended through the kernel, so
``rebuild_projections()`` reproduces every table.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import evstore_checkpoints
import evstore_features
import evstore_graph
import evstore_metrics
import evstore_steps
import evstore_workflows
from evstore import ANY, EventStore, ExpectedVersion

from . import _plugin, _raw
from ._events import Event, EventType, event_type_names, to_new_event
from ._leniency import check_new_type
from ._models import (
    Component,
    ComponentStatus,
    Feature,
    FeatureStatus,
    Interface,
    Phase,
    PhaseStatus,
    Step,
    StepStatus,
    step_from_plugin,
)
from ._reading import read_events

DEFAULT_DB_PATH = ".supervisor/state.db"

PLUGINS: tuple[object, ...] = (
    evstore_workflows,
    evstore_steps,
    evstore_features,
    evstore_checkpoints,
    evstore_metrics,
    evstore_graph,
    _plugin,
)
"""What every ``Database`` registers explicitly: the six projection plugins and the
facade's own event types."""


class Database:
    """The original supervisor's ``Database``, event-sourced on evstore.

    ``Database(db_path)`` opens (or creates, with its folder) an evstore store with the
    six projection plugins registered explicitly, so they are loaded whatever is
    installed. Other installed evstore plugins load too, as for every store
    (``EVSTORE_PLUGINS``, ``EVSTORE_DISABLE_PLUGINS``, ``EVSTORE_DISABLE_PLUGIN_AUTOLOAD=1``
    or ``autoload=False`` choose): their projections then stay current with the
    supervisor's appends instead of lagging until another process opens the store.

    :param durability: ``"full"`` (default: an acknowledged write survives power loss)
        or ``"normal"`` (it survives a crash of the process).
    :param plugins: more plugin objects to register explicitly.
    :param autoload: ``None`` (default) follows ``EVSTORE_DISABLE_PLUGIN_AUTOLOAD``.

    ``db_path`` may also be a PostgreSQL URL (``postgresql://user@host/db``, a schema
    chosen with ``?options=-csearch_path%3Dname``): every method works the same there,
    except that :meth:`transaction` yields a ``psycopg.Connection`` (``%s``
    placeholders, its own row factory) and ``_connect()`` is a ``transaction()`` block.

    The store keeps one connection per thread; :meth:`close` (or ``with Database(...)``)
    closes them.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        durability: str = "full",
        plugins: Sequence[object] = (),
        autoload: bool | None = None,
    ) -> None:
        target = os.fspath(db_path)
        # Permissive: the original stored every event of its types as given (see
        # _leniency); the facade checks the types it never had itself.
        self.store = EventStore.open(
            target, plugins=[*PLUGINS, *plugins], durability=durability, autoload=autoload,
            permissive=True,
        )
        self._declared = self.store.registry.event_types
        # A PostgreSQL URL stays text: a Path would fold its "//" and lose the host.
        self.db_path: Path | str = Path(target) if self.store.dialect == "sqlite" else target

    def close(self) -> None:
        """Close the store's connections. Later calls raise ``StoreClosedError``."""
        self.store.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # A URL is shown as the store's target: without its password.
        shown = str(self.db_path) if isinstance(self.db_path, Path) else self.store.target
        return f"Database(db_path={shown!r})"

    # --- writing: everything is an event ---------------------------------------------

    def append_event(self, event: Event, *, expected_version: ExpectedVersion | int = ANY) -> int:
        """Store ``event`` and update every projection in one transaction (or in the open
        ``transaction()`` block); returns its id, the global position.

        ``expected_version`` (``ANY``, ``NO_STREAM``, ``EXISTS`` or the workflow's exact
        version) guards against concurrent writers: a mismatch raises
        ``ConcurrencyError`` and writes nothing. An event whose ``event_id`` is already
        stored is a retry: its stored position is returned and nothing is added.
        """
        if not isinstance(event, Event):
            raise TypeError(f"append_event takes an Event, got {type(event).__name__}")
        new_event = to_new_event(event)
        check_new_type(new_event, self._declared)
        return self.store.append(new_event, expected_version=expected_version)

    def append_events(
        self, events: Iterable[Event], *, expected_version: ExpectedVersion | int = ANY
    ) -> list[int]:
        """Store several events atomically (all or none); returns their ids in order."""
        batch = list(events)
        for event in batch:
            if not isinstance(event, Event):
                raise TypeError(f"append_events takes Events, got {type(event).__name__}")
        new_events = [to_new_event(event) for event in batch]
        for new_event in new_events:
            check_new_type(new_event, self._declared)
        return self.store.append_many(new_events, expected_version=expected_version)

    def update_step(
        self, step_id: str, status: StepStatus | str, output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> int | None:
        """Set a step's status, output and error exactly as given (``None`` clears), as a
        ``step_status_changed`` event; returns its id. Any ``StepStatus`` is accepted;
        another status is a ``ValueError``. An unknown step: nothing is appended and the
        result is ``None``, as the original's UPDATE of no row."""
        with self.store.transaction():
            if not self._known("steps", step_id):
                return None
            return evstore_steps.update_step(self.store, step_id, status, output, error)

    def update_component(
        self, component_id: str, status: ComponentStatus | str, output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> int | None:
        """Set a component's status, output and error as given, as a
        ``component_status_changed`` event (the cascade may follow); returns its id, or
        ``None`` for an unknown component (nothing appended, as in the original)."""
        with self.store.transaction():
            if not self._known("components", component_id):
                return None
            return evstore_features.update_component(self.store, component_id, status, output, error)

    def create_feature(self, feature_id: str, title: str, description: str = "") -> int:
        """Append ``feature_created`` (status planning); returns its id."""
        return evstore_features.create_feature(self.store, feature_id, title, description)

    def create_phase(
        self, phase_id: str, feature_id: str, title: str, sequence: int,
        interfaces: list[Interface] | list[dict[str, Any]] | None = None,
    ) -> int:
        """Append ``phase_created`` (status pending) to the feature; returns its id."""
        return evstore_features.create_phase(self.store, phase_id, feature_id, title, sequence, interfaces)

    def create_component(
        self, component_id: str, phase_id: str, title: str, files: list[str] | None = None,
        depends_on: list[str] | None = None, assigned_role: str = "implementer", description: str = "",
        feature_id: str | None = None,
    ) -> int:
        """Append ``component_created`` (status pending); returns its id. Without
        ``feature_id`` the feature is the phase's; an unknown phase is a ``ValueError``."""
        return evstore_features.create_component(
            self.store, component_id, phase_id, title, files, depends_on, assigned_role, description,
            feature_id,
        )

    def update_feature_status(self, feature_id: str, status: FeatureStatus | str) -> int | None:
        """Append ``feature_status_changed``; returns its id. Unknown feature: nothing is
        appended and the result is ``None``, as the original's UPDATE of no row."""
        with self.store.transaction():
            if not self._known("features", feature_id):
                return None
            return evstore_features.update_feature_status(self.store, feature_id, status)

    def update_phase_status(self, phase_id: str, status: PhaseStatus | str) -> int | None:
        """Append ``phase_status_changed`` (the cascade re-evaluates the feature); returns
        its id. Unknown phase: ``None``, nothing appended."""
        with self.store.transaction():
            if not self._known("phases", phase_id):
                return None
            return evstore_features.update_phase_status(self.store, phase_id, status)

    def update_component_dependencies(self, component_id: str, depends_on: list[str]) -> int | None:
        """Append ``component_dependencies_set`` (the list replaces the old one); returns
        its id. Unknown component: ``None``, nothing appended."""
        with self.store.transaction():
            if not self._known("components", component_id):
                return None
            return evstore_features.set_component_dependencies(self.store, component_id, depends_on)

    def _known(self, table: str, row_id: object) -> bool:
        """Whether ``table`` (a projection table of ours, never input) has a row ``row_id``.
        Called inside the write transaction, so the answer holds for its append."""
        if not isinstance(row_id, str):
            return False
        return self.store.reader.fetchvalue(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)) is not None

    def create_checkpoint(
        self, workflow_id: str, step_id: str | None, git_sha: str, context: dict[str, Any],
        status: str = "active",
    ) -> int:
        """Append ``checkpoint_created``; returns the checkpoint's id (the event's). The
        workflow needs no ``workflow_started``; ``step_id=None`` is a checkpoint of the
        whole workflow."""
        return evstore_checkpoints.create_checkpoint(self.store, workflow_id, step_id, git_sha, context, status)

    def record_metric(
        self, role: str, cli: str, workflow_id: str, success: bool, duration_seconds: float,
        task_type: str = "other", retry_count: int = 0, token_usage: int | None = None,
        error_category: str | None = None,
    ) -> int:
        """Append ``metric_recorded``; returns the metric's id (the event's)."""
        if isinstance(success, int) and success in (0, 1):
            success = bool(success)  # the original stored 0/1 ints as given
        return evstore_metrics.record_metric(
            self.store, role, cli, workflow_id, success, duration_seconds, task_type, retry_count,
            token_usage, error_category,
        )

    def append_execution_event(
        self, execution_id: str, event_type: str, node_id: str | None = None, node_type: str | None = None,
        status: str | None = None, payload: dict[str, Any] | None = None, version: int = 0,
    ) -> int:
        """Append ``execution_event_recorded`` (one ``execution_events`` row); returns its id."""
        return evstore_graph.append_execution_event(
            self.store, execution_id, event_type, node_id, node_type, status, payload, version
        )

    # --- reading ------------------------------------------------------------------------

    def get_events(
        self, workflow_id: str, event_types: Iterable[EventType | str] | None = None
    ) -> list[Event]:
        """The workflow's events in order, optionally only ``event_types`` (an empty list
        filters nothing, as in the original). Types no member of ``EventType`` names come
        back as plain strings, never as an error."""
        if not isinstance(workflow_id, str):
            raise TypeError(f"workflow_id must be a str, got {type(workflow_id).__name__}")
        if not workflow_id:
            return []
        types = event_type_names(event_types) if event_types else None
        return read_events(self.store, workflow_id, types)

    def get_step(self, step_id: str) -> Step | None:
        step = evstore_steps.get_step(self.store, step_id)
        return None if step is None else step_from_plugin(step)

    def get_feature(self, feature_id: str) -> Feature | None:
        return evstore_features.get_feature(self.store, feature_id)

    def get_phase(self, phase_id: str) -> Phase | None:
        return evstore_features.get_phase(self.store, phase_id)

    def get_phases(self, feature_id: str) -> list[Phase]:
        """The feature's phases by sequence."""
        return evstore_features.get_phases(self.store, feature_id)

    def get_component(self, component_id: str) -> Component | None:
        return evstore_features.get_component(self.store, component_id)

    def get_components(self, feature_id: str) -> list[Component]:
        """The feature's components by phase sequence, then creation order (C2 before C10)."""
        return evstore_features.get_components(self.store, feature_id)

    def get_components_by_status(self, status: ComponentStatus | str) -> list[Component]:
        return evstore_features.get_components_by_status(self.store, status)

    def get_latest_checkpoint(self, workflow_id: str) -> dict[str, Any] | None:
        """The workflow's newest checkpoint (highest id, whatever the timestamps say):
        keys ``id, workflow_id, step_id, git_sha, context, status, timestamp``."""
        return evstore_checkpoints.get_latest_checkpoint(self.store, workflow_id)

    def get_metrics(
        self, days: float | str = 30, role: str | None = None, cli: str | None = None
    ) -> list[dict[str, Any]]:
        """Metrics of the last ``days`` days, newest first, as dicts of the ``metrics``
        columns. ``days`` is a number of days, or text of one (``"30"``), as the original
        took it. The original pasted it into its SQL: any other value made its time
        window NULL, so it answered no rows (unless the text was SQL of its own, which
        here is only a value). The facade answers no rows for those too."""
        window = _days(days)
        if window is None:
            return []
        return evstore_metrics.get_metrics(self.store, window, role, cli)

    def get_execution_events(
        self, execution_id: str, since_id: int | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """The execution's ``execution_events`` rows after ``since_id``, ascending id."""
        return evstore_graph.get_execution_events(self.store, execution_id, since_id, limit)

    # --- maintenance and raw SQL ---------------------------------------------------------

    def rebuild_projections(self) -> int:
        """Rebuild every table from the log in one transaction; returns the number of
        events replayed. The result is the same, row for row, every time."""
        return self.store.rebuild()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction, yielding its ``sqlite3.Connection`` (``row_factory`` is
        ``sqlite3.Row`` inside the block); on PostgreSQL it yields the transaction's
        ``psycopg.Connection`` as it is (``%s`` placeholders, the driver's own rows),
        since the kernel runs its statements on it too. Facade calls inside the block (``append_event``,
        ``create_*``, ``update_*``, ...) join it: everything commits at the end of the
        block, or nothing does if it raises. Nested blocks are savepoints.

        Raw SQL on the connection runs in the same transaction. Never ``commit()`` or
        ``rollback()`` on it: the block does that. Raw ``INSERT INTO events`` rows are
        projected when the block commits (see ``_raw``); raw writes to projection tables
        are lost at the next rebuild, since only events survive one.
        """
        with self.store.transaction() as tx:
            conn = tx.connection
            if self.store.dialect != "sqlite":
                yield conn
                return
            previous_factory = conn.row_factory
            conn.row_factory = sqlite3.Row
            try:
                yield conn
            finally:
                conn.row_factory = previous_factory

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A connection of its own to the same database, as the original's ``_connect()``:
        WAL, ``row_factory=sqlite3.Row``, commit at the end of the block, rollback on
        error. Event rows inserted through it are projected when the block commits.

        The original was SQLite-only: on PostgreSQL this is a :meth:`transaction` block
        (the same commit, rollback and projection of raw event rows)."""
        store = self.store
        if not isinstance(self.db_path, Path):
            with self.transaction() as conn:
                yield conn
            return
        before = store.head()
        with _raw.plain_connection(
            self.db_path, durability=store.durability, busy_timeout=store.busy_timeout
        ) as conn:
            yield conn
        if store.head() > before:
            behind = [s.name for s in store.projection_status() if s.status == "ok" and s.lag > 0]
            if behind:
                store.catch_up(behind)


def _days(days: object) -> float | None:
    """``days`` as a finite number of days, or ``None`` where the original's
    ``datetime('now', '-{days} days')`` was NULL (not a number, negative, NaN, a bool)."""
    if isinstance(days, str):
        try:
            days = float(days.strip())
        except ValueError:
            return None
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        return None
    return float(days) if math.isfinite(days) and days >= 0 else None


__all__ = ["DEFAULT_DB_PATH", "PLUGINS", "Database"]
