"""The write path: one transaction groups any number of appends, their projection
updates and their reactors' follow-ups, and commits or rolls back as one."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import _json
from ._envelope import ANY, NO_STREAM, ExpectedVersion, NewEvent, RecordedEvent
from ._errors import (
    ConcurrencyError,
    DuplicateEventError,
    EvstoreError,
    InvalidArgumentError,
    InvalidEventError,
    ReactorDepthError,
    ReactorError,
    StoreClosedError,
    TransactionError,
    describe,
)
from ._projector import ConnectionScopes, Live
from ._registry import Prepared, Streamed

if TYPE_CHECKING:
    from ._store import EventStore

_PROBE_CHUNK = 500
_COMPARED = ("workflow_id", "event_type", "role", "step_id", "component_id", "status", "payload")


def check_expected(expected: Any) -> ExpectedVersion | int:
    if isinstance(expected, ExpectedVersion):
        return expected
    if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        return expected
    raise InvalidArgumentError(
        f"expected_version must be ANY, NO_STREAM, EXISTS or an int >= 0, got {expected!r}"
    )


def _satisfied(expected: ExpectedVersion | int, current: int) -> bool:
    if expected is ANY:
        return True
    if expected is NO_STREAM:
        return current == 0
    if isinstance(expected, ExpectedVersion):  # EXISTS
        return current > 0
    return current == expected


class Transaction:
    """A write transaction on one thread's connection. Use it through
    ``store.transaction()``; ``tx.append`` and ``tx.append_many`` join it, and so does
    ``store.append`` called on the same thread while it is open.

    If an append fails after it started writing (a strict projection or a reactor
    raised), the transaction can only be rolled back: later calls raise
    ``TransactionError``. Failures found before writing (bad input, a version
    conflict) leave it usable.
    """

    # One is built per append outside a transaction: slots make that and every
    # attribute read on the write path cheaper.
    __slots__ = (
        "_committed", "_consumers", "_failed", "_keep_committed", "_live", "_projector", "_reactors",
        "_scopes", "_session", "_store", "_thread", "_versions", "active",
    )
    _live: Live  # set by start(), which every write transaction runs before its appends

    def __init__(self, store: EventStore, scopes: ConnectionScopes) -> None:
        self._store = store
        self._scopes = scopes
        self._session = scopes.session
        self._thread = threading.get_ident()
        self._versions: dict[str, int] = {}
        self._committed: list[RecordedEvent] = []
        self._keep_committed = keep = store._hooks.has_after_commit
        self._projector = projector = store._projector
        self._reactors = reactors = store._reactors_by_type
        # Does anything look at appended events (projections, reactors, after-commit
        # hooks)? If not, appends skip building RecordedEvent objects altogether.
        self._consumers = bool(projector.dispatch or reactors or keep)
        self._failed: BaseException | None = None
        self.active = True

    @property
    def connection(self) -> Any:
        """The driver's connection this transaction runs on (``sqlite3.Connection`` or
        ``psycopg.Connection``), for the application's own SQL that must commit or roll
        back with it (a facade over the store may hand it to its callers).
        Statements on it bypass table ownership: never COMMIT or ROLLBACK on it, and
        write projection tables only if you accept that a rebuild replaces them. It is
        never handed to plugins."""
        return self._session.raw

    # --- lifecycle (driven by EventStore) ------------------------------------------------

    def start(self) -> None:
        scopes, maintenance = self._scopes, self._store._maintenance
        self._live = live = self._projector.begin(scopes, lambda names: maintenance.catch_up(scopes, names))
        # The versions the last commit on this connection left, if still valid; either
        # way the state holds the dict this transaction appends with, for the next one.
        if live.versions is None:
            live.versions = self._versions
        else:
            self._versions = live.versions

    def finish(self) -> list[RecordedEvent]:
        if self._failed is not None:
            # The caller caught the error and left the block normally; committing now
            # would make the half-applied append durable.
            raise TransactionError(
                "the transaction was rolled back because an append in it failed after "
                f"writing ({type(self._failed).__name__}: {self._failed})"
            ) from self._failed
        self._projector.finish(self._scopes, self._live)
        return self._committed

    def snapshot(self) -> tuple[Any, ...]:
        live = self._live
        return (len(self._committed), set(live.live), live.head, len(live.failures))

    def restore(self, saved: tuple[Any, ...]) -> None:
        kept, live, self._live.head, failures = saved
        del self._live.failures[failures:]
        # Versions are not saved (every nested block and group-commit request would copy
        # a dict that the connection carries across transactions): forgetting them all
        # costs a lookup per workflow after a rolled-back block, and is always right.
        self._versions.clear()
        del self._committed[kept:]
        self._live.live = live

    def _usable(self) -> None:
        if self._store._closed:
            raise StoreClosedError(
                f"the store at {self._store.target!r} was closed; this transaction is rolled back"
            )
        if not self.active:
            raise TransactionError("this transaction has ended; start a new one with store.transaction()")
        if threading.get_ident() != self._thread:
            raise TransactionError("a transaction belongs to the thread that opened it")
        if self._failed is not None:
            raise TransactionError(
                f"an earlier append in this transaction failed after writing "
                f"({type(self._failed).__name__}: {self._failed}); it can only be rolled back: "
                "leave the `with` block and retry the whole transaction"
            ) from self._failed

    # --- appending ------------------------------------------------------------------

    def append(self, event: NewEvent, *, expected_version: ExpectedVersion | int = ANY) -> int:
        """Append one event; returns its global position."""
        if self._failed is not None or not self.active or self._store._closed or (
            threading.get_ident() != self._thread
        ):
            self._usable()
        expected = expected_version if expected_version is ANY else check_expected(expected_version)
        prepared = [self._store._registry.prepare(event)]
        try:
            return self.append_prepared((event,), prepared, expected)[0]
        except EvstoreError:
            raise
        except Exception as error:
            raise self._store._backend.storage_error(error) or error from error

    def append_many(
        self, events: Iterable[NewEvent], *, expected_version: ExpectedVersion | int = ANY
    ) -> list[int]:
        """Append events atomically; returns their positions in order."""
        self._usable()
        batch = list(events) if not isinstance(events, list) else events
        prepared = self._store._prepare_batch(batch, expected_version)
        try:
            return self.append_prepared(batch, prepared, check_expected(expected_version))
        except EvstoreError:
            raise
        except Exception as error:
            raise self._store._backend.storage_error(error) or error from error

    def append_prepared(
        self, events: Sequence[NewEvent], prepared: Sequence[Prepared], expected: ExpectedVersion | int,
        depth: int = 0,
    ) -> list[int]:
        if not prepared:
            return []
        store = self._store
        if store._hooks.has_before_append:
            store._hooks.before_append(store, events)
        session = self._session
        while True:  # once, or twice when the versions kept were stale (below)
            if len(prepared) > 1 and not session.refuses_stored_ids:
                existing = self._existing(prepared)
                if existing is not None:
                    return existing
            try:
                values = self._assign(prepared, expected)
            except _AlreadyStored as retried:
                return retried.positions
            try:
                first, stored = session.insert_events(values)
                break
            except BaseException as error:
                violated = session.violated_constraint(error)
                if violated is None:
                    raise
                if violated == "version" and self._versions:
                    # Raw SQL on tx.connection appended to a workflow whose version we
                    # kept, in this transaction or an earlier one on this connection (the
                    # versions are carried over, see Projector.begin). The failed
                    # statement wrote nothing (a batch rolled back to its savepoint):
                    # forget the versions and decide again from the stored ones, without
                    # calling the before_append hooks a second time for the same append.
                    self._versions.clear()
                    continue
                # A failed insert leaves nothing behind (a batch rolls back to its
                # savepoint), so the transaction stays usable; a batch gets here only
                # where the insert is what finds a retry (``refuses_stored_ids``).
                if violated != "event_id":
                    raise
                existing = self._existing(prepared)
                if existing is None:
                    raise
                return existing
        if stored is not None:  # the versions the server filled in (or checked)
            values = [(*value[:8], version, *value[9:]) for value, version in zip(values, stored, strict=True)]
        if len(values) == 1:
            rows = [(first, *values[0])]
        else:
            rows = [(first + offset, *value) for offset, value in enumerate(values)]
        live = self._live
        if live.head is not None:
            if rows[0][0] != live.head + 1:  # raw SQL inserted rows before ours
                self._projector.apply_foreign(self._scopes, live, rows[0][0] - 1)
            live.head = rows[-1][0]
        versions = self._versions
        for row in rows:
            versions[row[1]] = row[9]
        if self._consumers:
            try:
                self._after_insert(rows, depth)
            except BaseException as error:
                self._failed = error
                raise
        return list(range(first, first + len(rows)))

    def _assign(self, prepared: Sequence[Prepared], expected: ExpectedVersion | int) -> Sequence[tuple[Any, ...]]:
        """Give each event its version. We hold the write lock (BEGIN IMMEDIATE), so the
        versions read here cannot change before we insert."""
        versions: dict[str, int] = {}
        rows: list[tuple[Any, ...]] = []
        known = self._versions
        # With no version to check, a server that fills in versions is left to, even
        # for a workflow whose version is cached: asking it for the stored version would
        # cost a round trip per workflow, and a row without a version of its own cannot
        # be refused, so it needs no savepoint (see the PostgreSQL session).
        if expected is ANY and self._session.fills_versions:
            if isinstance(prepared, Streamed):  # still streamed: made as the insert reads them
                return prepared.map(lambda p: (*p[:8], None, p[8], p[9]))
            return [(*p[:8], None, p[8], p[9]) for p in prepared]
        for p in prepared:
            workflow_id = p[0]
            current = versions.get(workflow_id)
            if current is None:
                current = known.get(workflow_id)
                if current is None:
                    current = self._stored_version(workflow_id)
                elif expected is not ANY and not _satisfied(expected, current):
                    # The cached version may be stale (raw SQL on tx.connection appended
                    # to this workflow): only the stored version may refuse an append.
                    current = known[workflow_id] = self._stored_version(workflow_id)
                if expected is not ANY and not _satisfied(expected, current):
                    existing = self._existing(prepared)
                    if existing is not None:  # a retry of an append that already succeeded
                        raise _AlreadyStored(existing)
                    raise ConcurrencyError(workflow_id, expected, current)
            current += 1
            versions[workflow_id] = current
            rows.append((*p[:8], current, p[8], p[9]))
        return rows

    def _stored_version(self, workflow_id: str) -> int:
        found = self._session.execute(
            "SELECT MAX(version) FROM events WHERE workflow_id = ?", (workflow_id,)
        ).fetchone()[0]
        return int(found or 0)

    def _after_insert(self, rows: list[tuple[Any, ...]], depth: int) -> None:
        projector, reactors = self._projector, self._reactors
        recorded = list(map(RecordedEvent, rows))
        if self._keep_committed:
            self._committed.extend(recorded)
        projector.apply(self._scopes, self._live, recorded)
        if reactors:
            for event in recorded:
                for reactor, _plugin in reactors.get(event.event_type, ()):
                    self._react(reactor, event, depth)

    def _react(self, reactor: Any, event: RecordedEvent, depth: int) -> None:
        scoped = self._scopes.reactors[reactor.name]
        reads = reactor.reads
        if reads and not reads <= self._live.live:
            stale = sorted(reads - self._live.live)
            raise ReactorError(
                f"{scoped.describe_owner} decides from projection {', '.join(map(repr, stale))}, "
                f"which is failing, so the append of event {event.event_type!r} (workflow "
                f"{event.workflow_id!r}) was rejected rather than decided on stale tables. Fix "
                f"the projection and run `evstore catch-up {' '.join(stale)}`."
            )
        try:
            with scoped:
                produced = reactor.react(scoped, event.copy())
            follow_ups = list(produced or ())
        except EvstoreError:
            raise
        except Exception as error:
            raise ReactorError(
                f"{scoped.describe_owner} failed on event {event.id} ({event.event_type}, "
                f"workflow {event.workflow_id!r}): {describe(error)}. The append "
                "was rolled back. Fix the plugin, or disable it."
            ) from error
        if not follow_ups:
            return
        if depth + 1 > self._store.max_reactor_depth:
            raise ReactorDepthError(
                f"{scoped.describe_owner} appended follow-ups {depth + 1} levels deep (limit "
                f"{self._store.max_reactor_depth}) starting from event {event.id}: reactors are "
                "probably triggering each other in a loop. The append was rolled back."
            )
        if not all(isinstance(e, NewEvent) for e in follow_ups):
            raise ReactorError(
                f"{scoped.describe_owner} must return NewEvent objects, got {follow_ups!r:.200}"
            )
        correlation = event.metadata.get("correlation_id", event.event_id)
        caused = [
            replace(e, metadata={"causation_id": event.event_id, "correlation_id": correlation, **e.metadata})
            for e in follow_ups
        ]
        prepared = self._store._prepare_batch(caused, ANY)
        self.append_prepared(caused, prepared, ANY, depth + 1)

    # --- idempotency ---------------------------------------------------------------

    def _existing(self, prepared: Sequence[Prepared]) -> list[int] | None:
        """If these events' ids are already stored, return their positions (a retried
        append) after checking the content matches; ``None`` when none is stored."""
        ids = [p[8] for p in prepared]
        found: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(ids), _PROBE_CHUNK):
            chunk = ids[start:start + _PROBE_CHUNK]
            for row in self._session.execute(
                "SELECT id, workflow_id, event_type, role, step_id, component_id, status, payload, "
                f"event_id FROM events WHERE event_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall():
                found[row[8]] = row
        if not found:
            return None
        positions = []
        for p in prepared:
            row = found.get(p[8])
            if row is None:
                raise InvalidEventError(
                    f"some events of this batch are already stored (event_id {next(iter(found))} "
                    f"at position {found[next(iter(found))][0]}) and others are not. A retry must "
                    "resend exactly the batch that was appended; new events need new event_ids."
                )
            differences = [
                name
                for name, ours, theirs in zip(_COMPARED, p[:7], row[1:8], strict=True)
                if not _same(name, ours, theirs)
            ]
            if differences:
                raise DuplicateEventError(p[8], row[0], differences)
            positions.append(row[0])
        return positions


def _same(field: str, ours: Any, theirs: Any) -> bool:
    # Payloads are compared decoded: the same dict may have been encoded with its keys
    # in another order by the first attempt.
    if field == "payload":
        return bool(_json.loads(ours) == _json.loads(theirs))
    return bool(ours == theirs)


class _AlreadyStored(Exception):
    """Raised inside ``_assign`` to leave early with the positions of a retried append."""

    def __init__(self, positions: list[int]) -> None:
        self.positions = positions
