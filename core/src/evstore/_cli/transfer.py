"""``evstore export`` and ``evstore import``: the log as JSON lines, in constant memory.

An export holds every event's full envelope, one JSON object per line, in position
order. Importing it keeps each event's ``event_id``, timestamp and metadata, so:

- a second import of the same file appends nothing (the kernel recognises known ids and
  returns their original positions);
- into an empty store, every event lands at the same position and version, and
  export → import → export gives a byte-identical file.

Imports run with reactors off: the log being imported already holds the follow-up
events reactors appended the first time, and running them again would add them twice.
They commit in batches cut where no causation chain crosses (see ``_causation``), so an
interrupted import never holds a cause without the follow-ups committed with it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from .. import EventStore
from ._appending import LineFailed, append_numbered
from ._causation import Batch, Item, batches, item
from ._console import progress_bar, stderr_console
from ._errors import explain
from ._lines import BadLine, decode, event_from_json, numbered_lines
from ._shared import (
    CommandError,
    Stopwatch,
    database_target,
    db_option,
    echo_json,
    event_line,
    max_payload_option,
    open_store,
    sqlite_path,
    summary,
)
from ._sqlite_files import replacing

DEFAULT_BATCH = 1000
IMPORT_REQUIRED = ("workflow_id", "event_type", "event_id", "timestamp")
_SHOWN_SKIPS = 20
_PROGRESS_EVERY = 1000

# --- export -------------------------------------------------------------------------------


@click.command("export", short_help="Write the whole log as JSON lines.")
@db_option
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, allow_dash=True), default=None,
    help="Write to this file (written beside it, then renamed over it once complete) instead of "
    "stdout; - is stdout. Refuses the store's own files, links, devices and folders.",
)
def export_command(db: Path | str | None, output: Path | None) -> None:
    """Write the whole log as JSON lines: one event per line with its full envelope (id,
    workflow_id, event_type, role, step_id, component_id, status, payload, timestamp,
    version, event_id, metadata), in position order. Streams in constant memory and
    reads one consistent snapshot, even while others append. Opens the store read-only.

    Exit status: 0 exported; 2 no database at the path, the output cannot be written (or
    is the store itself, a link or a device), or a store error.
    """
    to_file = output is not None and str(output) != "-"
    database = sqlite_path(database_target(db))
    with (
        _destination(output if to_file else None, database) as sink,
        open_store(db, read_only=True) as store,
        store.snapshot(),
    ):
        clock = Stopwatch()
        with progress_bar("exporting", store.head()) as update:
            count = 0
            for event in store.iter_all():
                sink.write(event_line(event).encode("utf-8") + b"\n")
                count += 1
                if count % _PROGRESS_EVERY == 0:
                    update(count)
    where = str(output) if to_file else "stdout"
    stderr_console().print(f"exported {summary(count, clock.seconds, clock.rate(count))} to {where}", highlight=False)


@contextmanager
def _destination(output: Path | None, database: Path | None) -> Iterator[IO[bytes]]:
    if output is None:
        with click.open_file("-", "wb") as stream:  # stdout, binary, left open
            yield stream
            stream.flush()
        return
    with replacing(output, database) as temporary, temporary.open("wb") as stream:
        yield stream


# --- import -------------------------------------------------------------------------------


@dataclass
class ImportReport:
    imported: int = 0  # newly appended
    already_present: int = 0  # event_id already stored: the kernel returned its position
    committed_through_line: int = 0  # every line up to this one is committed
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "already_present": self.already_present,
            "skipped": [{"line": line, "error": reason} for line, reason in self.skipped],
        }


@click.command("import", short_help="Append an export's events, keeping their ids (idempotent).")
@click.argument("source", type=click.File("rb"))
@db_option
@click.option("--skip-bad", is_flag=True, help="Skip malformed or rejected lines (and list them) instead of stopping.")
@click.option("--permissive", is_flag=True, help="Accept event types no loaded plugin declares.")
@max_payload_option
@click.option(
    "--batch-size", type=click.IntRange(min=1, max=1_000_000), default=DEFAULT_BATCH, show_default=True,
    help="Events per transaction, about: a batch grows to keep follow-ups with their cause.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def import_command(
    source: IO[bytes],
    db: Path | str | None,
    skip_bad: bool,
    permissive: bool,
    max_payload_bytes: int | None,
    batch_size: int,
    as_json: bool,
) -> None:
    """Append the events of SOURCE (a JSON-lines export; - for stdin), keeping their
    event ids, timestamps and metadata. Events already in the store (same event_id) are
    recognised and not stored again, so importing a file twice is harmless. Creates the
    database if missing. Reactors do not run: the export holds their follow-ups. JSON may
    nest at most 200 levels deep.

    Lines commit in transactions of about --batch-size events, never cut between an
    event and the follow-ups that name it as their cause (metadata causation_id or
    correlation_id, within --batch-size events after it): an interrupted import leaves
    whole source transactions. A malformed line (not UTF-8, not JSON, missing or unknown
    fields, wrong types, rejected by a plugin) stops the import with its line number:
    its transaction is rolled back and nothing after it is imported; earlier
    transactions stay committed. With --skip-bad such a line is skipped and listed
    instead, together with the events of its causal chain.

    Exit status: 0 imported (with --skip-bad, even if lines were skipped); 2 a bad line,
    an unreadable file, or a store error.
    """
    report = ImportReport()
    size = _size_of(source)
    with (
        open_store(
            db, create=True, permissive=permissive, reactors=False, max_payload_bytes=max_payload_bytes
        ) as store,
        progress_bar("importing", size, unit="bytes" if size else "events") as update,
    ):
        clock = Stopwatch()
        items = _items(_counting(source, update, bytewise=size is not None), report, skip_bad=skip_bad)
        try:
            for batch in batches(items, batch_size, lookahead=batch_size):
                _commit(store, batch, report, skip_bad=skip_bad)
        except BadLine as error:
            raise CommandError(_failure(error, report)) from None
    report.skipped.sort()  # lines rejected at commit were noted after later unparsable ones
    _print_report(report, clock, as_json)


def _print_report(report: ImportReport, clock: Stopwatch, as_json: bool) -> None:
    count = report.imported + report.already_present
    if as_json:
        echo_json({**report.to_json(), "seconds": round(clock.seconds, 3)})
    else:
        click.echo(
            f"imported {report.imported:,} new events, {report.already_present:,} already present "
            f"({summary(count, clock.seconds, clock.rate(count))})"
        )
    for line, reason in report.skipped[:_SHOWN_SKIPS]:
        click.echo(f"skipped line {line}: {reason}", err=True)
    if len(report.skipped) > _SHOWN_SKIPS:
        click.echo(f"... and {len(report.skipped) - _SHOWN_SKIPS} more skipped lines (--json lists all)", err=True)


def _items(lines: Iterator[bytes], report: ImportReport, *, skip_bad: bool) -> Iterator[Item]:
    for number, raw in numbered_lines(lines):
        try:
            yield item(number, event_from_json(decode(raw, number), number, required=IMPORT_REQUIRED))
        except BadLine as error:
            if not skip_bad:
                raise
            report.skipped.append((number, error.reason))


def _commit(store: EventStore, batch: Batch, report: ImportReport, *, skip_bad: bool) -> None:
    """Append one batch in one transaction. A refused event rolls the whole batch back
    (or, skipping, its causal group is left out and the rest is tried again)."""
    skipped: list[tuple[int, str]] = []
    while batch.items:
        try:
            with store.transaction() as tx:
                head = store.head()
                positions = append_numbered(store, tx, [(e.line, e.event) for e in batch.items])
        except LineFailed as failed:
            reason = explain(failed.error)
            if not skip_bad:
                raise BadLine(failed.line, reason) from failed.error
            culprit = next(e for e in batch.items if e.line == failed.line)
            batch, dropped = batch.without_group(batch.group_of(culprit))
            chained = f"in the causal chain of line {failed.line}, which was refused"
            skipped += [(e.line, reason if e.line == failed.line else chained) for e in dropped]
            continue
        # A position at or below the head before this batch belongs to an event stored
        # already (the kernel found its event_id); the others are new (a set: the same
        # event twice in one batch is stored once).
        new = {position for position in positions if position > head}
        report.imported += len(new)
        report.already_present += len(positions) - len(new)
        report.committed_through_line = batch.items[-1].line
        break
    report.skipped.extend(skipped)


def _failure(error: BadLine, report: ImportReport) -> str:
    committed = report.imported + report.already_present
    if report.committed_through_line:
        kept = (
            f"{committed:,} event(s) up to line {report.committed_through_line} were committed before it "
            f"({report.imported:,} new); the transaction holding line {error.line} was rolled back and "
            "nothing after it was imported"
        )
    else:
        kept = "Nothing was imported"
    # The line's reason may be an evstore message ending in a period of its own.
    reason = str(error).rstrip(".")
    return f"{reason}. {kept}. Fix the line and import again (events already stored are skipped), or pass --skip-bad."


def _size_of(source: IO[bytes]) -> int | None:
    """The byte size of a regular file (for a bar with an ETA); None for a pipe."""
    try:
        found = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return found.st_size if stat.S_ISREG(found.st_mode) else None


def _counting(source: IO[bytes], update: Callable[..., None], *, bytewise: bool) -> Iterator[bytes]:
    done = 0
    for count, raw in enumerate(source, start=1):
        done += len(raw)
        if count % _PROGRESS_EVERY == 0:
            update(done if bytewise else count, events=count)
        yield raw

