"""evstore.testing: the fixtures, Scenario, ProjectionContract and strategies that
projection authors use, and the template plugin they copy."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import importlib_metadata
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from evstore import (
    EventStore,
    EventType,
    InvalidEventError,
    Migration,
    NewEvent,
    Projection,
    Reactor,
    UnknownEventTypeError,
    hookimpl,
)
from evstore._cli.plugins import describe_plugins
from evstore.testing import (
    EventFactory,
    ProjectionContract,
    Scenario,
    StoreFactory,
    register_plugin,
    snapshot_tables,
    table_rows,
)
from evstore.testing import strategies as evst
from evstore.testing._proxy import with_wrapped_handlers

from kernel_support import LedgerPlugin, deposit

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "plugins" / "_template"


# --- importing the kit ---------------------------------------------------------------------


def test_importing_the_kit_and_its_pytest_plugin_imports_no_hypothesis_and_opens_nothing() -> None:
    code = (
        "import gc, sqlite3, sys\n"
        "import evstore.testing, evstore.testing.pytest_plugin\n"
        "assert 'hypothesis' not in sys.modules, 'hypothesis was imported'\n"
        "assert not [m for m in sys.modules if m.startswith('evstore_')], 'a plugin was imported'\n"
        "assert not [o for o in gc.get_objects() if isinstance(o, sqlite3.Connection)], 'a connection is open'\n"
        "evstore.testing.ProjectionContract\n"
        "assert 'hypothesis' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_fixtures_are_registered_for_pytest(request: pytest.FixtureRequest) -> None:
    [entry_point] = [ep for ep in importlib_metadata.entry_points(group="pytest11") if ep.name == "evstore"]
    assert entry_point.value == "evstore.testing.pytest_plugin"
    assert request.config.pluginmanager.hasplugin("evstore")


def test_every_public_name_resolves() -> None:
    import evstore.testing as kit

    for name in kit.__all__:
        assert getattr(kit, name) is not None and name in dir(kit)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        kit.nothing_here  # noqa: B018


# --- fixtures --------------------------------------------------------------------------------


def test_the_store_fixture_loads_only_the_chosen_plugins(evstore_store: EventStore) -> None:
    assert evstore_store.plugins == [] and evstore_store.projection_status() == []


def test_the_all_plugins_store_loads_the_installed_ones(evstore_all_plugins_store: EventStore) -> None:
    names = {info.name for info in evstore_all_plugins_store.plugins}
    assert {"workflows", "steps", "features", "checkpoints", "metrics", "graph"} <= names


def test_the_factory_reopens_the_same_file_and_closes_everything(tmp_path: Path) -> None:
    factory = StoreFactory(tmp_path)
    first = factory([LedgerPlugin()])
    first.append(deposit("acct", 5))
    first.close()
    again = factory([LedgerPlugin()])
    assert again.head() == 1 and again.durability == "normal"
    other = factory([], path=tmp_path / "other.db", permissive=True)
    factory.close_all()
    with pytest.raises(Exception, match="closed"):
        other.head()


def test_the_event_factory_has_a_reproducible_clock() -> None:
    event = EventFactory(start=datetime(2030, 5, 1, tzinfo=UTC))
    a, b = event("x", step_id="s"), event("x", workflow_id="wf-2")
    assert (a.workflow_id, a.step_id, a.timestamp) == ("wf-1", "s", datetime(2030, 5, 1, tzinfo=UTC))
    assert (b.workflow_id, b.timestamp) == ("wf-2", datetime(2030, 5, 1, 0, 0, 1, tzinfo=UTC))
    assert a.event_id != b.event_id
    event.advance(timedelta(hours=1))
    assert [e.timestamp for e in event.many("x", 2)] == [
        datetime(2030, 5, 1, 1, 0, 2, tzinfo=UTC), datetime(2030, 5, 1, 1, 0, 3, tzinfo=UTC)
    ]
    with pytest.raises(ValueError, match="aware"):
        EventFactory(start=datetime(2030, 5, 1))


class _Shouter:
    """An un-packaged plugin: one event type, no projection."""

    evstore_plugin_name = "shouter"

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("shouted"))


def test_a_registered_plugin_is_found_like_an_installed_one(
    evstore_register_plugin: Callable[..., None], evstore_store_factory: StoreFactory
) -> None:
    evstore_register_plugin(_Shouter(), distribution="evstore-shouter", version="1.2.3")
    monkey_env = {"EVSTORE_PLUGINS": "shouter"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in monkey_env.items():
            patch.setenv(name, value)
        [described] = describe_plugins()
        store = evstore_store_factory([], autoload=True)
    assert (described["name"], described["distribution"], described["version"]) == (
        "shouter", "evstore-shouter", "1.2.3"
    )
    assert described["event_types"] == ["shouted"]
    assert [info.name for info in store.plugins] == ["shouter"]
    store.append(NewEvent(workflow_id="wf", event_type="shouted"))


def test_registration_ends_with_the_block(evstore_store_factory: StoreFactory) -> None:
    with register_plugin(_Shouter()):
        assert "shouter" in {p.name for p in evstore_store_factory([], autoload=True).plugins}
    after = evstore_store_factory([], autoload=True, path=evstore_store_factory.folder / "after.db")
    assert "shouter" not in {p.name for p in after.plugins}


# --- Scenario ------------------------------------------------------------------------------


@pytest.fixture
def ledger_scenario(evstore_store_factory: StoreFactory) -> Scenario:
    return Scenario(evstore_store_factory([LedgerPlugin()]))


def test_scenario_compares_rows_as_tuples_or_as_dicts(ledger_scenario: Scenario) -> None:
    (
        ledger_scenario.given(deposit("a", 5), [deposit("b", 1), deposit("b", 2)])
        .when(deposit("a", 10))
        .then_rows("balances", [{"account": "b", "amount": 3}, {"account": "a", "amount": 15}])
        .then_rows("balances", [("a", 15)], columns=["account", "amount"], where="amount > ?", params=[5])
        .then_rows("balances", [("a",), ("b",)], columns=["account"], order_by="account")
        .then_query(lambda store: store.head(), 4)
    )
    assert ledger_scenario.positions == [4]
    with pytest.raises(AssertionError, match=r"rows of 'balances' \(account, amount\) differ"):
        ledger_scenario.then_rows("balances", [{"account": "a", "amount": 14}, {"account": "b", "amount": 3}])
    with pytest.raises(AssertionError, match="differ"):
        ledger_scenario.then_rows("balances", [("b",), ("a",)], columns=["account"], order_by="account")
    with pytest.raises(AssertionError, match="tables changed: balances"):
        ledger_scenario.then_unchanged()
    with pytest.raises(AssertionError, match="returned"):
        ledger_scenario.then_query(lambda store: store.head(), 5)
    mixed: list[dict[str, Any]] = [{"account": "a"}, {"amount": 3}]
    with pytest.raises(ValueError, match="same keys"):
        ledger_scenario.then_rows("balances", mixed)


def test_scenario_checks_an_error_and_that_nothing_was_written(ledger_scenario: Scenario) -> None:
    ledger_scenario.given(deposit("a", 5)).when(deposit("a", 1), NewEvent(workflow_id="a", event_type="nope"))
    ledger_scenario.then_error(UnknownEventTypeError, match="'nope'")
    ledger_scenario.then_error(InvalidEventError)  # a subclass matches
    ledger_scenario.then_error(UnknownEventTypeError, match=re.compile(r"type 'no+pe' is not declared"))
    with pytest.raises(AssertionError, match="mention"):
        ledger_scenario.then_error(UnknownEventTypeError, match=re.compile(r"^declared"))
    with pytest.raises(AssertionError, match="mention 'other'"):
        ledger_scenario.then_error(ValueError, match="other")
    with pytest.raises(AssertionError, match="when\\(\\) raised UnknownEventTypeError"):
        ledger_scenario.then_rows("balances", [])


def test_scenario_fails_when_an_expected_error_does_not_come(ledger_scenario: Scenario) -> None:
    with pytest.raises(AssertionError, match="call when"):
        ledger_scenario.then_error(InvalidEventError)
    ledger_scenario.when(deposit("a", 1))
    with pytest.raises(AssertionError, match="succeeded at \\[1\\]"):
        ledger_scenario.then_error(InvalidEventError)
    with pytest.raises(AssertionError, match="expected InvalidEventError, got"):
        Scenario(ledger_scenario.store).when(deposit("a", 1), expected_version=0).then_error(InvalidEventError)


def test_a_projection_going_failing_fails_the_scenario(evstore_store_factory: StoreFactory) -> None:
    ledger = LedgerPlugin()
    ledger.fail_on = {13}
    store = evstore_store_factory([ledger])
    with pytest.raises(AssertionError, match=r"after when\(\), projection\(s\) went failing.*'balances'.*13"):
        Scenario(store).given(deposit("a", 5)).when(deposit("a", 13))
    with pytest.raises(AssertionError, match=r"after given\(\).*expect_failing\('balances'\)"):
        Scenario(store).given(deposit("b", 1))  # still failing: skipped until a catch-up


def test_a_handler_raising_on_every_event_fails_even_when_the_rows_would_match(
    evstore_store_factory: StoreFactory,
) -> None:
    ledger = LedgerPlugin()
    ledger.fail_on = set(range(-100, 100))
    scenario = Scenario(evstore_store_factory([ledger]))
    with pytest.raises(AssertionError, match="went failing"):
        scenario.when(deposit("a", 1)).then_rows("balances", [])


def test_a_scenario_may_expect_a_projection_to_go_failing(evstore_store_factory: StoreFactory) -> None:
    ledger = LedgerPlugin()
    ledger.fail_on = {13}
    store = evstore_store_factory([ledger])
    (
        Scenario(store).expect_failing("balances")
        .given(deposit("a", 5)).when(deposit("a", 13))
        .then_rows("balances", [{"account": "a", "amount": 5}])
    )
    with pytest.raises(AssertionError, match=r"expected projection\(s\) 'balances' to go failing"):
        Scenario(evstore_store_factory([LedgerPlugin()], path=store_path(evstore_store_factory))).expect_failing(
            "balances"
        ).when(deposit("a", 1))
    with pytest.raises(ValueError, match=r"expect_failing\('balance'\): no such projection.*loaded: balances"):
        Scenario(store).expect_failing("balance")


def store_path(factory: StoreFactory) -> Path:
    return factory.folder / "another.db"


# --- the contract on projections that keep it ----------------------------------------------

ledger_events = evst.event_envelopes(
    ["account_opened", "deposited"],
    workflow_ids=["acct-1", "acct-2"],
    payloads=st.fixed_dictionaries({"amount": st.integers(min_value=-50, max_value=50)}),
)


class TestLedgerContract(ProjectionContract):
    plugins = (LedgerPlugin(),)
    previous_plugins = (LedgerPlugin(),)  # no change since the last release: upgrading is a no-op
    projection_name = "balances"
    events = evst.event_lists(ledger_events, max_size=12)
    max_examples = 15


class TestStrictLedgerContract(ProjectionContract):
    """A strict projection: a handler error rejects the append instead."""

    projection_name = "balances"
    events = evst.event_lists(ledger_events, max_size=12)
    max_examples = 15

    def make_plugins(self) -> list[object]:
        return [LedgerPlugin(strict=True)]


def test_replay_checks_only_leaves_out_exactly_the_checks_that_replay_nothing() -> None:
    class InSmallBatches(TestLedgerContract):
        replay_batch_size = 3
        replay_checks_only = True

    def checks(cls: type) -> set[str]:
        return {name for name in dir(cls) if name.startswith("test_") and callable(getattr(cls, name))}

    every, replaying = checks(TestLedgerContract), checks(InSmallBatches)
    assert replaying < every
    assert every - replaying == {
        "test_migrations_apply_twice_cleanly", "test_redelivered_event_changes_nothing",
        "test_unknown_event_types_are_ignored", "test_writes_only_its_declared_tables",
        "test_position_advances_with_its_rows", "test_upgrade_from_the_previous_version_equals_a_rebuild",
        "test_tables_of_an_unloaded_owner_are_refused",
    }
    assert {"test_rebuild_from_zero_equals_incremental", "test_handler_error_leaves_no_partial_rows"} <= replaying
    assert checks(TestLedgerContract) == every  # the class it extends keeps all of them


# --- the contract catches projections that break it ----------------------------------------


class _Counter:
    """A plugin whose projection misbehaves in the way chosen by ``flaw``."""

    evstore_plugin_name = "counter"

    def __init__(self, flaw: str) -> None:
        self.flaw = flaw

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("ticked"))

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        victim = Projection("victim", tables=["victim"], migrations=[Migration("1", "CREATE TABLE victim (n INT)")])
        counter = Projection(
            "counter", tables=["counts"],
            migrations=[Migration("1", "CREATE TABLE counts (workflow_id TEXT PRIMARY KEY, n INT, at TEXT)")],
        )
        flaw = self.flaw

        @counter.on("ticked")
        def ticked(db: Any, event: Any) -> None:
            at = datetime.now(UTC).isoformat() if flaw == "clock" else event.timestamp_text
            db.execute(
                "INSERT INTO counts VALUES (?, 1, ?) ON CONFLICT (workflow_id) DO UPDATE SET n = n + 1, at = ?",
                (event.workflow_id, at, at),
            )
            if flaw == "trespass":
                db.execute("INSERT INTO victim VALUES (1)")
            if flaw == "crash" and event.workflow_id == "wf-2":
                raise KeyError("wf-2")

        @counter.on_batch
        def ticked_many(db: Any, events: Any) -> None:
            if flaw == "batch raises":
                raise RuntimeError("this batch handler never works")
            if flaw == "batch forgets earlier batches":
                # Counts this batch's events and overwrites the row: right only when the
                # whole log is one batch.
                latest = {event.workflow_id: event for event in events}
                for workflow_id, last in latest.items():
                    n = sum(1 for event in events if event.workflow_id == workflow_id)
                    db.execute(
                        "INSERT INTO counts VALUES (?, ?, ?) ON CONFLICT (workflow_id) DO UPDATE SET n = ?, at = ?",
                        (workflow_id, n, last.timestamp_text, n, last.timestamp_text),
                    )
                return
            for event in events:
                if flaw == "batch counts twice":
                    ticked(db, event)
                ticked(db, event)

        register(victim)
        register(counter)


def _flawed(flaw: str, replay_batch_size: int | None = None) -> ProjectionContract:
    size = replay_batch_size

    class Flawed(ProjectionContract):
        replay_batch_size = size
        projection_name = "counter"
        events = evst.event_lists(evst.event_envelopes(["ticked"], workflow_ids=["wf-1", "wf-2"]), max_size=6)
        max_examples = 10

        def make_plugins(self) -> list[object]:
            return [_Counter(flaw)]

    return Flawed()


def test_the_contract_catches_rows_taken_from_the_clock() -> None:
    with pytest.raises(AssertionError, match="rebuilding from the log gave different rows"):
        _flawed("clock").test_rebuild_from_zero_equals_incremental()


def test_the_contract_catches_writes_to_another_projections_table() -> None:
    with pytest.raises(AssertionError, match=r"failed on a valid history.*not allowed writing table 'victim'"):
        _flawed("trespass").test_writes_only_its_declared_tables()


def test_the_contract_catches_a_handler_failing_on_valid_events() -> None:
    with pytest.raises(AssertionError, match=r"failed on a valid history.*KeyError"):
        _flawed("crash").test_rebuild_from_zero_equals_incremental()


def test_the_contract_catches_a_batch_handler_that_always_falls_back() -> None:
    # The kernel would re-apply each batch event by event, hiding it everywhere else.
    with pytest.raises(AssertionError, match="the rebuild fell back from the batch handler to the per-event ones"):
        _flawed("batch raises").test_rebuild_applies_the_batch_handler_without_falling_back()


def test_the_contract_catches_a_batch_handler_disagreeing_with_the_per_event_one() -> None:
    with pytest.raises(AssertionError, match="the batch handler gave other rows than live appends"):
        _flawed("batch counts twice").test_rebuild_applies_the_batch_handler_without_falling_back()


def test_the_contract_catches_a_batch_handler_that_forgets_what_earlier_batches_wrote() -> None:
    # Every history fits in one batch of the kernel's usual size: the check cuts the log
    # into smaller ones.
    with pytest.raises(AssertionError, match="the batch handler gave other rows than live appends"):
        _flawed("batch forgets earlier batches").test_rebuild_applies_the_batch_handler_without_falling_back()


def test_a_replay_batch_size_runs_every_check_across_batch_boundaries() -> None:
    # The rebuild check replays in the kernel's batches, where the whole history is one.
    _flawed("batch forgets earlier batches").test_rebuild_from_zero_equals_incremental()
    with pytest.raises(AssertionError, match="rebuilding from the log gave different rows"):
        _flawed("batch forgets earlier batches", replay_batch_size=1).test_rebuild_from_zero_equals_incremental()


def test_the_flawless_counter_passes_every_check() -> None:
    contract = _flawed("none")
    for name in dir(contract):
        if name == "test_upgrade_from_the_previous_version_equals_a_rebuild":
            continue  # no previous release to check against (skipped; tested below)
        if name.startswith("test_"):
            getattr(contract, name)()


def test_the_contract_says_what_a_subclass_forgot() -> None:
    class NoEvents(ProjectionContract):
        plugins = (LedgerPlugin(),)
        projection_name = "balances"

    with pytest.raises(TypeError, match="must set projection_name and events"):
        NoEvents().test_rebuild_from_zero_equals_incremental()

    class WrongName(ProjectionContract):
        plugins = (LedgerPlugin(),)
        projection_name = "balance"
        events = evst.event_lists(ledger_events, max_size=2)
        max_examples = 1

    with pytest.raises(AssertionError, match=r"no projection named 'balance'.*loaded: balances"):
        WrongName().test_rebuild_from_zero_equals_incremental()


# --- wrapping handlers leaves the plugin alone -----------------------------------------------


SHARED = Projection("shared", tables=["shared"], migrations=[Migration("1", "CREATE TABLE shared (n INT)")])


@SHARED.on("poked")
def _poked(db: Any, event: Any) -> None:
    db.execute("INSERT INTO shared VALUES (?)", (event.id,))


class _SharedPlugin:
    evstore_plugin_name = "shared_plugin"
    reactions: ClassVar[list[str]] = []

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("poked"))

    @hookimpl(specname="evstore_register_projections")
    def projections(self, register: Callable[[Projection], None]) -> None:
        register(SHARED)

    @hookimpl
    def evstore_register_reactors(self, register: Callable[[Reactor], None]) -> None:
        register(Reactor("note", frozenset({"poked"}), lambda db, event: self.reactions.append(event.event_id)))


def test_wrapped_handlers_replace_a_copy_and_every_other_hook_is_forwarded(tmp_path: Path) -> None:
    calls: list[str] = []

    def wrap(event_type: str, handler: Any) -> Any:
        def wrapped(db: Any, event: Any) -> None:
            calls.append(event_type)
            handler(db, event)

        return wrapped

    [stand_in] = with_wrapped_handlers([_SharedPlugin()], "shared", wrap)
    with EventStore.open(tmp_path / "s.db", plugins=[stand_in], autoload=False) as store:
        assert [p.name for p in store.plugins] == ["shared_plugin"]
        store.append(NewEvent(workflow_id="wf", event_type="poked"))
        assert table_rows(store, "shared") == [(1,)]
    assert calls == ["poked"] and len(_SharedPlugin.reactions) == 1
    assert SHARED.handlers["poked"] is _poked, "the shared Projection object was modified"


# --- strategies ------------------------------------------------------------------------------


@settings(max_examples=30)
@given(events=evst.event_lists(evst.event_envelopes(["a", "b"], roles=["r", None], step_ids=st.just("s")), max_size=8))
def test_event_envelopes_take_strategies_choices_or_nothing(events: list[NewEvent]) -> None:
    assert len({str(e.event_id) for e in events}) == len(events)
    for event in events:
        assert event.event_type in {"a", "b"} and event.role in {"r", None} and event.step_id == "s"
        assert event.component_id is None and event.payload == {}
        assert event.timestamp is not None and event.timestamp.tzinfo is not None


def _stream(workflow_id: str, length: int) -> list[NewEvent]:
    return [NewEvent(workflow_id=workflow_id, event_type="poked", payload={"n": n}) for n in range(length)]


@settings(max_examples=30)
@given(log=evst.interleavings([_stream("a", 3), _stream("b", 2), [], _stream("c", 1)]))
def test_interleavings_keep_every_event_and_each_streams_order(log: list[NewEvent]) -> None:
    assert len(log) == 6
    for workflow_id, length in (("a", 3), ("b", 2), ("c", 1)):
        assert [e.payload["n"] for e in log if e.workflow_id == workflow_id] == list(range(length))


def test_interleavings_also_draw_logs_where_a_later_stream_goes_first() -> None:
    # A merge that always concatenated would never test concurrent runs.
    log = find(evst.interleavings([_stream("a", 2), _stream("b", 2)]), lambda log: log[0].workflow_id == "b")
    assert sorted(e.workflow_id for e in log) == ["a", "a", "b", "b"]


def test_repeated_event_ids_are_replaced_deterministically() -> None:
    one = NewEvent(workflow_id="a", event_type="poked", event_id="00000000-0000-0000-0000-000000000001")
    events = [one, dataclasses.replace(one, workflow_id="b"), one]
    first, second = evst.with_distinct_event_ids(events), evst.with_distinct_event_ids(events)
    assert len({str(e.event_id) for e in first}) == 3
    assert first[0].event_id == one.event_id and [e.workflow_id for e in first] == ["a", "b", "a"]
    assert first == second, "a failing example must replay with the same ids"


# --- the template, copied as its README says ---------------------------------------------


def _copy_template(destination: Path, name: str) -> Path:
    """Copy plugins/_template, rename ``template`` to ``name`` everywhere, drop the
    in-place conftest.py, as the template's README says."""
    copy = destination / f"evstore-{name}"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis", "*.egg-info"))
    (copy / "conftest.py").unlink()
    (copy / "src" / "evstore_template").rename(copy / "src" / f"evstore_{name}")
    for path in copy.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace("template", name))
    return copy


