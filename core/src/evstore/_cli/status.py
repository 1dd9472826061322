"""``evstore status``: the log's size and every projection's state."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .. import EventStore
from .._store import ENV_ASYNC, ENV_INLINE
from .._store_parts import unmatched_lifecycle_names
from ._console import cell, print_table, stdout_console, table, whole_column
from ._shared import EXIT_PROBLEMS, _redacted, database_target, db_option, echo_json, open_store, sqlite_path


@click.command("status", short_help="Show the log and every projection's position, lag and health.")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--check", is_flag=True, help="Exit with status 1 if any projection is failing.")
def status_command(db: Path | str | None, as_json: bool, check: bool) -> None:
    """Show the store: file size, event count and head position, and per projection its
    version, position, lag behind the log and whether it is ok or failing (with the
    error). Opens the store read-only: it changes nothing, so a projection behind the
    log shows its lag until a writing command (or `evstore catch-up`) catches it up, and
    work the next writing open will do is reported, not done: a projection newly
    installed (not installed here yet), a version bump (rebuild pending) or new
    migrations (migrations pending).

    Exit status: 0 ok; 1 with --check, a projection is failing; 2 no database at the
    path, or a store error.
    """
    target = database_target(db)
    with open_store(db, read_only=True) as store:
        report = describe(store, target)
        unmatched = unmatched_lifecycle_names(store.registry, (ENV_ASYNC, ENV_INLINE))
    if as_json:
        echo_json(report)
    else:
        console = stdout_console()
        _print(report, console)
        for line in unmatched:
            console.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)
    if check and any(p["status"] == "failing" for p in report["projections"]):
        click.get_current_context().exit(EXIT_PROBLEMS)


def describe(store: EventStore, target: Path | str) -> dict[str, Any]:
    # One snapshot: the count, the head and the positions describe the same moment even
    # while another process appends.
    with store.snapshot() as reader:
        events = int(reader.fetchvalue("SELECT COUNT(*) FROM events"))
        head = store.head()
        projections = [asdict(status) for status in store.projection_status()]
        applied = {(str(p), str(m)) for p, m in reader.fetchall("SELECT projection, name FROM evstore_migrations")}
    projections = _with_pending(store, projections, applied, head)
    path = sqlite_path(target)
    wal = path.with_name(path.name + "-wal") if path is not None else None
    return {
        "database": _redacted(target),
        "size_bytes": path.stat().st_size if path is not None else None,
        "wal_bytes": wal.stat().st_size if wal is not None and wal.exists() else 0,
        "events": events,
        "head": head,
        "projections": projections,
    }


def _with_pending(
    store: EventStore, projections: list[dict[str, Any]], applied: set[tuple[str, str]], head: int
) -> list[dict[str, Any]]:
    """Each projection with ``pending``: what the next writing open of the store will do
    to it (None: nothing), plus the loaded projections this store has not installed. A
    writing open does this work at once; status, read-only, only says so."""
    recorded = {item["name"]: item for item in projections}
    for name, registered in sorted(store.registry.projections.items()):
        projection, item = registered.projection, recorded.get(name)
        if item is None:
            recorded[name] = {
                "name": name, "version": projection.version, "position": 0, "lag": head,
                "status": "not installed", "error": None, "plugin": registered.plugin.name, "skipped": 0,
                "last_skip": None, "lifecycle": store.registry.lifecycles.get(name, "inline"), "leader": None,
                "lag_seconds": 0.0,
                "pending": f"install: the next writing open creates its tables and replays {_events(head)}",
            }
        elif item["version"] < projection.version:
            item["pending"] = (
                f"rebuild (version {item['version']} -> {projection.version}): the next writing open rebuilds it "
                "from the log"
            )
        else:
            missing = [m.name for m in projection.migrations if (name, m.name) not in applied]
            if missing and item["version"] == projection.version:
                item["pending"] = f"migrations {', '.join(missing)}: the next writing open applies them"
    for item in recorded.values():
        item.setdefault("pending", None)
    return [recorded[name] for name in sorted(recorded)]


def _print(report: dict[str, Any], console: Console) -> None:
    on_disk = (
        f", {_human_size(report['size_bytes'] + report['wal_bytes'])} on disk"
        if report["size_bytes"] is not None else ""
    )
    console.print(
        Text(f"{report['database']}: {report['events']:,} events, head at position {report['head']:,}{on_disk}"),
        soft_wrap=True,
    )
    projections = report["projections"]
    if not projections:
        console.print("No projections (no plugin provides one; see `evstore plugins`).")
        return
    rows = [
        [
            item["name"], item["plugin"] or "-", item["lifecycle"], str(item["version"]), f"{item['position']:,}",
            _lag(item),
        ]
        for item in projections
    ]
    grid = table("projections")
    for index, column in enumerate(("projection", "plugin", "lifecycle", "version", "position", "lag")):
        whole_column(grid, column, [row[index] for row in rows], justify="left" if index < 3 else "right")
    statuses = [_status_cell(item) for item in projections]
    whole_column(grid, "status", statuses)
    for row, item, shown in zip(rows, projections, statuses, strict=True):
        style = "yellow" if item["pending"] else {"ok": "green", "failing": "bold red"}.get(item["status"], "yellow")
        grid.add_row(*(cell(value) for value in row), Text(shown, style=style))
    print_table(console, grid)
    for item in projections:
        if item["lifecycle"] == "async":
            leader = item["leader"]
            console.print(
                Text(f"{item['name']}: applied by {leader}" if leader else f"{item['name']}: no worker is applying it"
                     + ("" if leader else " (start one with `evstore worker`)")),
                soft_wrap=True,
            )
        if item["error"]:
            console.print(Text(f"{item['name']}: {item['error']}", style="red"), soft_wrap=True)
        if item["pending"]:
            console.print(Text(f"{item['name']}: pending {item['pending']}", style="yellow"), soft_wrap=True)


def _events(count: int) -> str:
    return f"{count:,} event" + ("" if count == 1 else "s")


def _status_cell(item: dict[str, Any]) -> str:
    if not item["pending"] or item["status"] == "not installed":
        return str(item["status"])
    return f"{item['status']}, {str(item['pending']).split(' ', 1)[0]} pending"


def _lag(item: dict[str, Any]) -> str:
    """Events behind, and how old the oldest of them is."""
    if not item["lag"]:
        return "0"
    seconds = float(item["lag_seconds"])
    if seconds < 120:
        age = f"{seconds:.1f} s"
    else:
        age = f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"
    return f"{item['lag']:,} ({age})"


def _human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size} B"  # unreachable; keeps mypy sure of a return
