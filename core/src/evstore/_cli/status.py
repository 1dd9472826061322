"""``evstore status``: the log's size and every projection's state."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import EventStore
from ._shared import EXIT_PROBLEMS, database_path, db_option, echo_json, open_store


@click.command("status", short_help="Show the log and every projection's position, lag and health.")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--check", is_flag=True, help="Exit with status 1 if any projection is failing.")
def status_command(db: Path | None, as_json: bool, check: bool) -> None:
    """Show the store: file size, event count and head position, and per projection its
    version, position, lag behind the log and whether it is ok or failing (with the
    error). Opening the store catches up projections that are ok but behind.

    Exit status: 0 ok; 1 with --check, a projection is failing; 2 no database at the
    path, or a store error.
    """
    path = database_path(db)
    with open_store(db) as store:
        report = describe(store, path)
    if as_json:
        echo_json(report)
    else:
        _print(report, Console())
    if check and any(p["status"] == "failing" for p in report["projections"]):
        click.get_current_context().exit(EXIT_PROBLEMS)


def describe(store: EventStore, path: Path) -> dict[str, Any]:
    # One snapshot: the count, the head and the positions describe the same moment even
    # while another process appends.
    with store.snapshot() as reader:
        events = int(reader.fetchvalue("SELECT COUNT(*) FROM events"))
        head = store.head()
        projections = [asdict(status) for status in store.projection_status()]
    wal = path.with_name(path.name + "-wal")
    return {
        "database": str(path),
        "size_bytes": path.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "events": events,
        "head": head,
        "projections": projections,
    }


def _print(report: dict[str, Any], console: Console) -> None:
    size = report["size_bytes"] + report["wal_bytes"]
    console.print(
        Text(f"{report['database']}: {report['events']:,} events, head at position {report['head']:,}, "
             f"{_human_size(size)} on disk"),
        soft_wrap=True,
    )
    projections = report["projections"]
    if not projections:
        console.print("No projections (no plugin provides one; see `evstore plugins`).")
        return
    table = Table(title="projections")
    for column in ("projection", "plugin", "version", "position", "lag", "status"):
        table.add_column(column, justify="right" if column in ("version", "position", "lag") else "left")
    for item in projections:
        status = Text(item["status"], style={"ok": "green", "failing": "bold red"}.get(item["status"], "yellow"))
        table.add_row(
            Text(item["name"]), Text(item["plugin"] or "-"), str(item["version"]),
            f"{item['position']:,}", f"{item['lag']:,}", status,
        )
    console.print(table)
    for item in projections:
        if item["error"]:
            console.print(Text(f"{item['name']}: {item['error']}", style="red"), soft_wrap=True)


def _human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size} B"  # unreachable; keeps mypy sure of a return
