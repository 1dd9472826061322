"""``evstore init``, ``evstore append`` and ``evstore events``: the log itself."""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

from .. import ANY, EXISTS, NO_STREAM, EventStore, ExpectedVersion, NewEvent, RecordedEvent, Transaction
from ._appending import LineFailed, append_numbered
from ._console import cell, fits, folding_column, print_table, stderr_console, stdout_console, table, whole_column
from ._errors import as_click_error
from ._lines import BadLine, iter_events
from ._shared import (
    MAX_INT64,
    POSITION,
    CommandError,
    FiniteFloat,
    Stopwatch,
    database_target,
    db_option,
    echo_json,
    event_line,
    events_text,
    max_payload_option,
    open_store,
    sqlite_path,
    summary,
)

TABLE_LIMIT = 1000  # a terminal table of more rows helps nobody; --json streams any number
_READ_PAGE = 1000

# --- init ---------------------------------------------------------------------------------


@click.command("init", short_help="Create the database and install the projections.")
@db_option
def init_command(db: Path | str | None) -> None:
    """Create the database (and its folder) and install the loaded plugins' projections.

    Running it again is safe: an existing store is opened, new projections are installed
    and caught up, and nothing else changes.

    Exit status: 0 ok; 2 the path cannot hold a store (a directory, not writable, not an
    evstore database) or a plugin failed to load.
    """
    target = database_target(db)
    path = sqlite_path(target)
    existed = path is None or path.exists()
    with open_store(db, create=True) as store:
        statuses = store.projection_status()
        head = store.head()
    verb = "opened existing store" if existed else "created store"
    click.echo(f"{verb} {target} ({head:,} events)")
    for status in statuses:
        click.echo(f"  projection {status.name} v{status.version}: {status.status}, position {status.position:,}")
    if not statuses:
        click.echo("  no projections loaded (see `evstore plugins`)")


# --- append ---------------------------------------------------------------------------------

APPEND_BATCH = 1000  # events parsed and appended at a time: memory stays flat whatever the input


if TYPE_CHECKING:
    _VersionParam = click.ParamType[ExpectedVersion | int]
else:
    _VersionParam = click.ParamType  # not subscriptable at run time before click 8.2


class _ExpectedVersionType(_VersionParam):
    name = "any|no-stream|exists|N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> ExpectedVersion | int:
        if isinstance(value, (ExpectedVersion, int)):
            return value
        text = str(value).strip().lower().replace("_", "-")
        named = {"any": ANY, "no-stream": NO_STREAM, "exists": EXISTS}
        if text in named:
            return named[text]
        if text.isdigit() and int(text) <= MAX_INT64:
            return int(text)
        self.fail(f"{value!r} is not one of any, no-stream, exists or a version number >= 0", param, ctx)


@dataclass
class AppendReport:
    appended: int = 0  # new events
    already_present: int = 0  # an event_id already stored: a retry, not stored again
    first_position: int | None = None
    last_position: int | None = None
    keep_positions: bool = False
    positions: array[int] = field(default_factory=lambda: array("q"))  # 8 bytes an event, if kept

    def add(self, positions: list[int], head: int) -> None:
        if self.keep_positions:
            self.positions.extend(positions)
        for position in positions:
            if position > head:
                self.appended += 1
            else:
                self.already_present += 1
        if positions:
            if self.first_position is None:
                self.first_position = positions[0]
            self.last_position = positions[-1]

    def to_json(self, seconds: float) -> dict[str, Any]:
        return {
            "appended": self.appended,
            "already_present": self.already_present,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "seconds": round(seconds, 3),
        }


@click.command("append", short_help="Append events (JSON or JSON lines) from a file or stdin.")
@click.argument("source", type=click.File("rb"), default="-")
@db_option
@click.option(
    "--expected-version",
    "expected",
    type=_ExpectedVersionType(),
    default=None,
    help="Append only if the workflow is at this version (any, no-stream, exists or a number); "
    "all events must then belong to one workflow. A mismatch exits with status 3.",
)
@click.option("--permissive", is_flag=True, help="Accept event types no loaded plugin declares.")
@max_payload_option
@click.option("--positions", "print_positions", is_flag=True, help="Print each event's position, one per line.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def append_command(
    source: IO[bytes],
    db: Path | str | None,
    expected: ExpectedVersion | int | None,
    permissive: bool,
    max_payload_bytes: int | None,
    print_positions: bool,
    as_json: bool,
) -> None:
    """Append events from SOURCE (a file, or - for stdin, the default): one JSON object,
    or JSON lines, each with the envelope's fields. workflow_id and event_type are
    required; role, step_id, component_id, status, payload, metadata, event_id and
    timestamp (ISO-8601) are optional. JSON may nest at most 200 levels deep.

    The input is read and appended as it streams in, in one transaction: all events
    commit together or none does. The database is created if missing. Prints one
    summary line (--json: a JSON object; --positions: each event's position).

    Exit status: 0 appended (an event_id already stored is a retry: it is counted as
    already present and not stored again); 2 bad input (the line is named) or a store
    error; 3 a version conflict (--expected-version).
    """
    clock = Stopwatch()
    report = AppendReport(keep_positions=print_positions)
    events = iter_events(source, required=("workflow_id", "event_type"))
    with open_store(db, create=True, permissive=permissive, max_payload_bytes=max_payload_bytes) as store:
        _append_stream(store, events, expected, report)
    if report.appended + report.already_present == 0:
        raise CommandError("no events in the input: give one JSON object, or one per line")
    if as_json:
        echo_json(report.to_json(clock.seconds))
    elif print_positions:
        for position in report.positions:
            click.echo(position)
    else:
        click.echo(_append_summary(report, clock))


