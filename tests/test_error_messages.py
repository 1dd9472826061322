"""The error catalogue: one of each error a plugin author or an operator meets, checked
for what every message promises: it names the fix in the spelling of where it is read
(``permissive=True`` in Python, ``--permissive`` on the command line), whose a refused
table is, and it is written as sentences (no doubled periods from a message ending in
a period of its own that another message wraps)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import jsonl, run

import evstore_workflows
from evstore import (
    ConcurrencyError,
    EventStore,
    EventType,
    EvstoreError,
    InvalidEventError,
    Migration,
    NewEvent,
    PayloadTooLargeError,
    PayloadValidationError,
    PluginError,
    Projection,
    UnknownEventTypeError,
    hookimpl,
)
from evstore._plugins import Hooks, load_plugins

from kernel_support import LedgerPlugin, deposit

DOUBLED_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")  # ".." but not the ellipsis of "plugins=[...]"


def assert_well_formed(message: str) -> None:
    assert not DOUBLED_PERIOD.search(message), f"doubled period in: {message}"
    assert ". ." not in message and " ." not in message.replace(" ...", ""), message


class _Trespasser:
    """A projection whose handler writes ``target`` and whose migration may create a
    table it does not declare."""

    evstore_plugin_name = "trespasser"

    def __init__(self, target: str = "trespasser_rows", stray_table: bool = False) -> None:
        self.target, self.stray_table = target, stray_table

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("trespassed"))

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        stray = "; CREATE TABLE stray (n INTEGER)" if self.stray_table else ""
        ddl = "CREATE TABLE trespasser_rows (n INTEGER)" + stray
        projection = Projection("trespasser", tables=["trespasser_rows"], migrations=[Migration("1", ddl)])
        target = self.target

        @projection.on("trespassed")
        def trespass(db: Any, event: Any) -> None:
            db.execute(f"DELETE FROM {target}")

        register(projection)


class _RaisesWithAPeriod:
    evstore_plugin_name = "raiser"

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        raise ValueError("the configuration is incomplete.")

    @hookimpl
    def evstore_register_ui(self, register: Callable[[Any], None]) -> None:
        raise ValueError("no templates.")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore.open(tmp_path / "s.db", plugins=[LedgerPlugin(), evstore_workflows], autoload=False) as opened:
        yield opened


def _raised(call: Callable[[], Any], kind: type[BaseException] = EvstoreError) -> str:
    with pytest.raises(kind) as caught:
        call()
    message = str(caught.value)
    assert_well_formed(message)
    return message


def _failing_error(store: EventStore, name: str) -> str:
    [status] = [s for s in store.projection_status() if s.name == name]
    assert status.status == "failing" and status.error
    assert_well_formed(status.error)
    return status.error


# --- appending --------------------------------------------------------------------------


def test_an_unknown_type_names_the_python_spelling_of_permissive(store: EventStore) -> None:
    message = _raised(lambda: store.append(NewEvent(workflow_id="a", event_type="deposit")), UnknownEventTypeError)
    assert "permissive=True" in message and "--permissive" not in message
    assert "Did you mean 'deposited'?" in message


def test_envelope_payload_size_and_version_errors_are_sentences(store: EventStore, tmp_path: Path) -> None:
    _raised(lambda: store.append(NewEvent(workflow_id="a", event_type="deposited", payload={"amount": "x"})),
            PayloadValidationError)
    _raised(lambda: store.append(deposit("a", 1), expected_version=5), ConcurrencyError)
    small_store = tmp_path / "small.db"
    with EventStore.open(small_store, plugins=[LedgerPlugin()], autoload=False, max_payload_bytes=10) as small:
        _raised(lambda: small.append(deposit("a", 10**30)), PayloadTooLargeError)
    _raised(lambda: store.append(NewEvent(workflow_id="", event_type="deposited")), InvalidEventError)


def test_a_missing_required_field_says_to_set_it_on_the_event(tmp_path: Path) -> None:
    import evstore_metrics

    with EventStore.open(tmp_path / "m.db", plugins=[evstore_metrics], autoload=False) as metrics:
        message = _raised(lambda: metrics.append(NewEvent(workflow_id="a", event_type="metric_recorded")))
    assert "requires role" in message and "set role on the event" in message


# --- table ownership ------------------------------------------------------------------------


def test_a_table_of_a_loaded_plugin_is_named_with_its_owner(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "t.db", plugins=[_Trespasser("workflows"), evstore_workflows], autoload=False) as s:
        s.append(NewEvent(workflow_id="a", event_type="trespassed"))
        error = _failing_error(s, "trespasser")
    assert "That table belongs to projection 'workflows' of plugin 'workflows'" in error
    assert "Declare" not in error and "declare it" not in error


def test_a_table_of_an_installed_plugin_not_loaded_is_named_with_its_owner(tmp_path: Path) -> None:
    """On SQLite a missing table fails before the authorizer; a migration creating the
    other plugin's table is refused by it, naming the installed owner."""

    class CreatesSteps(_Trespasser):
        @hookimpl
        def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
            ddl = "CREATE TABLE trespasser_rows (n INTEGER); CREATE TABLE steps (n INTEGER)"
            register(Projection("trespasser", tables=["trespasser_rows"], migrations=[Migration("1", ddl)]))

    message = _raised(lambda: EventStore.open(tmp_path / "t.db", plugins=[CreatesSteps()], autoload=False).close())
    assert "That table belongs to projection 'steps' of plugin 'steps' (evstore-steps" in message
    assert "installed but not loaded in this store" in message and "declare it" not in message


