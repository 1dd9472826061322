"""``evstore import-seed PATH``: an original supervisor database into an evstore store."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from evstore import EventStore
from evstore.cli import EXIT_PROBLEMS, CommandError, busy_timeout, database_path, echo_json, store_options

from ._database import PLUGINS
from ._seed_compare import compare
from ._seed_import import SeedImporter, seed_event_id
from ._seed_reader import Seed, SeedError, read_seed
from ._seed_report import ImportReport

_SHOWN: int = 20


@click.command("import-seed", short_help="Import an original supervisor state.db into a new evstore store.")
@click.argument("source", type=click.Path(path_type=Path))
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_seed_command(ctx: click.Context, source: Path, db: Path | str | None, as_json: bool) -> None:
    """Import SOURCE, an original supervisor database (.supervisor/state.db), into the
    store at --db, which must be new or empty. SOURCE is only read.

    The original's log (its events table) is appended in order, with its times read as
    UTC. Then the state the original wrote without logging it (statuses set by hand or
    by its cascade, dependency remaps, steps, metrics, checkpoints, the graph tables)
    becomes events too, each with metadata imported_from=seed, source_table and
    source_id. Events a plugin refuses (a step without a role, ...) and the original's
    checkpoint events (its checkpoints table is imported instead) are kept as
    legacy_event. Reactors do not run: the original's cascade results come from its
    tables, so every status ends as it was.

    Finally the store's tables are compared with the original's, and the report lists
    what was imported, what was made up per table, what could not be carried over and
    every query that answers differently. The import is one transaction: all or
    nothing. Importing the same unchanged SOURCE again into its store appends nothing.

    Exit status: 0 everything carried over and every compared query answers the same;
    1 imported, but some rows could not be carried over or answer differently (listed);
    2 no such file, not an original supervisor database, a damaged file, a target
    store that already holds other events, or a store error.
    """
    target = database_path(db)
    try:
        seed = read_seed(source)
    except SeedError as error:
        raise CommandError(str(error)) from None
    if target.exists() and os.path.samefile(source, target):
        raise CommandError(
            f"the target store {str(target)!r} is the source; give a new path with --db (or EVSTORE_DB)"
        )
    clock = time.perf_counter()
    report = ImportReport(source=str(source), target=str(target), fingerprint=seed.fingerprint)
    with EventStore.open(
        target, plugins=list(PLUGINS), permissive=True, reactors=False, busy_timeout=busy_timeout()
    ) as store:
        head = store.head()
        if head == 0:
            SeedImporter(store, seed, report).run()
            report.events_appended = store.head()
        elif _imported_before(store, seed):
            report.already_imported = True
        else:
            raise CommandError(
                f"the target store {str(target)!r} already holds {head:,} events; import-seed writes into a new "
                "or empty store: give another path with --db (or EVSTORE_DB)"
            )
        compare(store, seed, report)
    report.seconds = time.perf_counter() - clock
    if as_json:
        echo_json(report.to_json())
    else:
        _print(report)
    if not report.complete:
        ctx.exit(EXIT_PROBLEMS)


def _imported_before(store: EventStore, seed: Seed) -> bool:
    events = seed.rows("events")
    if not events:
        return False
    # The first original event is stored as itself (serial 0) or as a legacy_event (1).
    ids = [seed_event_id(seed.fingerprint, "events", events[0].get("id"), serial) for serial in (0, 1)]
    return bool(store.reader.fetchvalue("SELECT COUNT(*) FROM events WHERE event_id IN (?, ?)", ids))


def _print(report: ImportReport) -> None:
    if report.already_imported:
        click.echo(f"{report.source} was already imported into {report.target}; nothing appended")
    else:
        click.echo(
            f"imported {report.source} into {report.target}: {report.events_appended:,} events "
            f"in {report.seconds:.2f}s"
        )
        line = f"  from the original's log: {report.original_events:,} events as themselves"
        if report.legacy_events:
            line += f", {report.legacy_events:,} kept as legacy_event"
        click.echo(line)
        if report.unknown_types:
            kinds = ", ".join(f"{name} ({count})" for name, count in sorted(report.unknown_types.items()))
            click.echo(f"  event types no plugin declares, kept as they are: {kinds}")
        made_up = ", ".join(f"{table} {count:,}" for table, count in sorted(report.synthesized.items()))
        click.echo(f"  from the original's tables (state it wrote without logging): {made_up or 'nothing'}")
        if report.naive_times:
            click.echo(f"  times without a zone, read as UTC: {report.naive_times:,}")
    for note in report.notes:
        click.echo(f"  note: {note}")
    if report.extra_rows:
        extra = ", ".join(f"{table} {count:,}" for table, count in sorted(report.extra_rows.items()))
        click.echo(f"  rows here that the original's tables lack (its log implies them): {extra}")
    if not report.differences:
        scope = "apart from what could not be carried over, same" if report.not_carried else "same"
        click.echo(f"  {scope} answers as the original for: {', '.join(report.compared) or 'nothing to compare'}")
    _listing("could not be carried over", [problem.line() for problem in report.not_carried])
    _listing("answers differently from the original", [difference.line() for difference in report.differences])


def _listing(title: str, lines: list[str]) -> None:
    if not lines:
        return
    click.echo(f"{title} ({len(lines)}):")
    for line in lines[:_SHOWN]:
        click.echo(f"  {line}")
    if len(lines) > _SHOWN:
        click.echo(f"  ... and {len(lines) - _SHOWN} more (--json lists all)")