def _fake_install(copy: Path, site: Path) -> None:
    """What ``pip install -e .`` leaves for importlib_metadata: a dist-info with the
    pyproject's entry points (the package itself is put on PYTHONPATH)."""
    project = tomllib.loads((copy / "pyproject.toml").read_text())["project"]
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = ["[evstore]", *(f"{k} = {v}" for k, v in project["entry-points"]["evstore"].items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_the_template_copied_and_renamed_passes_its_tests_and_is_listed(tmp_path: Path) -> None:
    copy = _copy_template(tmp_path, "greetings")
    assert not [p for p in copy.rglob("*") if "template" in p.name]
    site = tmp_path / "site"
    _fake_install(copy, site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy / "src"), str(site)])}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=copy, env=env, capture_output=True, text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # 10 contract checks, 4 scenario and query tests, 1 panel test. Two checks skip: the
    # upgrade check until the copy has a previous release to compare with, the
    # batch-handler check while the copy has no batch handler.
    assert re.search(r"\b14 passed, 2 skipped\b", tested.stdout), tested.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "evstore", "plugins", "--json"],
        env={**env, "EVSTORE_PLUGINS": "greetings"}, capture_output=True, text=True, check=True,
    )
    [plugin] = json.loads(listed.stdout)
    assert (plugin["name"], plugin["distribution"], plugin["version"]) == ("greetings", "evstore-greetings", "0.1.0")
    assert plugin["tables"] == ["greetings_notes"]
    assert plugin["event_types"] == ["greetings_note_added", "greetings_note_removed"]


