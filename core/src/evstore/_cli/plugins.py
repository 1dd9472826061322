"""``evstore plugins``: what is installed and what each plugin contributes, including
the plugins that fail to load (listed with their error, not raised)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._errors import EvstoreError
from .._plugins import PluginInfo, load_plugins
from .._registry import Registry, contributions
from ._shared import EXIT_PROBLEMS


class FailedPlugins:
    """Collects the plugins left out, by name: the first error of each is the one to fix."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}

    def __call__(self, info: PluginInfo, error: EvstoreError) -> None:
        self.by_name.setdefault(
            info.name,
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "error": str(error),
                "disable": info.how_to_disable(),
            },
        )


def describe_plugins() -> list[dict[str, Any]]:
    """Load plugins as a store would (same environment variables) and describe them,
    sorted by name. A plugin that fails to import or to register is described by its
    ``error`` (and how to disable it) instead; the others have ``error`` None."""
    failures = FailedPlugins()
    plugin_set = load_plugins(failed=failures)
    registry = contributions(plugin_set, failed=failures)
    described = [
        _describe(plugin_set.infos[name], registry)
        for name in sorted(plugin_set.infos) if name not in failures.by_name
    ]
    broken = [{**_empty(), **failure} for failure in failures.by_name.values()]
    return sorted([*described, *broken], key=lambda item: str(item["name"]))


def _describe(info: PluginInfo, registry: Registry) -> dict[str, Any]:
    projections = [registry.projections[p].projection for p in info.projections]
    return {
        "name": info.name,
        "distribution": info.distribution,
        "version": info.version,
        "hooks": info.hooks,
        "projections": [
            {
                "name": p.name,
                "version": p.version,
                "tables": list(p.tables),
                "strict": p.strict,
                "handles": sorted(p.handled_types),
            }
            for p in projections
        ],
        "tables": sorted(t for p in projections for t in p.tables),
        "event_types": sorted(info.event_types),
        "reactors": sorted(info.reactors),
        "error": None,
        "disable": None,
    }


def _empty() -> dict[str, Any]:
    return {"hooks": [], "projections": [], "tables": [], "event_types": [], "reactors": []}


@click.command("plugins", short_help="List installed plugins and what each contributes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: distribution, version, hooks, projections, tables and
    event types. A plugin that fails to load is listed with its error and how to
    disable it. Honours EVSTORE_PLUGINS, EVSTORE_DISABLE_PLUGINS and
    EVSTORE_DISABLE_PLUGIN_AUTOLOAD.

    Exit status: 0 every plugin loaded; 1 a plugin failed to load (it is listed)."""
    described = describe_plugins()
    if as_json:
        click.echo(json.dumps(described, indent=2))
    elif not described:
        click.echo("No plugins loaded.")
    else:
        _print(described, Console())
    if any(item["error"] for item in described):
        click.get_current_context().exit(EXIT_PROBLEMS)


def _print(described: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="evstore plugins")
    for column in ("plugin", "distribution", "projections", "tables", "event types", "hooks"):
        # Fold, never cut: a name shown as "evstore-te…" is one the reader cannot type.
        table.add_column(column, overflow="fold")
    for item in described:
        table.add_row(
            Text(f"{item['name']} (failed)", style="bold red") if item["error"] else item["name"],
            f"{item['distribution'] or '-'} {item['version'] or ''}".strip(),
            "\n".join(f"{p['name']} v{p['version']}" for p in item["projections"]) or "-",
            "\n".join(item["tables"]) or "-",
            "\n".join(item["event_types"]) or "-",
            "\n".join(item["hooks"]),
        )
    _print_fitting(table, console)
    for item in described:
        if item["error"]:
            console.print(Text.assemble((f"{item['name']}: ", "bold red"), item["error"]), soft_wrap=True)


def _print_fitting(table: Table, console: Console) -> None:
    """The table when the terminal is wide enough for it whole; otherwise one block per
    plugin, a field a line, so a narrow terminal folds long names instead of cutting them."""
    unbounded = console.options.update(max_width=sys.maxsize)  # measured against the console, it would fit
    if console.measure(table, options=unbounded).maximum <= console.width:
        console.print(table)
        return
    columns = table.columns
    for row in zip(*(list(column.cells) for column in columns), strict=True):
        block = Table(title=f"{columns[0].header}: {row[0]}", title_justify="left", show_header=False)
        block.add_column(no_wrap=True, style="bold")
        block.add_column(overflow="fold")
        for column, cell in zip(columns[1:], row[1:], strict=True):
            block.add_row(str(column.header), cell)
        console.print(block)