def test_a_table_nobody_declares_gets_the_advice_to_declare_it_if_it_is_ours(tmp_path: Path) -> None:
    message = _raised(
        lambda: EventStore.open(tmp_path / "t.db", plugins=[_Trespasser(stray_table=True)], autoload=False).close()
    )
    assert "changing table 'stray'" in message and "No installed plugin declares it" in message
    assert "if it is this projection's own table, declare it in the projection's tables" in message


# --- plugins ------------------------------------------------------------------------------------


def test_plugin_errors_that_wrap_a_message_ending_in_a_period_have_one(tmp_path: Path) -> None:
    message = _raised(
        lambda: EventStore.open(tmp_path / "p.db", plugins=[_RaisesWithAPeriod()], autoload=False), PluginError
    )
    assert "ValueError: the configuration is incomplete. Fix the plugin" in message
    [problem] = Hooks(load_plugins([_RaisesWithAPeriod()], autoload=False)).register_ui(lambda info, items: None)
    assert_well_formed(problem)
    assert problem.endswith("Remove it from the plugins=[...] passed to the store.")


def test_register_ui_keeps_the_environment_variable_in_capitals(
    evstore_register_plugin: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    evstore_register_plugin(_RaisesWithAPeriod())
    monkeypatch.setenv("EVSTORE_PLUGINS", "raiser")
    [problem] = Hooks(load_plugins()).register_ui(lambda info, items: None)
    assert "Disable it with EVSTORE_DISABLE_PLUGINS=raiser." in problem


# --- the command line ----------------------------------------------------------------------------


UNKNOWN = {
    "workflow_id": "a", "event_type": "nope", "event_id": "6f1c9a52-8c1e-4a43-9f57-3e1f4b1d2a10",
    "timestamp": "2026-01-01T00:00:00.000000+00:00",
}


@pytest.mark.parametrize("command", ["append", "import"])
def test_the_command_line_names_its_own_spelling_of_permissive(tmp_path: Path, command: str) -> None:
    result = run("--db", tmp_path / "c.db", command, "-", input=jsonl(UNKNOWN)) if command == "import" else run(
        "--db", tmp_path / "c.db", command, input=jsonl(UNKNOWN)
    )
    assert result.exit_code == 2
    assert_well_formed(result.stderr)
    assert "pass --permissive to accept any type" in result.stderr and "permissive=True" not in result.stderr
