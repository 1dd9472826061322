"""One test per hook (tests/test_hookspecs.py checks that every hook has one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import pytest
from click.testing import CliRunner

from evstore import EventStore, EventType, NewEvent, Reactor, RecordedEvent, hookimpl

from kernel_support import LedgerPlugin, balances, deposit


def test_hook_evstore_register_event_types(open_store: Any) -> None:
    class Types:
        evstore_plugin_name = "types"

        @hookimpl
        def evstore_register_event_types(self, register: Any) -> None:
            register(EventType("pinged", requires=("role",)))

    store = open_store(Types())
    assert store.append(NewEvent(workflow_id="w", event_type="pinged", role="ops")) == 1
    with pytest.raises(Exception, match="requires role"):
        store.append(NewEvent(workflow_id="w", event_type="pinged"))
    assert store.plugins[0].event_types == ["pinged"]


def test_hook_evstore_register_projections(store: EventStore) -> None:
    store.append(deposit("a", 3))
    assert balances(store)[0][:2] == ("a", 3)
    assert store.plugins[0].projections == ["balances"]


def test_hook_evstore_register_reactors(open_store: Any, ledger: LedgerPlugin) -> None:
    class Doubler:
        evstore_plugin_name = "doubler"

        @hookimpl
        def evstore_register_reactors(self, register: Any) -> None:
            def react(db: Any, event: RecordedEvent) -> list[NewEvent]:
                if "causation_id" in event.metadata:
                    return []  # do not double the doubling
                return [deposit(event.workflow_id, event.payload["amount"])]

            register(Reactor("doubler", frozenset({"deposited"}), react))

    store = open_store(ledger, Doubler())
    store.append(deposit("a", 3))
    assert [e.payload["amount"] for e in store.read("a")] == [3, 3]
    assert balances(store)[0][1] == 6


def test_hook_evstore_before_append(open_store: Any, ledger: LedgerPlugin) -> None:
    seen: list[list[str]] = []

    class Policy:
        evstore_plugin_name = "policy"

        @hookimpl
        def evstore_before_append(self, store: EventStore, events: Sequence[NewEvent]) -> None:
            seen.append([e.workflow_id for e in events])
            if any(e.workflow_id == "frozen" for e in events):
                raise PermissionError("account frozen")

    store = open_store(ledger, Policy())
    store.append_many([deposit("a", 1), deposit("b", 1)])
    with pytest.raises(PermissionError):
        store.append(deposit("frozen", 1))
    assert seen == [["a", "b"], ["frozen"]]
    assert store.head() == 2


def test_hook_evstore_after_commit(open_store: Any, ledger: LedgerPlugin, caplog: pytest.LogCaptureFixture) -> None:
    committed: list[list[int]] = []

    class Listener:
        evstore_plugin_name = "listener"

        @hookimpl
        def evstore_after_commit(self, store: EventStore, events: Sequence[RecordedEvent]) -> None:
            committed.append([e.id for e in events])

    class Broken:
        evstore_plugin_name = "broken"

        @hookimpl
        def evstore_after_commit(self, store: EventStore, events: Sequence[RecordedEvent]) -> None:
            raise RuntimeError("listener down")

    store = open_store(ledger, Listener(), Broken())
    with store.transaction() as tx:
        tx.append(deposit("a", 1))
        tx.append(deposit("b", 1))
    store.append(deposit("a", 2))
    with pytest.raises(ValueError), store.transaction() as tx:
        tx.append(deposit("a", 9))
        raise ValueError
    assert committed == [[1, 2], [3]]  # rolled back transactions are not announced
    assert "plugin 'broken' raised in evstore_after_commit" in caplog.text


def test_hook_evstore_register_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    import evstore._cli._root as root
    from evstore import _plugins

    class Commands:
        evstore_plugin_name = "commands"

        @hookimpl
        def evstore_register_commands(self, cli: click.Group) -> None:
            @cli.command("hello")
            def hello() -> None:
                """Say hello."""
                click.echo("hello from a plugin")

    original = _plugins.load_plugins
    monkeypatch.setattr(_plugins, "load_plugins", lambda *a, **k: original([Commands()], autoload=False))
    group = root._PluginAwareGroup(name="evstore", commands=dict(root.cli.commands))
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0 and "hello from a plugin" in result.output
    assert "hello" in CliRunner().invoke(group, ["--help"]).output