def test_the_template_keeps_the_layout_of_a_plugin() -> None:
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]
    assert project["name"] == "evstore-template"
    # The kernel's release series (tests/test_packaging.py checks the bound) and pydantic.
    assert [re.split(r"[<>=\[]", r)[0] for r in project["dependencies"]] == ["evstore", "pydantic"]
    assert project["entry-points"]["evstore"] == {"template": "evstore_template"}
    package = TEMPLATE / "src" / "evstore_template"
    assert (package / "py.typed").exists()
    for source in package.rglob("*.py"):
        assert "evstore._" not in source.read_text(), f"{source} imports a private evstore module"


def test_snapshot_tables_reads_in_a_canonical_order(ledger_scenario: Scenario) -> None:
    store = ledger_scenario.store
    store.append_many([deposit("b", 2), deposit("a", 1)])
    assert snapshot_tables(store, ["balances"])["balances"][0][0] == "a"
    with pytest.raises(AssertionError, match="does not exist"):
        table_rows(store, "missing")


# --- the upgrade check ------------------------------------------------------------------------


class _Notes:
    """A projection in two releases: 0.2 added a ``last_at`` column (migration 2) that
    the handler fills; ``bumped`` says whether 0.2 also raised the version."""

    evstore_plugin_name = "notes"

    def __init__(self, release: str, *, bumped: bool = True) -> None:
        self.release, self.bumped = release, bumped

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("noted"))

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        migrations = [Migration("1", "CREATE TABLE notes (workflow_id TEXT PRIMARY KEY, n INT)")]
        newer = self.release == "0.2"
        if newer:
            migrations.append(Migration("2", "ALTER TABLE notes ADD COLUMN last_at TEXT"))
        notes = Projection("notes", version=2 if newer and self.bumped else 1, tables=["notes"], migrations=migrations)

        @notes.on("noted")
        def noted(db: Any, event: Any) -> None:
            db.execute(
                "INSERT INTO notes (workflow_id, n) VALUES (?, 1) ON CONFLICT (workflow_id) DO UPDATE SET n = n + 1",
                (event.workflow_id,),
            )
            if newer:
                db.execute(
                    "UPDATE notes SET last_at = ? WHERE workflow_id = ?", (event.timestamp_text, event.workflow_id)
                )

        register(notes)


