"""``evstore.Plugin``: a module says what it contributes and the hooks are generated;
hooks written by hand beside it still run, and a hook written both ways is refused."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from conftest import StoreFactory

from evstore import (
    EventType,
    InvalidArgumentError,
    Migration,
    NewEvent,
    Plugin,
    PluginError,
    Projection,
    Reactor,
    RecordedEvent,
    ScopedConnection,
    hookimpl,
)

built: list[Projection] = []


def build_projection() -> Projection:
    projection = Projection(
        "tally", tables=["tally"],
        migrations=[Migration("0001", "CREATE TABLE tally (workflow_id TEXT PRIMARY KEY, n INTEGER NOT NULL)")],
    )

    @projection.on("counted")
    def counted(db: ScopedConnection, event: RecordedEvent) -> None:
        db.execute(
            "INSERT INTO tally VALUES (?, 1) ON CONFLICT (workflow_id) DO UPDATE SET n = tally.n + 1",
            (event.workflow_id,),
        )

    built.append(projection)
    return projection


def _echo(db: ScopedConnection, event: RecordedEvent) -> list[NewEvent]:
    return [NewEvent(workflow_id=event.workflow_id, event_type="echoed")] if event.event_type == "counted" else []


def plugin_module(**extra: Any) -> ModuleType:
    module = ModuleType("evstore_tally")
    module.evstore_plugin = Plugin(  # type: ignore[attr-defined]
        "tally",
        event_types=[EventType("counted"), EventType("echoed")],
        projections=[build_projection],
        reactors=[Reactor("echo", handles={"counted"}, react=_echo)],
    )
    for name, value in extra.items():
        setattr(module, name, value)
    return module


def test_a_declared_plugin_contributes_what_it_declares(open_store: StoreFactory) -> None:
    store = open_store(plugin_module())
    store.append(NewEvent(workflow_id="wf", event_type="counted"))
    assert store.reader.fetchall("SELECT workflow_id, n FROM tally") == [("wf", 1)]
    assert [e.event_type for e in store.read("wf")] == ["counted", "echoed"]
    (info,) = store.plugins
    assert info.name == "tally"
    assert info.hooks == ["evstore_register_event_types", "evstore_register_projections", "evstore_register_reactors"]


def test_each_store_builds_its_own_projection(open_store: StoreFactory, tmp_path: Any) -> None:
    before = len(built)
    module = plugin_module()
    open_store(module)
    open_store(module, path=tmp_path / "other.db")
    first, second = built[before:]
    assert first is not second


def test_hooks_written_beside_the_declaration_run_too(open_store: StoreFactory) -> None:
    seen: list[str] = []

    @hookimpl
    def evstore_after_commit(events: Sequence[RecordedEvent]) -> None:
        seen.extend(e.event_type for e in events)

    store = open_store(plugin_module(evstore_after_commit=evstore_after_commit))
    store.append(NewEvent(workflow_id="wf", event_type="counted"))
    assert seen == ["counted", "echoed"]


def test_a_hook_both_declared_and_written_is_refused(open_store: StoreFactory) -> None:
    @hookimpl
    def evstore_register_event_types(register: Any) -> None:
        register(EventType("counted"))

    with pytest.raises(PluginError, match="declares evstore_register_event_types twice"):
        open_store(plugin_module(evstore_register_event_types=evstore_register_event_types))


def test_a_plugin_object_can_be_registered_itself(open_store: StoreFactory) -> None:
    store = open_store(Plugin("bare", event_types=[EventType("counted")]))
    store.append(NewEvent(workflow_id="wf", event_type="counted"))
    assert [p.name for p in store.plugins] == ["bare"]


def test_evstore_plugin_must_be_a_plugin(open_store: StoreFactory) -> None:
    module = ModuleType("evstore_wrong")
    module.evstore_plugin = {"name": "wrong"}  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match=r"evstore_wrong.*not an evstore\.Plugin"):
        open_store(module)


def test_a_declaration_names_what_it_cannot_register() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'oops'.*event_types holds 'counted'.*EventType"):
        Plugin("oops", event_types=["counted"])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="projections holds 3"):
        Plugin("oops", projections=[3])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="non-empty string name"):
        Plugin("")
