"""``evstore plugins``: what is installed and what each plugin contributes."""

from __future__ import annotations

import json
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
        table.add_column(column)
    for item in described:
        table.add_row(
            item["name"],
            f"{item['distribution'] or '-'} {item['version'] or ''}".strip(),
            "\n".join(f"{p['name']} v{p['version']}" for p in item["projections"]) or "-",
            "\n".join(item["tables"]) or "-",
            "\n".join(item["event_types"]) or "-",
            "\n".join(item["hooks"]),
        )
    Console().print(table)
