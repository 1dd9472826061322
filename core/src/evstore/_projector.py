"""Running projections inline: which are current, applying appended events, failure.

All methods run inside a write transaction the caller holds, so a projection's rows and
its recorded position always commit together. Installing, migrating, catching up and
rebuilding are in ``_replay``.

Every handler gets its own copy of the event (``RecordedEvent.copy``): a handler that
mutates ``event.payload`` changes only what it sees, never what the next projection,
reactor or hook receives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from . import _json
from ._access import ScopedConnection
from ._backend import Scope, Session
from ._declarations import Handler
from ._envelope import COLUMNS, RecordedEvent
from ._errors import ProjectionFailedError, describe
from ._registry import Registry

log = logging.getLogger("evstore")
_SAVEPOINT = "evstore_projections"
_NO_SKIPS: frozenset[tuple[str, int]] = frozenset()
# Workflows whose versions a connection carries from one transaction to the next.
_KEPT_VERSIONS = 4096

# (projection name, handler, strict) for one event type
Targets = list[tuple[str, Handler, bool]]
# The same bound to one connection: (name, handler, strict, scoped connection, its
# scope, time budget)
Bound = tuple[str, Handler, bool, ScopedConnection, Scope, "float | None"]


@dataclass(slots=True)
class Live:
    """Per-transaction projection state: which projections receive events inline."""

    live: set[str] = field(default_factory=set)
    # The log's head when the transaction began, and the last position the live
    # projections have seen in it; None when no projection is loaded.
    start: int | None = None
    head: int | None = None
    marker: int | None = None
    # Messages to log once the transaction has committed (if it rolls back, the failure
    # never happened as far as anyone can see).
    failures: list[str] = field(default_factory=list)
    # (projection, position) of events skipped because their payload does not match
    # the declared model, and the message for each, recorded at commit.
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    # Each workflow's latest version as this connection last saw it, carried from the
    # last transaction it committed when nobody else has committed since (None: start
    # from nothing). The transaction appends with it and updates it in place.
    versions: dict[str, int] | None = None


class ConnectionScopes:
    """One thread's session with its scoped views: one per projection and reactor, and
    a read-only one for queries (``store.reader``)."""

    def __init__(
        self, session: Session, registry: Registry, owners: dict[str, str],
        standalone: Callable[[], Callable[[], None]],
    ) -> None:
        self.session = session
        # Each projection's scope is kept beside its connection: the kernel enters it
        # around every handler call (a plugin's connection never hands it out).
        self.projection_scopes = {
            name: Scope(f"projection:{name}", _lowered(reg.projection.tables), reg.describe(), owners)
            for name, reg in registry.projections.items()
        }
        self.projections = {
            name: ScopedConnection(session, scope) for name, scope in self.projection_scopes.items()
        }
        # The same projection while one of its migrations runs: then, and only then, it
        # may change the schema of its own tables.
        self.migrations = {
            name: ScopedConnection(
                session,
                Scope(f"migration:{name}", _lowered(reg.projection.tables), reg.describe(), owners, ddl=True),
            )
            for name, reg in registry.projections.items()
        }
        self.reactors = {
            name: ScopedConnection(
                session, Scope(f"reactor:{name}", frozenset(), f"reactor {name!r} of {info.describe()}", owners)
            )
            for name, (_, info) in registry.reactors.items()
        }
        self.reader = ScopedConnection(
            session, Scope("reader", frozenset(), "a read-only query", owners), standalone=standalone
        )
        # What the last transaction committed on this connection left behind: (the
        # backend's change marker then, the live projections, the head, the workflows'
        # versions). Valid while no other connection has committed, which the marker
        # tells us for free.
        self.known: tuple[int, frozenset[str], int, dict[str, int]] | None = None
        # The projector's live dispatch bound to these scoped connections (built on the
        # first append: the dispatch is fixed once the store is open).
        self.bound: dict[str, list[Bound]] | None = None


def _lowered(tables: Sequence[str]) -> frozenset[str]:
    return frozenset(t.lower() for t in tables)


class Projector:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        # Live appends apply inline projections only; replays (catch-up, rebuild, the
        # workers of async projections) apply whichever they are asked to.
        self.dispatch: dict[str, Targets] = {}
        self.replay_dispatch: dict[str, Targets] = {}
        inline = registry.inline
        for name in sorted(registry.projections):
            projection = registry.projections[name].projection
            for event_type, handler in projection.handlers.items():
                target = (name, handler, projection.strict)
                self.replay_dispatch.setdefault(event_type, []).append(target)
                if name in inline:
                    self.dispatch.setdefault(event_type, []).append(target)
        self.inline = inline
        # Projections whose recorded version is newer than the one loaded here (another
        # process upgraded them): never applied by this process.
        self.outdated: dict[str, int] = {}
        self.budgets = {
            name: reg.projection.time_budget
            for name, reg in registry.projections.items()
            if reg.projection.time_budget is not None
        }

    # --- live appends -----------------------------------------------------------------

    def begin(self, scopes: ConnectionScopes, catch_up: Callable[[list[str]], list[str]]) -> Live:
        """At the start of a write transaction: find which projections are current.

        Another process (perhaps with this projection disabled) may have appended since
        we last looked; a projection that is behind is caught up first, so an inline
        apply never skips an event. One whose recorded version is not this process's
        (another process rebuilt it with a newer plugin) is left alone: applying the old
        handlers to the new tables would corrupt them.
        """
        session = scopes.session
        state = Live()
        if not self.inline:
            return state
        state.marker = marker = session.change_marker()
        # Take the cache and leave none behind: ``committed`` puts it back after a
        # successful COMMIT, so an interrupt between COMMIT and that can never leave a
        # stale head here (our own commits do not change the marker, and a stale head
        # would make the next append re-apply this transaction's events).
        known, scopes.known = scopes.known, None
        if known is not None and marker is not None and known[0] == marker:
            # Nothing was committed by anyone else since our last commit: the positions
            # are as we left them, so skip reading them (two queries per transaction),
            # and so are the versions of the workflows we appended to or looked up (a
            # query per workflow and transaction). Raw SQL on tx.connection may have
            # appended since, but it can only have made a version newer than ours, which
            # the insert refuses (the unique version) and the transaction then looks up.
            state.live = set(known[1])
            state.start = state.head = known[2]
            state.versions = known[3]
            return state
        current_head = session.head()
        state.start = state.head = current_head
        behind = []
        projections = self.registry.projections
        for name, version, position, status in session.execute(
            "SELECT name, version, position, status FROM evstore_projections"
        ).fetchall():
            registered = projections.get(name)
            if registered is None or status != "ok" or name not in self.inline:
                continue
            if version != registered.projection.version:
                self.note_version(name, version)
                continue
            if position < current_head:
                behind.append(name)
            state.live.add(name)
        if behind:
            state.live.difference_update(catch_up(behind))
        return state

    def note_version(self, name: str, recorded: int) -> None:
        ours = self.registry.projections[name].projection.version
        if recorded > ours and name not in self.outdated:
            log.error("%s", self.outdated_message(name, recorded))
        if recorded > ours:
            self.outdated[name] = recorded

    def outdated_message(self, name: str, recorded: int) -> str:
        registered = self.registry.projections[name]
        return (
            f"{registered.describe()} is version {registered.projection.version} here, but the "
            f"store holds version {recorded} (another process runs a newer plugin and rebuilt "
            f"it), so this process leaves {name!r} alone. Upgrade the plugin here, or "
            f"{registered.plugin.how_to_disable()}."
        )

    def apply(self, scopes: ConnectionScopes, state: Live, events: Sequence[RecordedEvent]) -> None:
        """Apply freshly appended events to every live projection that handles them.

        All of it runs inside one SAVEPOINT. When a non-strict handler raises, the
        savepoint is rolled back (undoing every projection's work on these events), that
        projection is marked failing at the position before the first of them — or, if
        the event's payload does not match its declared model, only that event is
        skipped for that projection — and the events are applied again: the outcome of
        isolating each projection and event in a savepoint of its own, at the cost of one
        savepoint per append. A strict projection's error rejects the append.
        """
        bound = scopes.bound
        if bound is None:
            bound = scopes.bound = self._bind(scopes)
        work: Sequence[tuple[RecordedEvent, list[Bound]]]
        if len(events) == 1:
            # tx.append and store.append bring one event: no list of work to build.
            targets = bound.get(events[0].event_type)
            if targets is None:
                return
            work = ((events[0], targets),)
        else:
            work = [(event, targets) for event in events if (targets := bound.get(event.event_type))]
            if not work:
                return
        session = scopes.session
        # Only a retry after a failure has events to skip: the first attempt shares one
        # empty set rather than building its own.
        skips: AbstractSet[tuple[str, int]] = _NO_SKIPS
        while True:
            session.savepoint(_SAVEPOINT)
            try:
                self._apply_all(session, state.live, work, skips)
            except _HandlerFailed as failure:
                session.rollback_to(_SAVEPOINT)
                name, event = failure.name, failure.event
                if not self.registry.conforms(event):
                    skips = {*skips, (name, event.id)}
                    state.skipped.append((name, event.id, self.skip_message(name, event, failure.error)))
                    continue
                state.live.discard(name)
                state.failures.append(
                    self.mark_failing(session, name, event, failure.error, events[0].id - 1)
                )
                continue
            except BaseException:
                session.rollback_to(_SAVEPOINT)
                raise
            session.release(_SAVEPOINT)
            return

    def _bind(self, scopes: ConnectionScopes) -> dict[str, list[Bound]]:
        """The live dispatch table with each target's scoped connection and time budget
        looked up once per connection instead of once per event and handler."""
        return {
            event_type: [
                (name, handler, strict, scopes.projections[name], scopes.projection_scopes[name],
                 self.budgets.get(name))
                for name, handler, strict in targets
            ]
            for event_type, targets in self.dispatch.items()
        }

    def _apply_all(
        self, session: Session, live: set[str], work: Sequence[tuple[RecordedEvent, list[Bound]]],
        skips: AbstractSet[tuple[str, int]],
    ) -> None:
        """Every handler call of one attempt, in one frame: this loop runs for every
        appended event and each of its handlers, so it keeps to locals."""
        enter, leave = session.enter, session.leave
        for event, targets in work:
            for name, handler, strict, scoped, scope, budget in targets:
                if name not in live or (skips and (name, event.id) in skips):
                    continue
                try:
                    if budget is None:
                        # What ``with scoped:`` does, without its two method calls per handler.
                        enter(scope)
                        try:
                            handler(scoped, event.copy())
                        finally:
                            leave()
                    else:
                        run_within(session, budget, scoped, handler, event.copy())
                except Exception as error:
                    if not strict or not self.registry.conforms(event):
                        raise _HandlerFailed(name, event, error) from error
                    raise ProjectionFailedError(
                        self.failure_message(
                            name, event, error,
                            f"{name!r} is strict, so the append was rejected and nothing was written.",
                        )
                    ) from error

    def committed(self, scopes: ConnectionScopes, state: Live) -> None:
        """After COMMIT: log what failed and remember the state so the next transaction
        can skip reading it."""
        for message in state.failures:
            log.error("%s", message)
        for _name, _position, message in state.skipped:
            log.warning("%s", message)
        if state.marker is not None and state.head is not None:
            versions = state.versions
            if versions is None or len(versions) > _KEPT_VERSIONS:
                # Bounded: a long-lived connection appending to ever new workflows
                # would otherwise keep every one of them.
                versions = {}
            scopes.known = (state.marker, frozenset(state.live), state.head, versions)

    def apply_foreign(self, scopes: ConnectionScopes, state: Live, upto: int) -> None:
        """Apply rows that raw SQL inserted into ``events`` inside this transaction (on
        ``tx.connection``), between the kernel's own appends: without this the recorded
        position would pass over them and no catch-up would ever apply them. Reactors do
        not run for them: only kernel appends are reacted to."""
        assert state.head is not None
        self.apply(scopes, state, events_between(scopes.session, state.head, upto))
        state.head = upto

    def finish(self, scopes: ConnectionScopes, state: Live) -> None:
        """Record the live projections' position, in the appending transaction (after
        applying any rows raw SQL added since their last append)."""
        session = scopes.session
        if state.skipped:
            record_skips(session, state.skipped)
        if not state.live or state.head is None:
            return
        current = session.head()
        if current == state.start:
            return
        if current > state.head:
            self.apply_foreign(scopes, state, current)
        state.head = current
        names = sorted(state.live)
        session.execute(
            f"UPDATE evstore_projections SET position = ?, updated_at = ? "
            f"WHERE name IN ({','.join('?' * len(names))})",
            (current, _json.utc_now(), *names),
        )

    # --- failure --------------------------------------------------------------------

    def failure_message(self, name: str, event: RecordedEvent, error: BaseException, outcome: str) -> str:
        plugin = self.registry.projections[name].plugin
        where = (
            f"projection {name!r} ({plugin.distribution} {plugin.version})"
            if plugin.distribution
            else f"projection {name!r} (plugin {plugin.name!r})"
        )
        return (
            f"{where} failed on event {event.id} ({event.event_type}, workflow "
            f"{event.workflow_id!r}): {describe(error)}. {outcome} "
            f"Fix the plugin, or {plugin.how_to_disable()}."
        )

    def skip_message(self, name: str, event: RecordedEvent, error: BaseException) -> str:
        return (
            f"projection {name!r} skipped event {event.id} ({event.event_type}, workflow "
            f"{event.workflow_id!r}): its payload does not match the declared model and the "
            f"handler raised {describe(error)}. The event is stored; the "
            "projection stays current without it."
        )

    def mark_failing(
        self, session: Session, name: str, event: RecordedEvent, error: BaseException, position: int
    ) -> str:
        message = self.failure_message(
            name, event, error,
            f"The event is stored; {name!r} is marked failing at position {position} and "
            f"skipped until `evstore catch-up {name}` succeeds.",
        )
        session.execute(
            "UPDATE evstore_projections SET status = 'failing', position = ?, error = ?, "
            "failed_event = ?, updated_at = ? WHERE name = ?",
            (position, message, event.id, _json.utc_now(), name),
        )
        return message


def run_within(
    session: Session, budget: float, scoped: ScopedConnection, handler: Handler, event: RecordedEvent
) -> None:
    """Run one handler call with the database aborting its statements past ``budget``.
    ``handler`` gets the event as given (callers pass a copy where one is due)."""
    session.limit_statements(budget)
    try:
        with scoped:
            handler(scoped, event)
    except Exception as error:
        raise TimeBudgetError(budget, error) if _is_interruption(error) else error from error
    finally:
        session.limit_statements(None)


def _is_interruption(error: BaseException) -> bool:
    text = str(error)
    return "interrupted" in text or "statement timeout" in text


class TimeBudgetError(Exception):
    def __init__(self, budget: float, error: BaseException) -> None:
        super().__init__(
            f"a statement ran past the projection's time budget of {budget:g} s and was aborted "
            f"({str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__})"
        )


def record_skips(session: Session, skipped: Sequence[tuple[str, int, str]]) -> None:
    counts: dict[str, tuple[int, str]] = {}
    for name, _position, message in skipped:
        count, _ = counts.get(name, (0, ""))
        counts[name] = (count + 1, message)
    for name, (count, message) in sorted(counts.items()):
        session.execute(
            "UPDATE evstore_projections SET skipped = skipped + ?, last_skip = ? WHERE name = ?",
            (count, message, name),
        )


class _HandlerFailed(Exception):
    """A non-strict handler raised during a live append (internal control flow)."""

    def __init__(self, name: str, event: RecordedEvent, error: BaseException) -> None:
        super().__init__(name)
        self.name, self.event, self.error = name, event, error


def events_between(session: Session, after: int, upto: int) -> list[RecordedEvent]:
    rows = session.execute(
        f"SELECT {COLUMNS} FROM events WHERE id > ? AND id <= ? ORDER BY id", (after, upto)
    ).fetchall()
    return [RecordedEvent(row) for row in rows]
