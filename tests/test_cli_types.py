"""``evstore types``: the catalogue of declared event types, as a plugin author reads it."""

from __future__ import annotations

import json
from collections.abc import Callable

from cli_support import assert_clean_error, run
from pydantic import BaseModel, Field

from evstore import EventType, hookimpl


class TodoAdded(BaseModel):
    title: str = Field(description="what to do")
    due: str | None = None


class _Todos:
    evstore_plugin_name = "todos"

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("todo_added", payload=TodoAdded, requires=("role",), description="a todo was written"))


def test_types_json_describes_each_type_with_its_plugin_fields_and_schema() -> None:
    result = run("types", "--json", EVSTORE_PLUGINS="workflows,steps,metrics")
    assert result.exit_code == 0, result.output
    described = {item["name"]: item for item in json.loads(result.stdout)}
    assert list(described) == sorted(described)
    completed = described["workflow_completed"]
    assert (completed["plugin"], completed["distribution"]) == ("workflows", "evstore-workflows")
    assert completed["projections"] == ["workflows"] and completed["payload_schema"] is None
    metric = described["metric_recorded"]
    assert metric["requires"] == ["role"] and metric["payload_model"] == "MetricRecorded"
    assert metric["payload_schema"]["type"] == "object" and metric["payload_schema"]["properties"]
    assert {item["plugin"] for item in described.values()} == {"workflows", "steps", "metrics"}


def test_a_third_party_type_is_listed_with_its_schema(evstore_register_plugin: Callable[..., None]) -> None:
    evstore_register_plugin(_Todos(), distribution="evstore-todos", version="0.2.0")
    [todo] = json.loads(run("types", "--json", EVSTORE_PLUGINS="todos").stdout)
    assert (todo["name"], todo["plugin"], todo["distribution"], todo["version"]) == (
        "todo_added", "todos", "evstore-todos", "0.2.0"
    )
    assert todo["requires"] == ["role"] and todo["description"] == "a todo was written"
    assert todo["payload_schema"] == TodoAdded.model_json_schema()

    table = run("types", EVSTORE_PLUGINS="todos")
    assert table.exit_code == 0
    assert "todo_added" in table.stdout and "todos (evstore-todos)" in table.stdout
    assert "title: string, due?: string or null" in table.stdout

    detail = run("types", "todo_added", EVSTORE_PLUGINS="todos")
    assert "todo_added payload schema (TodoAdded):" in detail.stdout and '"what to do"' in detail.stdout


def test_an_unknown_name_is_a_one_line_error() -> None:
    result = run("types", "workflow_complete", EVSTORE_PLUGINS="workflows")
    assert_clean_error(result, "no loaded plugin declares event type 'workflow_complete'")


def test_no_plugins_no_types() -> None:
    result = run("types", EVSTORE_PLUGINS="")
    assert result.exit_code == 0 and "No event types declared" in result.stdout
    assert json.loads(run("types", "--json", EVSTORE_PLUGINS="").stdout) == []


class _Broken:
    evstore_plugin_name = "broken"

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        raise ImportError("pydantic models moved")


def test_a_broken_plugin_is_warned_about_and_the_others_still_listed(
    evstore_register_plugin: Callable[..., None],
) -> None:
    evstore_register_plugin(_Broken(), distribution="evstore-broken")
    result = run("types", "--json", EVSTORE_PLUGINS="broken,workflows")
    assert result.exit_code == 1
    assert "warning: plugin 'broken' (evstore-broken 0.0.0) failed while registering event types" in result.stderr
    assert {item["plugin"] for item in json.loads(result.stdout)} == {"workflows"}
