"""``evstore init``, ``evstore append`` and ``evstore events``: the log itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import ANY, EXISTS, NO_STREAM, EventStore, EvstoreError, ExpectedVersion, NewEvent, RecordedEvent
from ._lines import BadLine, decode, event_from_json, numbered_lines
from ._shared import (
    CommandError,
    database_path,
    db_option,
    echo_json,
    event_line,
    open_store,
    stderr_console,
)

TABLE_LIMIT = 1000  # a terminal table of more rows helps nobody; --json streams any number
_READ_PAGE = 1000

# --- init ---------------------------------------------------------------------------------


@click.command("init", short_help="Create the database and install the projections.")
@db_option
def init_command(db: Path | None) -> None:
    """Create the database (and its folder) and install the loaded plugins' projections.

    Running it again is safe: an existing store is opened, new projections are installed
    and caught up, and nothing else changes.

    Exit status: 0 ok; 2 the path cannot hold a store (a directory, not writable, not an
    evstore database) or a plugin failed to load.
    """
    path = database_path(db)
    existed = path.exists()
    with open_store(db, create=True) as store:
        statuses = store.projection_status()
        head = store.head()
    verb = "opened existing store" if existed else "created store"
    click.echo(f"{verb} {path} ({head:,} events)")
    for status in statuses:
        click.echo(f"  projection {status.name} v{status.version}: {status.status}, position {status.position:,}")
    if not statuses:
        click.echo("  no projections loaded (see `evstore plugins`)")


# --- append -------------------------------------------------------------------------------


class _ExpectedVersionType(click.ParamType[ExpectedVersion | int]):
    name = "any|no-stream|exists|N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> ExpectedVersion | int:
        if isinstance(value, (ExpectedVersion, int)):
            return value
        text = str(value).strip().lower().replace("_", "-")
        named = {"any": ANY, "no-stream": NO_STREAM, "exists": EXISTS}
        if text in named:
            return named[text]
        if text.isdigit():
            return int(text)
        self.fail(f"{value!r} is not one of any, no-stream, exists or a version number >= 0", param, ctx)


@click.command("append", short_help="Append events (JSON or JSON lines) from a file or stdin.")
@click.argument("source", type=click.File("rb"), default="-")
@db_option
@click.option(
    "--expected-version",
    "expected",
    type=_ExpectedVersionType(),
    default=None,
    help="Append only if the workflow is at this version (any, no-stream, exists or a number); "
    "all events must then belong to one workflow.",
)
@click.option("--permissive", is_flag=True, help="Accept event types no loaded plugin declares.")
@click.option("--json", "as_json", is_flag=True, help="Print the positions as JSON.")
def append_command(
    source: IO[bytes], db: Path | None, expected: ExpectedVersion | int | None, permissive: bool, as_json: bool
) -> None:
    """Append events from SOURCE (a file, or - for stdin, the default): one JSON object,
    or JSON lines, each with the envelope's fields. workflow_id and event_type are
    required; role, step_id, component_id, status, payload, metadata, event_id and
    timestamp (ISO-8601) are optional. All events commit together or none does; the
    database is created if missing. Prints each event's position.

    Exit status: 0 appended (an event_id already stored is a retry: its original position
    is printed); 2 bad input (the line is named), a version conflict, or a store error.
    """
    numbered = _read_events(source)
    if expected is not None and expected is not ANY and len({e.workflow_id for _, e in numbered}) > 1:
        raise click.UsageError("--expected-version needs every event to belong to one workflow")
    with open_store(db, create=True, permissive=permissive) as store:
        positions = _append_all(store, numbered, expected)
    if as_json:
        echo_json(
            [
                {"position": p, "workflow_id": e.workflow_id, "event_type": e.event_type, "event_id": str(e.event_id)}
                for (_, e), p in zip(numbered, positions, strict=True)
            ]
        )
        return
    for position in positions:
        click.echo(position)


def _read_events(source: IO[bytes]) -> list[tuple[int, NewEvent]]:
    """The input's events, each with the line it starts on (for error messages)."""
    data = source.read()
    required = ("workflow_id", "event_type")
    try:
        whole = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        whole = None  # not one JSON document: read it as JSON lines below
    try:
        if whole is not None:
            # One document: a single (maybe pretty-printed) object.
            return [(1, event_from_json(whole, 1, required=required))]
        numbered = [
            (number, event_from_json(decode(raw, number), number, required=required))
            for number, raw in numbered_lines(data.splitlines())
        ]
    except BadLine as error:
        raise CommandError(f"{error}; nothing was appended") from None
    if not numbered:
        raise CommandError("no events in the input: give one JSON object, or one per line")
    return numbered


def _append_all(
    store: EventStore, numbered: list[tuple[int, NewEvent]], expected: ExpectedVersion | int | None
) -> list[int]:
    positions = []
    with store.transaction() as tx:
        for index, (line, event) in enumerate(numbered):
            # The check applies before the first event, like append_many(expected_version=...):
            # the others follow it in the same transaction.
            guard = expected if index == 0 and expected is not None else ANY
            try:
                positions.append(tx.append(event, expected_version=guard))
            except EvstoreError as error:
                raise CommandError(f"line {line}: {error}; nothing was appended") from error
    return positions


# --- events -------------------------------------------------------------------------------


