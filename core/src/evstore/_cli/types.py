"""``evstore types``: the catalogue of event types the loaded plugins declare, so an
author knows what ``workflow_completed`` carries without reading another plugin's
source. ``docs/reference/event-types.md`` is generated from the same description."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .._plugins import load_plugins
from .._registry import Registry, contributions
from ._console import cell, print_table, stdout_console, table, whole_column
from ._shared import EXIT_PROBLEMS
from .plugins import FailedPlugins


def describe_event_types() -> tuple[list[dict[str, Any]], list[str]]:
    """Every event type the plugins selected by the environment declare, sorted by name,
    and one message per plugin that failed to load (left out)."""
    failures = FailedPlugins()
    registry = contributions(load_plugins(failed=failures), failed=failures)
    broken = set(failures.by_name)
    described = [
        _describe(name, registry) for name in sorted(registry.event_types)
        if registry.event_types[name][1].name not in broken
    ]
    return described, [failure["error"] for failure in failures.by_name.values()]


def _describe(name: str, registry: Registry) -> dict[str, Any]:
    declared, plugin = registry.event_types[name]
    model = declared.payload
    return {
        "name": name,
        "description": declared.description,
        "plugin": plugin.name,
        "distribution": plugin.distribution,
        "version": plugin.version,
        "requires": list(declared.requires),
        "payload_model": model.__name__ if model is not None else None,
        "payload_schema": model.model_json_schema() if model is not None else None,
        "projections": sorted(n for n, r in registry.projections.items() if name in r.projection.handled_types),
        "reactors": sorted(n for n, (reactor, _) in registry.reactors.items() if name in reactor.handles),
    }


def payload_fields(schema: dict[str, Any] | None) -> list[tuple[str, str, bool, str]]:
    """(field, JSON type, required, description) of a payload schema's top level."""
    if schema is None:
        return []
    required = set(schema.get("required", ()))
    return [
        (field, _type_of(spec), field in required, str(spec.get("description", "")))
        for field, spec in schema.get("properties", {}).items()
    ]


def _type_of(spec: dict[str, Any]) -> str:
    if "type" in spec:
        kind = str(spec["type"])
        return f"array of {_type_of(spec['items'])}" if kind == "array" and "items" in spec else kind
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[-1]
    choices = spec.get("anyOf") or spec.get("oneOf")
    if choices:
        return " or ".join(_type_of(choice) for choice in choices)
    if "enum" in spec:
        return " | ".join(json.dumps(value) for value in spec["enum"])
    return "any"


@click.command("types", short_help="List every declared event type: plugin, required fields, payload schema.")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with each payload's full JSON schema).")
def types_command(names: tuple[str, ...], as_json: bool) -> None:
    """List the event types the loaded plugins declare: name, declaring plugin
    (distribution and version), the envelope fields every event of the type must set,
    the payload model's fields, and the projections and reactors that handle it. Give
    NAMES to show only those types, each with its payload's JSON schema. Honours
    EVSTORE_PLUGINS, EVSTORE_DISABLE_PLUGINS and EVSTORE_DISABLE_PLUGIN_AUTOLOAD.

    Exit status: 0 ok; 1 a plugin failed to load (its types are missing; see `evstore
    plugins`); 2 a NAME no loaded plugin declares.
    """
    described, problems = describe_event_types()
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    if names:
        unknown = sorted(set(names) - {item["name"] for item in described})
        if unknown:
            raise click.UsageError(
                f"no loaded plugin declares event type {', '.join(map(repr, unknown))}; "
                "`evstore types` lists the declared ones"
            )
        described = [item for item in described if item["name"] in names]
    if as_json:
        click.echo(json.dumps(described, indent=2))
    elif not described:
        click.echo("No event types declared (no plugin loaded declares one; see `evstore plugins`).")
    else:
        _print(described, stdout_console(), schemas=bool(names))
    if problems:
        click.get_current_context().exit(EXIT_PROBLEMS)


def _print(described: list[dict[str, Any]], console: Console, *, schemas: bool) -> None:
    rows = [
        [
            item["name"],
            item["plugin"] + (f" ({item['distribution']})" if item["distribution"] else ""),
            ", ".join(item["requires"]) or "-",
            ", ".join(f"{f}{'' if required else '?'}: {kind}" for f, kind, required, _ in
                      payload_fields(item["payload_schema"])) or "-",
            ", ".join(item["projections"] + item["reactors"]) or "-",
        ]
        for item in described
    ]
    grid = table("event types")
    for index, column in enumerate(("event type", "plugin", "requires")):
        whole_column(grid, column, [row[index] for row in rows])
    grid.add_column("payload (? optional)")  # may wrap: a model's fields can be many
    grid.add_column("handled by")
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    print_table(console, grid)
    if schemas:
        for item in described:
            if item["payload_schema"] is not None:
                console.print(Text(f"{item['name']} payload schema ({item['payload_model']}):", style="bold"))
                console.print(Text(json.dumps(item["payload_schema"], indent=2)), soft_wrap=True)