def _notes_contract(*, bumped: bool, previous: bool = True) -> ProjectionContract:
    class NotesContract(ProjectionContract):
        plugins = (_Notes("0.2", bumped=bumped),)
        previous_plugins = (_Notes("0.1"),) if previous else None
        projection_name = "notes"
        events = evst.event_lists(
            evst.event_envelopes(["noted"], workflow_ids=["wf-1", "wf-2"]), min_size=1, max_size=5
        )
        max_examples = 5

    return NotesContract()


def test_the_upgrade_check_catches_a_new_column_without_a_version_bump() -> None:
    with pytest.raises(AssertionError, match=r"built by the previous version \(v1\) and opened with v1 .*bump"):
        _notes_contract(bumped=False).test_upgrade_from_the_previous_version_equals_a_rebuild()


def test_the_upgrade_check_passes_with_the_bump() -> None:
    _notes_contract(bumped=True).test_upgrade_from_the_previous_version_equals_a_rebuild()


def test_the_upgrade_check_says_it_is_skipped_without_the_previous_release() -> None:
    with pytest.raises(pytest.skip.Exception, match="sets no previous_plugins"):
        _notes_contract(bumped=True, previous=False).test_upgrade_from_the_previous_version_equals_a_rebuild()


# --- the ownership check ------------------------------------------------------------------------


def test_the_ownership_check_passes_on_the_kernel_and_would_fail_if_a_rival_took_a_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contract = _flawed("none")
    contract.test_tables_of_an_unloaded_owner_are_refused()
    # What the check guards against: a kernel that forgot the recorded owners.
    from evstore._replay import Maintenance

    monkeypatch.setattr(Maintenance, "_claim_tables", lambda self, session, owners: None)
    with pytest.raises(AssertionError, match=r"claimed table 'counts' while 'counter' was not loaded"):
        contract.test_tables_of_an_unloaded_owner_are_refused()