def _append_summary(report: AppendReport, clock: Stopwatch) -> str:
    count = report.appended + report.already_present
    where = (
        f"position {report.first_position:,}" if report.first_position == report.last_position
        else f"positions {report.first_position:,}-{report.last_position:,}"
    )
    present = f", {report.already_present:,} already present" if report.already_present else ""
    timing = summary(count, clock.seconds, clock.rate(count))
    return f"appended {events_text(report.appended)}{present} at {where}: {timing}"


def _append_stream(
    store: EventStore,
    events: Iterator[tuple[int, NewEvent]],
    expected: ExpectedVersion | int | None,
    report: AppendReport,
) -> None:
    """Append batch after batch in one transaction. A failure rolls everything back; the
    message names the line, found by replaying the failed batch event by event."""
    guarded = expected is not None and expected is not ANY
    workflow: str | None = None
    with store.transaction() as tx:
        head = store.head()
        while True:
            try:
                batch = list(islice(events, APPEND_BATCH))
            except BadLine as error:
                raise CommandError(f"{str(error).rstrip('.')}. Nothing was appended.") from None
            if not batch:
                return
            if guarded:
                workflow = workflow or batch[0][1].workflow_id
                stray = next((line for line, e in batch if e.workflow_id != workflow), None)
                if stray is not None:
                    raise click.UsageError(
                        f"line {stray}: --expected-version needs every event to belong to one workflow "
                        f"({workflow!r}). Nothing was appended."
                    )
            first = report.first_position is None
            guard = expected if first and expected is not None else ANY
            positions = _append_batch(store, tx, batch, guard)
            report.add(positions, head)


def _append_batch(
    store: EventStore, tx: Transaction, batch: list[tuple[int, NewEvent]], guard: ExpectedVersion | int
) -> list[int]:
    try:
        return append_numbered(store, tx, batch, guard)
    except LineFailed as failed:
        failure = as_click_error(failed.error, None)
        assert failure is not None
        message = failure.message.rstrip(".")
        raise type(failure)(f"line {failed.line}: {message}. Nothing was appended.") from failed.error


# --- events -------------------------------------------------------------------------------


@click.command("events", short_help="List events (filters, --json, --follow).")
@db_option
@click.option("-w", "--workflow", help="Only this workflow's events.")
@click.option("-t", "--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--after", type=POSITION, default=0, help="Only events after this position.")
@click.option(
    "-n", "--limit", type=POSITION, default=None,
    help=f"At most this many events (the table shows at most {TABLE_LIMIT} unless given).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (the export format).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they commit (Ctrl-C stops).")
@click.option(
    "--timeout", type=FiniteFloat(0.0), default=None, metavar="SECONDS",
    help="With --follow: stop after this many seconds.",
)
@click.option("--interval", type=FiniteFloat(0.01), default=0.5, hidden=True, help="Seconds between polls.")
def events_command(
    db: Path | str | None,
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
    with open_store(db, read_only=True) as store:
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
    _print_table(shown, stdout_console())
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
_PAYLOAD_PREVIEW = 60


def _print_table(events: list[RecordedEvent], console: Console) -> None:
    """Positions, versions and event types are never cut (``workflow_st…`` helps nobody);
    workflow and step ids and times wrap onto more lines when the terminal is narrow."""
    if not events:
        console.print("No events.")
        return
    wide = console.width >= _WIDE
    cells = [_cells(event) for event in events]
    grid = table(f"{len(events)} event(s)")
    whole_column(grid, "pos", [c["pos"] for c in cells], justify="right")
    folding_column(grid, "workflow")
    whole_column(grid, "ver", [c["ver"] for c in cells], justify="right")
    whole_column(grid, "type", [c["type"] for c in cells])
    folding_column(grid, "step", min_width=6)
    columns = ["pos", "workflow", "ver", "type", "step"]
    if wide:
        folding_column(grid, "role")
        folding_column(grid, "status")
        columns += ["role", "status"]
    folding_column(grid, "time (UTC)", min_width=12)  # wraps at the space: date over time
    columns.append("time (UTC)")
    if wide:
        folding_column(grid, "payload")
        columns.append("payload")
    for row in cells:
        grid.add_row(*(cell(row[column]) for column in columns))
    if not fits(console, grid):
        # Event types too long for any table at this width: one line per event instead,
        # wrapped by the terminal, with nothing cut.
        console.print(Text(f"{len(events)} event(s)"))
        for event in events:
            console.print(Text(_one_line(event)), soft_wrap=True)
        return
    print_table(console, grid)


def _cells(event: RecordedEvent) -> dict[str, str]:
    payload = event.payload_json
    if len(payload) > _PAYLOAD_PREVIEW:  # a preview: `events --json` has the whole payload
        payload = payload[: _PAYLOAD_PREVIEW - 3] + "..."
    return {
        "pos": str(event.id), "workflow": event.workflow_id, "ver": str(event.version),
        "type": event.event_type, "step": event.step_id or "", "role": event.role or "",
        "status": event.status or "", "time (UTC)": _short_time(event.timestamp_text), "payload": payload,
    }


def _short_time(text: str) -> str:
    """``2026-01-31T12:00:00.123456+00:00`` as ``2026-01-31 12:00:00.123`` (times are UTC)."""
    return text[:23].replace("T", " ") if text.endswith("+00:00") else text
