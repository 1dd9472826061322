"""Durable, named consumers of the log for code outside the store: queues, webhooks,
search indexes.

A subscription's checkpoint lives in the store (``evstore_subscriptions``): every event
at or before it has been delivered and acknowledged. Delivery is at least once: events
handed out after the checkpoint come again after a crash, until :meth:`commit` records
that they were processed; committing is idempotent (it never moves the checkpoint back).
A subscription filtered by type still advances over the events it does not want, so a
rare type does not leave it re-scanning the whole log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import _json
from ._envelope import COLUMNS, RecordedEvent
from ._errors import InvalidArgumentError
from ._store_parts import _type_filter, type_names
from ._validate import check_int, check_number

if TYPE_CHECKING:
    from ._store import EventStore

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


class Subscription:
    """A named consumer with its own checkpoint. Get one with ``store.subscribe``.

    ::

        feed = store.subscribe("search-index", types=["step_completed"])
        for event in feed:              # what is there now; feed.follow() waits for more
            index(event)
        # iterating commits each batch once the next is asked for; commit() the last one
        feed.commit()

    A commit inside ``store.transaction()`` joins it: the checkpoint and what the block
    wrote to the store commit together, or roll back together (then :meth:`rewind`
    hands the batch out again).
    """

    def __init__(
        self, store: EventStore, name: str, *, types: Iterable[str] | None = None, after: int = 0,
        batch_size: int = 100,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidArgumentError(
                f"subscription name must be 1-200 letters, digits or _.:- characters, got {name!r}"
            )
        self.store = store
        self.name = name
        self.types = None if types is None else _types(store, name, types)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.checkpoint = self._open(check_int("after", after, minimum=0))
        self.cursor = self.checkpoint  # how far has been handed out (>= checkpoint)

    def _open(self, after: int) -> int:
        """The stored checkpoint, or ``after`` for a new subscription."""
        encoded = None if self.types is None else _json.dumps(self.types)
        with self.store.transaction() as tx:
            session = tx._session
            found = session.execute(
                "SELECT position, types FROM evstore_subscriptions WHERE name = ?", (self.name,)
            ).fetchone()
            now = _json.utc_now()
            if found is None:
                head = session.head()
                if after > head:
                    # It would pass over the next events appended, never delivering them.
                    raise InvalidArgumentError(
                        f"subscription {self.name!r} cannot start after position {after}: the log's "
                        f"head is {head}, so the next {after - head} events appended would be "
                        "passed over. Start at most at the head (after=store.head())."
                    )
                session.execute(
                    "INSERT INTO evstore_subscriptions (name, position, types, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (self.name, after, encoded, now, now),
                )
                return after
            if found[1] != encoded:
                session.execute(
                    "UPDATE evstore_subscriptions SET types = ?, updated_at = ? WHERE name = ?",
                    (encoded, now, self.name),
                )
            return int(found[0])

    def fetch(self, limit: int | None = None) -> list[RecordedEvent]:
        """The next events after the cursor (at most ``limit``, default ``batch_size``)
        of the subscription's types; advances the cursor over everything looked at, but
        not the checkpoint: :meth:`commit` does that once they are processed."""
        limit = self.batch_size if limit is None else check_int("limit", limit, minimum=1)
        with self.store.snapshot() as reader:
            head = int(reader.fetchvalue("SELECT COALESCE(MAX(id), 0) FROM events"))
            clauses = ["id > ?", "id <= ?"]
            parameters: list[Any] = [self.cursor, head]
            _type_filter(self.types, clauses, parameters)
            rows = reader.fetchall(
                f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
                (*parameters, limit),
            )
        events = [RecordedEvent(row) for row in rows]
        self.cursor = events[-1].id if len(events) == limit else max(self.cursor, head)
        return events

    def commit(self, position: int | None = None) -> None:
        """Record that everything up to ``position`` (default: the cursor) is processed.
        Idempotent, and never moves the checkpoint back; a position past the cursor (not
        handed out yet) is refused."""
        target = self.cursor if position is None else check_int("position", position, minimum=0)
        if target <= self.checkpoint:
            return
        if target > self.cursor:
            # Past what was handed out: events never delivered would count as processed
            # (past the head, every event appended until then would be passed over).
            raise InvalidArgumentError(
                f"subscription {self.name!r} can commit at most position {self.cursor}, how far "
                f"it has handed out events, not {target}: fetch (or iterate) further first"
            )
        joined = self.store._in_transaction()
        with self.store.transaction() as tx:
            tx._session.execute(
                "UPDATE evstore_subscriptions SET position = ?, updated_at = ? WHERE name = ? AND position < ?",
                (target, _json.utc_now(), self.name, target),
            )
        if not joined:
            # Inside the caller's store.transaction() the update commits or rolls back
            # with the block. Kept here at once, a rolled-back batch would be skipped:
            # rewind() would not hand it out again, and the next commit would write a
            # checkpoint past it.
            self.checkpoint = target

    def rewind(self) -> None:
        """Hand out again everything after the stored checkpoint (after a failed batch,
        or a ``store.transaction()`` holding a commit that rolled back)."""
        with self.store.snapshot() as reader:
            stored = reader.fetchvalue("SELECT position FROM evstore_subscriptions WHERE name = ?", (self.name,))
        if stored is not None:
            self.checkpoint = max(self.checkpoint, int(stored))
        self.cursor = self.checkpoint

    def __iter__(self) -> Iterator[RecordedEvent]:
        """The events there are now, a batch at a time; each batch is committed when the
        next is fetched (at least once: a crash mid-batch delivers it again)."""
        while True:
            batch = self.fetch()
            if not batch:
                self.commit()  # filtered-out events at the end count as looked at
                return
            yield from batch
            # Asked for more: the consumer is done with this batch (and with whatever
            # the cursor passed over without handing out).
            self.commit()

    def follow(
        self, *, poll_interval: float = 0.5, stop: threading.Event | None = None
    ) -> Iterator[RecordedEvent]:
        """Like iterating, but waits for new events instead of ending; ``stop`` ends it."""
        interval = check_number("poll_interval", poll_interval, minimum=0.001)
        stop = stop or threading.Event()
        while not stop.is_set():
            delivered = False
            for event in self:
                delivered = True
                yield event
                if stop.is_set():
                    return
            if not delivered:
                stop.wait(interval)

    def lag(self) -> int:
        """Events in the log after the checkpoint (of any type)."""
        return max(0, self.store.head() - self.checkpoint)


def _types(store: EventStore, name: str, types: Iterable[str]) -> list[str]:
    """The filter's type names, sorted, refused unless each could match an event."""
    chosen = [types] if isinstance(types, str) else list(types)  # once: it may be an iterator
    if not chosen:
        # An empty filter would match nothing and pass over every event for good; on
        # PostgreSQL its SQL (IN ()) would not even parse.
        raise InvalidArgumentError(
            f"subscription {name!r} was given an empty list of types, which no event matches; "
            "pass types=None for every type, or name at least one"
        )
    chosen = type_names(chosen)
    registry = store.registry
    if not registry.permissive:
        # A misspelt type would match nothing while the checkpoint advances past every
        # event: the consumer would lose them without a sign. A store that is not
        # permissive stores only declared types, so any other name is a mistake.
        for value in chosen:
            if value not in registry.event_types:
                close = registry.similar_event_types(value)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InvalidArgumentError(
                    f"subscription {name!r} filters on event type {value!r}, which no loaded plugin "
                    f"declares, so it would match nothing and pass over every event.{hint} Load the "
                    "plugin that declares it, or open the store with permissive=True."
                )
    return sorted(set(chosen))
