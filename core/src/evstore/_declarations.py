"""What plugins hand to the kernel: event types, projections (with migrations and
handlers) and reactors. The kernel validates each when it is registered."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic
from pydantic import BaseModel

from ._errors import ProjectionError, ReactorError

if TYPE_CHECKING:
    from ._access import ScopedConnection
    from ._envelope import NewEvent, RecordedEvent

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENVELOPE_FIELDS = ("role", "step_id", "component_id", "status")

Handler = Callable[["ScopedConnection", "RecordedEvent"], None]
BatchHandler = Callable[["ScopedConnection", "Sequence[RecordedEvent]"], None]
LIFECYCLES = ("inline", "async")
MigrationStep = Callable[["ScopedConnection"], None]
React = Callable[["ScopedConnection", "RecordedEvent"], "Iterable[NewEvent] | None"]


@dataclass(frozen=True)
class EventType:
    """A declared event type.

    :param name: the string stored in ``events.event_type``.
    :param payload: an optional pydantic model; payloads are validated against it on append.
    :param requires: envelope fields (``role``, ``step_id``, ``component_id``, ``status``)
        that must be a non-empty string on every event of this type.
    :param description: one line for ``evstore plugins``.
    """

    name: str
    payload: type[BaseModel] | None = None
    requires: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"an event type needs a non-empty string name, got {self.name!r}")
        unknown = [f for f in self.requires if f not in _ENVELOPE_FIELDS]
        if unknown:
            raise ValueError(
                f"event type {self.name!r} requires unknown envelope fields {unknown}; "
                f"choose from {list(_ENVELOPE_FIELDS)}"
            )
        if self.payload is not None and not (
            isinstance(self.payload, type) and issubclass(self.payload, BaseModel)
        ):
            raise ValueError(f"event type {self.name!r}: payload must be a pydantic model class")

    def refusal(self, envelope: Mapping[str, Any], payload: Any) -> str | None:
        """Why an event of this type with these envelope fields (``role``, ``step_id``,
        ...) and this payload is not what the type promises, or ``None`` if it is: a
        required field missing or blank, or a payload the model refuses. What a strict
        store refuses on append; for code that must decide about events a permissive
        store kept (an importer choosing how to carry a row over, say)."""
        for name in self.requires:
            value = envelope.get(name)
            if not isinstance(value, str) or not value.strip():
                return f"event type {self.name!r} requires {name}, but it has {name}={value!r}"
        if self.payload is not None:
            try:
                self.payload.model_validate(payload)
            except pydantic.ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}" for e in error.errors()
                )
                return f"payload of {self.name!r} does not match {self.payload.__name__}: {problems}"
        return None


DIALECTS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Migration:
    """One step of a projection's schema: SQL (one or more statements) or a callable
    receiving the projection's scoped connection. Applied once, in declaration order,
    and recorded in the kernel's ledger under the projection's name.

    Write the SQL once, in the subset SQLite and PostgreSQL share: type names are mapped
    on PostgreSQL (INTEGER to BIGINT, REAL to DOUBLE PRECISION, ...). Where a step must
    differ, give one per dialect: ``apply={"sqlite": "...", "postgresql": "..."}``.
    """

    name: str
    apply: str | MigrationStep | Mapping[str, str | MigrationStep]

    def __post_init__(self) -> None:
        if isinstance(self.apply, Mapping):
            unknown = sorted(set(self.apply) - set(DIALECTS))
            if unknown or not self.apply:
                raise ProjectionError(
                    f"migration {self.name!r}: per-dialect steps are keyed by {list(DIALECTS)}, "
                    f"got {sorted(self.apply)}"
                )
        elif not isinstance(self.apply, str) and not callable(self.apply):
            raise ProjectionError(
                f"migration {self.name!r}: apply must be SQL text, a callable or a mapping of "
                f"dialect to either, got {type(self.apply).__name__}"
            )

    def for_dialect(self, dialect: str) -> str | MigrationStep:
        """The step to run on ``dialect`` ("sqlite" or "postgresql")."""
        if not isinstance(self.apply, Mapping):
            return self.apply
        step = self.apply.get(dialect)
        if step is None:
            raise ProjectionError(
                f"migration {self.name!r} has no step for {dialect}; add apply[{dialect!r}]"
            )
        return step


@dataclass
class Projection:
    """A read model kept up to date from the log.

    :param name: unique name; the ledger, ``evstore status`` and the CLI use it.
    :param version: bump it when handlers change meaning: the store rebuilds the
        projection from the log on its next open.
    :param tables: every table the projection creates and writes; writing any other
        table is refused.
    :param migrations: the DDL, in order.
    :param strict: when true a handler error rejects the whole append instead of
        marking the projection failing.
    :param time_budget: seconds one handler call's SQL may run (None: no limit). A
        statement still running past it is aborted by the database (SQLite's progress
        handler, PostgreSQL's statement_timeout) and the call fails like any handler
        error, so a runaway query cannot hold the write lock for ever. Python code cannot
        be interrupted this way: a handler looping in Python holds the lock until its
        process is killed (which commits nothing).
    :param lifecycle: ``"inline"`` (applied inside each append's transaction: readers
        see it at once) or ``"async"`` (applied after commit by ``evstore worker``
        processes, in batches; ``store.wait_for`` waits for it). The plugin's default;
        operators override it with ``EVSTORE_ASYNC_PROJECTIONS`` /
        ``EVSTORE_INLINE_PROJECTIONS`` or ``EventStore.open(async_projections=...)``.
    """

    name: str
    version: int = 1
    tables: Sequence[str] = ()
    migrations: Sequence[Migration] = ()
    strict: bool = False
    description: str = ""
    handlers: dict[str, Handler] = field(default_factory=dict)
    time_budget: float | None = None
    lifecycle: str = "inline"
    batch_handler: BatchHandler | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _IDENTIFIER.match(self.name):
            raise ProjectionError(
                f"projection name {self.name!r} must be an identifier (letters, digits, _)"
            )
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise ProjectionError(
                f"projection {self.name!r}: version must be an int >= 1, got {self.version!r}"
            )
        self.tables = tuple(self.tables)
        for table in self.tables:
            if not isinstance(table, str) or not _IDENTIFIER.match(table):
                raise ProjectionError(
                    f"projection {self.name!r}: table name {table!r} is not an identifier"
                )
            if table.lower().startswith(("evstore_", "sqlite_")) or table.lower() == "events":
                raise ProjectionError(
                    f"projection {self.name!r} may not own {table!r}: names starting with "
                    "evstore_ or sqlite_ and the events table belong to the kernel"
                )
        budget = self.time_budget
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < 86_400
        ):
            raise ProjectionError(
                f"projection {self.name!r}: time_budget must be seconds between 0 and 86400, got {budget!r}"
            )
        if self.lifecycle not in LIFECYCLES:
            raise ProjectionError(
                f"projection {self.name!r}: lifecycle must be one of {list(LIFECYCLES)}, got {self.lifecycle!r}"
            )
        self.migrations = tuple(self.migrations)
        names = [m.name for m in self.migrations]
        if len(set(names)) != len(names):
            raise ProjectionError(f"projection {self.name!r} has duplicate migration names")

    def on(self, *event_types: str) -> Callable[[Handler], Handler]:
        """Decorator: ``@projection.on("step_started")`` registers a handler."""

        def decorate(handler: Handler) -> Handler:
            for event_type in event_types:
                if event_type in self.handlers:
                    raise ProjectionError(
                        f"projection {self.name!r} has two handlers for {event_type!r}"
                    )
                self.handlers[event_type] = handler
            return handler

        return decorate

    def on_batch(self, handler: BatchHandler) -> BatchHandler:
        """Decorator: a handler applying many events at once (``executemany``-style),
        used when stored events are replayed — by workers, catch-up and rebuild. It gets,
        in position order, every event of a batch whose type has a per-event handler
        (``on``), which stays what live inline appends use; the two must agree: the
        contract's rebuild-equals-incremental check compares them. If it raises, the
        batch is applied again event by event, so failures and skips are decided exactly
        as for single events."""
        if self.batch_handler is not None:
            raise ProjectionError(f"projection {self.name!r} has two batch handlers")
        self.batch_handler = handler
        return handler

    @property
    def handled_types(self) -> frozenset[str]:
        return frozenset(self.handlers)


@dataclass(frozen=True)
class Reactor:
    """A policy that appends follow-up events in the same transaction as the event it
    reacts to, during live appends only (never during catch-up or rebuild).

    ``react(db, event)`` gets a read-only connection that sees the projections already
    updated for ``event`` and returns the events to append (or ``None``).

    ``reads`` names the projections whose tables the reactor decides from. While one of
    them is failing (so its tables are stale) an append that would run the reactor is
    rejected rather than letting it decide on stale state, because catch-up never runs
    reactors and a follow-up missed now would be missed for good.
    """

    name: str
    handles: frozenset[str]
    react: React
    description: str = ""
    reads: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ReactorError(f"a reactor needs a non-empty name, got {self.name!r}")
        object.__setattr__(self, "handles", frozenset(self.handles))
        object.__setattr__(self, "reads", frozenset(self.reads))
