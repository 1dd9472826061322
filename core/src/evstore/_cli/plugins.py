"""``evstore plugins``: what is installed and what each plugin contributes."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .._plugins import Hooks, load_plugins
from .._registry import DEFAULT_MAX_PAYLOAD_BYTES, Registry


def describe_plugins() -> list[dict[str, Any]]:
    """Load plugins as a store would (same environment variables) and describe them."""
    plugin_set = load_plugins()
    hooks = Hooks(plugin_set)
    registry = Registry(permissive=False, max_payload_bytes=DEFAULT_MAX_PAYLOAD_BYTES)
    hooks.register_event_types(registry.add_event_type)
    hooks.register_projections(registry.add_projection)
    hooks.register_reactors(registry.add_reactor)
    described = []
    for name in sorted(plugin_set.infos):
        info = plugin_set.infos[name]
        projections = [registry.projections[p].projection for p in info.projections]
        described.append(
            {
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
            }
        )
    return described


@click.command("plugins", short_help="List installed plugins and what each contributes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: distribution, version, hooks, projections, tables and
    event types. Honours EVSTORE_PLUGINS, EVSTORE_DISABLE_PLUGINS and
    EVSTORE_DISABLE_PLUGIN_AUTOLOAD."""
    described = describe_plugins()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    if not described:
        click.echo("No plugins loaded.")
        return
    table = Table(title="evstore plugins")
    for column in ("plugin", "distribution", "projections", "tables", "event types", "hooks"):
        # Fold, never cut: a name shown as "evstore-te…" is one the reader cannot type.
        table.add_column(column, overflow="fold")
    for item in described:
        table.add_row(
            item["name"],
            f"{item['distribution'] or '-'} {item['version'] or ''}".strip(),
            "\n".join(f"{p['name']} v{p['version']}" for p in item["projections"]) or "-",
            "\n".join(item["tables"]) or "-",
            "\n".join(item["event_types"]) or "-",
            "\n".join(item["hooks"]),
        )
    _print_fitting(table)


def _print_fitting(table: Table) -> None:
    """The table when the terminal is wide enough for it whole; otherwise one block per
    plugin, a field a line, so a narrow terminal folds long names instead of cutting them."""
    console = Console()
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