@click.command("events", short_help="List events (filters, --json, --follow).")
@db_option
@click.option("-w", "--workflow", help="Only this workflow's events.")
@click.option("-t", "--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--after", type=click.IntRange(min=0), default=0, help="Only events after this position.")
@click.option(
    "-n", "--limit", type=click.IntRange(min=0), default=None,
    help=f"At most this many events (the table shows at most {TABLE_LIMIT} unless given).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (the export format).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they commit (Ctrl-C stops).")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
    help="With --follow: stop after this many seconds.",
)
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.5, hidden=True, help="Seconds between polls.")
def events_command(
    db: Path | None,
    workflow: str | None,
    types: tuple[str, ...],
    after: int,
    limit: int | None,
    as_json: bool,
    follow: bool,
    timeout: float | None,
    interval: float,
) -> None:
    """List events in position order, as a table or as JSON lines (--json).

    --follow prints the matching events, then polls for new ones until interrupted
    (or --timeout, or --limit events printed), one line each.

    Exit status: 0 ok; 2 usage or store error (no database at the path included).
    """
    if timeout is not None and not follow:
        raise click.UsageError("--timeout only applies with --follow")
    type_filter = list(types) or None
    with open_store(db) as store:
        if follow:
            _follow(store, workflow, type_filter, after, limit, as_json, timeout, interval)
            return
        matching = _matching(store, workflow, type_filter, after)
        if as_json:
            for count, event in enumerate(matching, start=1):
                if limit is not None and count > limit:
                    break
                click.echo(event_line(event))
            return
        shown_max = TABLE_LIMIT if limit is None else limit
        shown: list[RecordedEvent] = []
        more = False
        for event in matching:
            if len(shown) == shown_max:
                more = True
                break
            shown.append(event)
    _print_table(shown, Console())
    if more and limit is None:
        stderr_console().print(
            f"showing the first {TABLE_LIMIT} events; narrow with --after/--limit, or use --json for all"
        )


def _matching(
    store: EventStore, workflow: str | None, types: list[str] | None, after: int
) -> Iterator[RecordedEvent]:
    """The events matching the filters, position order, read page by page."""
    if workflow is None:
        yield from store.iter_all(after=after, types=types)
        return
    version = 1
    while True:
        page = store.read(workflow, from_version=version, types=types, limit=_READ_PAGE)
        for event in page:
            if event.id > after:
                yield event
        if len(page) < _READ_PAGE:
            return
        version = page[-1].version + 1


def _follow(
    store: EventStore,
    workflow: str | None,
    types: list[str] | None,
    after: int,
    limit: int | None,
    as_json: bool,
    timeout: float | None,
    interval: float,
) -> None:
    render = event_line if as_json else _one_line

    def emit(event: RecordedEvent) -> None:
        click.echo(render(event))

    try:
        _tail(store, workflow, types, after, limit, emit, timeout, interval)
    except KeyboardInterrupt:
        return  # Ctrl-C is how one stops following: not an error


def _tail(
    store: EventStore,
    workflow: str | None,
    types: list[str] | None,
    after: int,
    limit: int | None,
    emit: Callable[[RecordedEvent], None],
    timeout: float | None,
    interval: float,
) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    printed = 0
    # Positions are commit order, so everything up to the head read now is visible to the
    # listing below; polling resumes after it and misses nothing, repeats nothing.
    cursor = max(after, store.head())
    for event in _matching(store, workflow, types, after):
        if limit is not None and printed >= limit:
            return
        emit(event)
        printed += 1
        cursor = max(cursor, event.id)
    while limit is None or printed < limit:
        page = store.read_all(after=cursor, limit=_READ_PAGE, types=types)
        for event in page:
            cursor = event.id
            if workflow is not None and event.workflow_id != workflow:
                continue
            emit(event)
            printed += 1
            if limit is not None and printed >= limit:
                return
        if len(page) == _READ_PAGE:
            continue  # more is waiting: no sleep
        if deadline is not None and time.monotonic() >= deadline:
            return
        time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))


def _one_line(event: RecordedEvent) -> str:
    details = " ".join(
        f"{name}={value}"
        for name, value in (
            ("step", event.step_id), ("role", event.role), ("component", event.component_id),
            ("status", event.status),
        )
        if value is not None
    )
    text = f"{event.id:>8}  {event.timestamp_text}  {event.workflow_id} v{event.version}  {event.event_type}"
    return f"{text}  {details}" if details else text


_WIDE = 120  # below this many columns the table leaves out role, status and payload


def _print_table(events: list[RecordedEvent], console: Console) -> None:
    if not events:
        console.print("No events.")
        return
    columns = ["pos", "workflow", "ver", "type", "step", "role", "status", "time (UTC)", "payload"]
    if console.width < _WIDE:
        columns = [c for c in columns if c not in ("role", "status", "payload")]
    table = Table(title=f"{len(events)} event(s)")
    for column in columns:
        table.add_column(
            column,
            justify="right" if column in ("pos", "ver") else "left",
            no_wrap=column in ("pos", "ver", "time (UTC)"),
        )
    for event in events:
        payload = event.payload_json if len(event.payload_json) <= 60 else event.payload_json[:57] + "..."
        cells = {
            "pos": str(event.id), "workflow": event.workflow_id, "ver": str(event.version),
            "type": event.event_type, "step": event.step_id, "role": event.role, "status": event.status,
            "time (UTC)": _short_time(event.timestamp_text), "payload": payload,
        }
        # Text(): event data is shown as is, never read as rich markup.
        table.add_row(*(Text(cells[column] or "") for column in columns))
    console.print(table)


def _short_time(text: str) -> str:
    """``2026-01-31T12:00:00.123456+00:00`` as ``2026-01-31 12:00:00.123`` (times are UTC)."""
    return text[:23].replace("T", " ") if text.endswith("+00:00") else text
