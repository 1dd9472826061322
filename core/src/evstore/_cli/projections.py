"""``evstore catch-up`` and ``evstore rebuild``: bring projections level with the log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .. import EventStore
from ._console import cell, print_table, progress_bar, stdout_console, table, whole_column
from ._shared import EXIT_PROBLEMS, Stopwatch, db_option, echo_json, open_store, summary


@click.command("catch-up", short_help="Replay what projections have not applied yet.")
@click.argument("names", nargs=-1)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def catch_up_command(names: tuple[str, ...], db: Path | str | None, as_json: bool) -> None:
    """Replay what the named projections (default: all) have not applied yet, failing
    ones included: after fixing a plugin, this is how its projection recovers. Each
    projection catches up in its own transaction. (Opening the store already catches up
    projections that are ok but behind.)

    Exit status: 0 every named projection is ok; 1 one is still failing (its error is
    printed); 2 an unknown projection name, no database at the path, or a store error.
    """
    with open_store(db) as store:
        chosen = list(names) or sorted(store.registry.projections)
        before = _positions(store)
        _check_names(store, chosen)
        results = []
        for name in chosen:
            clock = Stopwatch()
            start = before[name]
            with progress_bar(f"catching up {name}", max(store.head() - start, 0)) as update:
                store.catch_up([name], progress=_relative(update, start))
            status = next(s for s in store.projection_status() if s.name == name)
            replayed = max(status.position - start, 0)
            results.append(
                {
                    "name": name,
                    "from": start,
                    "to": status.position,
                    "events": replayed,
                    "seconds": round(clock.seconds, 3),
                    "events_per_second": round(clock.rate(replayed), 1),
                    "status": status.status,
                    "error": status.error,
                }
            )
    if as_json:
        echo_json({"projections": results})
    else:
        _print_catch_up(results, stdout_console())
    if any(result["status"] == "failing" for result in results):
        click.get_current_context().exit(EXIT_PROBLEMS)


@click.command("rebuild", short_help="Rebuild projections from the whole log.")
@click.argument("names", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Rebuild every loaded projection.")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def rebuild_command(names: tuple[str, ...], everything: bool, db: Path | str | None, as_json: bool) -> None:
    """Drop the named projections' tables (or every projection's, with --all) and replay
    the whole log into them, in one transaction: readers see the old tables or the new
    ones, never half. A failing projection is ok again afterwards, or the rebuild is
    rolled back and its error printed.

    Exit status: 0 rebuilt; 2 no name and no --all, an unknown projection name, a
    handler error (nothing changed), no database at the path, or a store error.
    """
    if bool(names) == everything:
        raise click.UsageError("name the projections to rebuild, or pass --all (not both)")
    with open_store(db) as store:
        chosen = sorted(store.registry.projections) if everything else list(names)
        _check_names(store, chosen)
        if not chosen:
            raise click.UsageError("no projection is loaded: nothing to rebuild (see `evstore plugins`)")
        clock = Stopwatch()
        with progress_bar(f"rebuilding {', '.join(chosen)}", store.head()) as update:
            count = store.rebuild(chosen, progress=update)
        seconds, rate = clock.seconds, clock.rate(count)
        head = store.head()
    if as_json:
        echo_json(
            {
                "projections": chosen,
                "events": count,
                "position": head,
                "seconds": round(seconds, 3),
                "events_per_second": round(rate, 1),
            }
        )
        return
    click.echo(f"rebuilt {', '.join(chosen)} up to position {head:,}: replayed {summary(count, seconds, rate)}")


def _check_names(store: EventStore, names: list[str]) -> None:
    """Unknown names fail before anything runs, with the kernel's own message."""
    if any(not store.has_projection(name) for name in names):
        store.catch_up(names)  # raises UnknownProjectionError before touching anything


def _relative(update: Callable[[int], None], start: int) -> Callable[[int], None]:
    """Progress from a projection's start position: the kernel reports log positions."""
    return lambda position: update(position - start)


def _positions(store: EventStore) -> dict[str, int]:
    return {status.name: status.position for status in store.projection_status()}


def _print_catch_up(results: list[dict[str, Any]], console: Console) -> None:
    if not results:
        console.print("No projections loaded: nothing to catch up.")
        return
    rows = [
        [result["name"], f"{result['from']:,}", f"{result['to']:,}", f"{result['events']:,}",
         f"{result['events_per_second']:,.0f}", result["status"]]
        for result in results
    ]
    grid = table("catch-up")
    for index, column in enumerate(("projection", "from", "to", "events", "events/s", "status")):
        justify = "left" if column in ("projection", "status") else "right"
        whole_column(grid, column, [row[index] for row in rows], justify=justify)
    for row, result in zip(rows, results, strict=True):
        status = Text(result["status"], style="green" if result["status"] == "ok" else "bold red")
        grid.add_row(*(cell(value) for value in row[:-1]), status)
    print_table(console, grid)
    for result in results:
        if result["error"]:
            console.print(Text(f"{result['name']}: {result['error']}", style="red"), soft_wrap=True)
