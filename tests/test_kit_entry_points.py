"""``evstore.testing.assert_entry_point`` on packages installed for real (fake
distribution metadata in a folder on sys.path, found by importlib_metadata)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evstore.testing import assert_entry_point

PLUGIN_MODULE = '''
from evstore import EventType, Migration, Projection, hookimpl

TODOS = Projection("todos", tables=["todos"], migrations=[Migration("1", "CREATE TABLE todos (id TEXT)")])


@TODOS.on("todo_added")
def added(db, event):
    db.execute("INSERT INTO todos VALUES (?)", (event.workflow_id,))


@hookimpl
def evstore_register_event_types(register):
    register(EventType("todo_added"))


@hookimpl
def evstore_register_projections(register):
    register(TODOS)
'''


def _install(site: Path, *, entry_point: str, module_text: str = PLUGIN_MODULE, name: str = "evstore-todos") -> None:
    """What ``pip install`` leaves for importlib_metadata: a dist-info folder with the
    entry points, and the module beside it."""
    (site / "evstore_todos_kit.py").write_text(module_text)
    dist_info = site / f"{name.replace('-', '_')}-0.3.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3.0\n")
    (dist_info / "entry_points.txt").write_text(f"[evstore]\n{entry_point}\n" if entry_point else "")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "evstore_todos_kit", raising=False)
    return tmp_path


def test_a_good_entry_point_passes(site: Path) -> None:
    _install(site, entry_point="todos = evstore_todos_kit")
    assert_entry_point("evstore-todos", projections=["todos"], event_types=["todo_added"], reactors=[])


def test_a_typo_in_the_entry_point_is_caught(site: Path) -> None:
    _install(site, entry_point="todos = evstore_todo_kit")
    with pytest.raises(AssertionError, match=r"entry point 'todos' of evstore-todos 0.3.0 \(evstore_todo_kit\) "
                       r"does not load: ModuleNotFoundError"):
        assert_entry_point("evstore-todos", projections=["todos"])


def test_a_module_that_fails_to_import_is_caught(site: Path) -> None:
    _install(site, entry_point="todos = evstore_todos_kit", module_text="import evstore_no_such_dependency\n")
    with pytest.raises(AssertionError, match=r"does not load: ModuleNotFoundError.*evstore_no_such_dependency"):
        assert_entry_point("evstore-todos")


def test_an_entry_point_registering_something_else_is_caught(site: Path) -> None:
    _install(site, entry_point="todos = evstore_todos_kit")
    with pytest.raises(AssertionError, match=r"projections \['todos'\], expected \['todo'\] "
                       r"\(missing \['todo'\], not expected \['todos'\]\)"):
        assert_entry_point("evstore-todos", projections=["todo"], event_types=["todo_added"])
    with pytest.raises(AssertionError, match=r"event types \['todo_added'\], expected \[\] \(not expected"):
        assert_entry_point("evstore-todos", event_types=[])


def test_a_module_without_hooks_registers_nothing_and_is_caught(site: Path) -> None:
    _install(site, entry_point="todos = evstore_todos_kit", module_text="X = 1\n")
    with pytest.raises(AssertionError, match=r"projections \[\], expected \['todos'\]"):
        assert_entry_point("evstore-todos", projections=["todos"])


def test_a_missing_entry_point_group_or_distribution_is_caught(site: Path) -> None:
    _install(site, entry_point="")
    with pytest.raises(AssertionError, match=r"declares no entry point in the 'evstore' group.*entry-points\.evstore"):
        assert_entry_point("evstore-todos")
    with pytest.raises(AssertionError, match="no distribution named 'evstore-todoz' is installed"):
        assert_entry_point("evstore-todoz")


def test_a_plugin_whose_registration_raises_is_caught(site: Path) -> None:
    broken = PLUGIN_MODULE.replace('register(TODOS)', 'raise KeyError("oops")')
    _install(site, entry_point="todos = evstore_todos_kit", module_text=broken)
    with pytest.raises(AssertionError, match=r"load, but: plugin 'todos' .*failed while registering projections"):
        assert_entry_point("evstore-todos")


def test_the_first_party_plugins_pass_their_own_check() -> None:
    assert_entry_point("evstore-steps", projections=["steps"])
    assert_entry_point("evstore-workflows", projections=["workflows"])


def test_an_entry_point_named_like_another_installed_plugin_is_caught(site: Path) -> None:
    _install(site, entry_point="steps = evstore_todos_kit")
    with pytest.raises(AssertionError, match=r"entry point 'steps' of evstore-todos 0.3.0 has the name of one from "
                       r"evstore-steps"):
        assert_entry_point("evstore-todos")
