"""Reading the log for the dashboard: filters, keyset pages, an event's chain.

Every statement is portable SQL (``?`` placeholders, no SQLite functions, text search
as ``lower(x) LIKE lower(?)``) run through ``store.reader``, so it runs unchanged on
every backend. Pages are keyset-paginated by position, never OFFSET: a page deep in a
million events costs what the first one does.

Filters on columns without an index (type, time, payload text) are searched in windows
of positions, newest first, until the page is full or a time budget is spent; the page
then says how far back it looked and links to the rest. So every page answers in
bounded time, however rare the match.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._errors import InvalidArgumentError
from .._store import EventStore

EVENT_COLUMNS = (
    "id, workflow_id, event_type, role, step_id, component_id, status, payload, timestamp, "
    "version, event_id, metadata"
)
PAGE_SIZE = 50
SCAN_WINDOW = 20_000  # positions per windowed query
SCAN_BUDGET = 0.35  # seconds a page may spend searching before it says how far it got
FOLLOW_UP_WINDOW = 2_000  # follow-ups commit in their cause's transaction, right after it
MAX_TEXT = 200


@dataclass(frozen=True)
class LogEvent:
    """One row of ``events``, as the dashboard shows it."""

    id: int
    workflow_id: str
    event_type: str
    role: str | None
    step_id: str | None
    component_id: str | None
    status: str | None
    payload_json: str
    timestamp: str
    version: int | None
    event_id: str
    metadata_json: str

    @property
    def payload(self) -> Any:
        return _decode(self.payload_json)

    @property
    def metadata(self) -> dict[str, Any]:
        value = _decode(self.metadata_json)
        return value if isinstance(value, dict) else {}

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id, "workflow_id": self.workflow_id, "event_type": self.event_type,
            "version": self.version, "role": self.role, "step_id": self.step_id,
            "component_id": self.component_id, "status": self.status, "timestamp": self.timestamp,
            "event_id": self.event_id,
        }

    def summary(self, width: int = 120) -> str:
        """The payload on one line, cut to ``width`` characters."""
        text = " ".join(self.payload_json.split()) if self.payload_json else ""
        return text if len(text) <= width else text[: width - 1] + "…"


def _decode(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text  # raw SQL can store anything; show it as it is


def _rows(store: EventStore, sql: str, params: list[Any]) -> list[LogEvent]:
    return [LogEvent(*row) for row in store.reader.fetchall(sql, params)]


@dataclass(frozen=True)
class LogFilter:
    """What the log page's form asks for. Build it with :meth:`from_params`."""

    workflow: str | None = None
    event_type: str | None = None
    since: str | None = None
    until: str | None = None
    text: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> LogFilter:
        def get(name: str) -> str | None:
            value = (params.get(name) or "").strip()
            if len(value) > MAX_TEXT:
                raise InvalidArgumentError(f"the {name} filter is longer than {MAX_TEXT} characters")
            return value or None

        return cls(
            workflow=get("workflow"), event_type=get("type"),
            since=_timestamp_bound("since", get("since")), until=_timestamp_bound("until", get("until")),
            text=get("text"),
        )

    @property
    def active(self) -> bool:
        return any((self.workflow, self.event_type, self.since, self.until, self.text))

    @property
    def windowed(self) -> bool:
        """Whether the filter needs windowed search: the (workflow_id, version) index
        answers a workflow filter directly; nothing else has an index."""
        return self.workflow is None and self.active

    def clauses(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.workflow:
            clauses.append("workflow_id = ?")
            params.append(self.workflow)
        if self.event_type:
            clauses.append("event_type = ?")
            params.append(self.event_type)
        if self.since:
            clauses.append("timestamp >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("timestamp < ?")
            params.append(self.until)
        if self.text:
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("lower(payload) LIKE lower(?) ESCAPE '\\'")
            params.append(f"%{escaped}%")
        return clauses, params

    def as_params(self) -> dict[str, str]:
        pairs = {"workflow": self.workflow, "type": self.event_type, "since": self.since, "until": self.until,
                 "text": self.text}
        return {k: v for k, v in pairs.items() if v}


def _timestamp_bound(name: str, value: str | None) -> str | None:
    """A date or date-time (the browser's ``datetime-local``; UTC when it names no
    zone) in the stored timestamp format, so text comparison is time order."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgumentError(
            f"{name} must be a date or date-time such as 2025-01-31 or 2025-01-31T14:30, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class LogPage:
    events: list[LogEvent]
    """Newest first."""
    older: int | None
    """Pass as ``before`` for the next older page (None: nothing older)."""
    newer: int | None
    """Pass as ``after`` for the next newer page (None: nothing newer, or this is the newest)."""
    searched_to: int | None
    """When a windowed search stopped short of a full page: the oldest position it looked at."""
    head: int


def log_page(
    store: EventStore, log_filter: LogFilter, *, before: int | None = None, after: int | None = None,
    limit: int = PAGE_SIZE,
) -> LogPage:
    """A page of the log, newest first: the ``limit`` matching events below ``before``
    (default: the newest), or, with ``after``, the ``limit`` just above ``after``."""
    head = store.head()
    if after is not None:
        found, reached = _scan_up(store, log_filter, after, head, limit + 1)
        more = len(found) > limit
        found = found[:limit]
        newer = found[-1].id if more else (reached if reached < head else None)
        found.reverse()
        lowest = found[-1].id if found else after + 1
        return LogPage(found, lowest if lowest > 1 else None, newer, None, head)
    top = head + 1 if before is None else min(before, head + 1)
    found, reached = _scan_down(store, log_filter, top, limit + 1)
    full = len(found) > limit
    found = found[:limit]
    older = found[-1].id if full else (reached if reached > 1 else None)
    newer = None if before is None else (found[0].id if found else top - 1)
    searched_to = None if full or reached <= 1 else reached
    return LogPage(found, older, newer, searched_to, head)


def _scan_down(store: EventStore, log_filter: LogFilter, top: int, want: int) -> tuple[list[LogEvent], int]:
    """Events below ``top``, newest first, at most ``want``; and the lowest position
    searched (1 when the search reached the start of the log)."""
    clauses, params = log_filter.clauses()
    if not log_filter.windowed:
        order = "version DESC" if log_filter.workflow else "id DESC"  # a workflow's versions follow its positions
        sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join([*clauses, 'id < ?'])} "
               f"ORDER BY {order} LIMIT ?")
        rows = _rows(store, sql, [*params, top, want])
        return rows, (1 if len(rows) < want else rows[-1].id)
    found: list[LogEvent] = []
    started = time.perf_counter()
    high = top
    sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join([*clauses, 'id < ?', 'id >= ?'])} "
           "ORDER BY id DESC LIMIT ?")
    while high > 1 and len(found) < want:
        low = max(1, high - SCAN_WINDOW)
        found.extend(_rows(store, sql, [*params, high, low, want - len(found)]))
        high = low
        if time.perf_counter() - started > SCAN_BUDGET:
            break
    if len(found) >= want:
        return found, found[-1].id
    return found, high


def _scan_up(store: EventStore, log_filter: LogFilter, after: int, head: int, want: int) -> tuple[list[LogEvent], int]:
    clauses, params = log_filter.clauses()
    if not log_filter.windowed:
        order = "version ASC" if log_filter.workflow else "id ASC"
        sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join([*clauses, 'id > ?'])} "
               f"ORDER BY {order} LIMIT ?")
        rows = _rows(store, sql, [*params, after, want])
        return rows, head
    found: list[LogEvent] = []
    started = time.perf_counter()
    low = after
    sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join([*clauses, 'id > ?', 'id <= ?'])} "
           "ORDER BY id ASC LIMIT ?")
    while low < head and len(found) < want:
        high = min(head, low + SCAN_WINDOW)
        found.extend(_rows(store, sql, [*params, low, high, want - len(found)]))
        low = high
        if time.perf_counter() - started > SCAN_BUDGET:
            break
    return found, low


def events_after(
    store: EventStore, log_filter: LogFilter, after: int, *, limit: int = 200
) -> tuple[list[LogEvent], int]:
    """For the live tail: matching events above ``after`` in position order, and the
    position to continue from (the head searched, even when nothing matched)."""
    head = store.head()
    if head <= after:
        return [], after
    high = min(head, after + SCAN_WINDOW)
    clauses, params = log_filter.clauses()
    sql = (f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join([*clauses, 'id > ?', 'id <= ?'])} "
           "ORDER BY id ASC LIMIT ?")
    rows = _rows(store, sql, [*params, after, high, limit])
    return rows, (rows[-1].id if len(rows) == limit else high)


def get_event(store: EventStore, position: int) -> LogEvent | None:
    rows = _rows(store, f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", [position])
    return rows[0] if rows else None


def get_event_by_id(store: EventStore, event_id: str) -> LogEvent | None:
    rows = _rows(store, f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?", [event_id])
    return rows[0] if rows else None


@dataclass(frozen=True)
class Chain:
    """How an event relates to others through its metadata."""

    causes: list[LogEvent]
    """The event that caused it, the one that caused that, ... (nearest first)."""
    root: LogEvent | None
    """The event named by its ``correlation_id``, when that is another event."""
    follow_ups: list[LogEvent]
    """Events whose ``causation_id`` is this event (reactor follow-ups)."""
    workflow_neighbours: tuple[LogEvent | None, LogEvent | None]


def chain(store: EventStore, event: LogEvent, *, depth: int = 20) -> Chain:
    causes: list[LogEvent] = []
    seen = {event.event_id}
    cause_id = event.metadata.get("causation_id")
    while isinstance(cause_id, str) and cause_id not in seen and len(causes) < depth:
        seen.add(cause_id)
        cause = get_event_by_id(store, cause_id)
        if cause is None:
            break
        causes.append(cause)
        cause_id = cause.metadata.get("causation_id")
    correlation = event.metadata.get("correlation_id")
    root = None
    if isinstance(correlation, str) and correlation != event.event_id:
        root = get_event_by_id(store, correlation)
    # Reactors append follow-ups in the cause's transaction, so they sit just after it;
    # the LIKE narrows the window to rows naming this event id before JSON decoding.
    candidates = _rows(
        store,
        f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? AND id <= ? AND metadata LIKE ? ORDER BY id LIMIT 200",
        [event.id, event.id + FOLLOW_UP_WINDOW, f"%{event.event_id}%"],
    )
    follow_ups = [c for c in candidates if c.metadata.get("causation_id") == event.event_id]
    neighbours: tuple[LogEvent | None, LogEvent | None] = (None, None)
    if event.version is not None:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE workflow_id = ? AND version = ?"
        before = _rows(store, sql, [event.workflow_id, event.version - 1])
        after = _rows(store, sql, [event.workflow_id, event.version + 1])
        neighbours = (before[0] if before else None, after[0] if after else None)
    return Chain(causes, root, follow_ups, neighbours)


def workflow_events(store: EventStore, workflow_id: str, *, after_version: int = 0, limit: int = 200) -> list[LogEvent]:
    """A workflow's events in version order, above ``after_version``."""
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE workflow_id = ? AND version > ? ORDER BY version LIMIT ?"
    return _rows(store, sql, [workflow_id, after_version, limit])


def workflow_summary(store: EventStore, workflow_id: str) -> tuple[int, int | None, int | None]:
    """(events, first position, last position) of a workflow."""
    row = store.reader.fetchone(
        "SELECT COUNT(*), MIN(id), MAX(id) FROM events WHERE workflow_id = ?", [workflow_id]
    )
    return int(row[0]), row[1], row[2]


def list_workflows(store: EventStore, *, after: str | None = None, contains: str | None = None,
                   limit: int = PAGE_SIZE) -> list[tuple[str, int, int]]:
    """Workflow ids in text order after ``after`` (keyset), with their event count and
    latest position; ``contains`` keeps ids containing that text (any case)."""
    clauses, params = ["workflow_id > ?"], [after or ""]
    if contains:
        escaped = contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("lower(workflow_id) LIKE lower(?) ESCAPE '\\'")
        params.append(f"%{escaped}%")
    rows = store.reader.fetchall(
        f"SELECT workflow_id, COUNT(*), MAX(id) FROM events WHERE {' AND '.join(clauses)} "
        "GROUP BY workflow_id ORDER BY workflow_id LIMIT ?",
        [*params, limit],
    )
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def recent_workflows(store: EventStore, *, window: int = 5_000, limit: int = 15) -> list[tuple[str, int]]:
    """The workflows with events among the newest ``window`` positions, latest first."""
    head = store.head()
    rows = store.reader.fetchall(
        "SELECT workflow_id, MAX(id) FROM events WHERE id > ? GROUP BY workflow_id ORDER BY MAX(id) DESC LIMIT ?",
        [max(0, head - window), limit],
    )
    return [(str(r[0]), int(r[1])) for r in rows]
