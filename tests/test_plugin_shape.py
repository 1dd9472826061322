"""Every projection plugin, the template included, has one shape, so what an author
learns from one (or copies from the template) holds for all of them:

- the same module for the same role: ``_events.py`` (``EVENT_TYPES``), ``_projection.py``
  (``PROJECTION_NAME``, ``build_projection``), ``_queries.py``, ``_ui.py``
  (``register_ui``), ``py.typed``, and ``tests/`` with a ``conftest.py`` naming the
  plugins the kit loads and a ``test_contract.py``;
- one ``evstore.Plugin`` declaration in ``__init__.py`` named like its entry point, and
  no hook boilerplate beside it;
- a projection built per store, never one module-level object shared by all stores;
- every query that reads the tables checks first that the projection is loaded.
"""

from __future__ import annotations

import ast
import importlib
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from evstore import EventStore, Plugin, Projection, ProjectionNotLoadedError

ROOT = Path(__file__).resolve().parents[1]
PROJECTION_PLUGINS = ["_template", "checkpoints", "features", "graph", "metrics", "steps", "workflows"]
MODULES = ["__init__.py", "_events.py", "_projection.py", "_queries.py", "_ui.py", "py.typed"]
_IMPL_MARK = "evstore_impl"  # where pluggy's HookimplMarker("evstore") marks a function


def _package(folder: str) -> tuple[str, Path]:
    name = "evstore_template" if folder == "_template" else f"evstore_{folder}"
    return name, ROOT / "plugins" / folder / "src" / name


def _import(folder: str) -> ModuleType:
    name, source = _package(folder)
    if folder == "_template" and str(source.parent) not in sys.path:
        sys.path.insert(0, str(source.parent))  # not installed on purpose (see its conftest.py)
    return importlib.import_module(name)


@pytest.mark.parametrize("folder", PROJECTION_PLUGINS)
def test_the_same_modules_hold_the_same_roles(folder: str) -> None:
    _, source = _package(folder)
    tests = ROOT / "plugins" / folder / "tests"
    missing = [m for m in MODULES if not (source / m).is_file()]
    missing += [f"tests/{t}" for t in ("conftest.py", "test_contract.py") if not (tests / t).is_file()]
    assert not missing, f"plugins/{folder} lacks {missing}"
    conftest = (tests / "conftest.py").read_text()
    assert "def evstore_plugins(" in conftest, f"plugins/{folder}/tests/conftest.py names no evstore_plugins"


@pytest.mark.parametrize("folder", PROJECTION_PLUGINS)
def test_init_declares_the_plugin_and_writes_no_hook_boilerplate(folder: str) -> None:
    module = _import(folder)
    declaration = module.evstore_plugin
    assert isinstance(declaration, Plugin)
    entry_points = tomllib.loads((ROOT / "plugins" / folder / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry_points["evstore"] == {declaration.name: module.__name__}
    written = [n for n in vars(module) if n.startswith("evstore_") and hasattr(getattr(module, n), _IMPL_MARK)]
    assert written == [], f"{module.__name__} declares evstore_plugin and still writes {written}"
    events = importlib.import_module(f"{module.__name__}._events")
    ui = importlib.import_module(f"{module.__name__}._ui")
    assert declaration.event_types == tuple(events.EVENT_TYPES)
    assert declaration.ui is ui.register_ui


@pytest.mark.parametrize("folder", PROJECTION_PLUGINS)
def test_each_store_gets_a_projection_of_its_own(folder: str) -> None:
    module = _import(folder)
    projection_module = importlib.import_module(f"{module.__name__}._projection")
    build = projection_module.build_projection
    assert list(module.evstore_plugin.projections) == [build]
    first, second = build(), build()
    assert isinstance(first, Projection) and first is not second
    assert first.name == projection_module.PROJECTION_NAME
    assert first.handlers == second.handlers and first.handlers is not second.handlers
    shared = [n for n, v in vars(projection_module).items() if isinstance(v, Projection)]
    assert shared == [], f"{projection_module.__name__} keeps module-level projections {shared}"


def _reads_before_checking(tree: ast.Module) -> list[str]:
    """Public functions taking ``store`` that read ``store.reader`` without first calling
    ``require_projection``."""
    offenders = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        if not node.args.args or node.args.args[0].arg != "store":
            continue
        reads = any(
            isinstance(n, ast.Attribute) and n.attr in ("reader", "snapshot") for n in ast.walk(node)
        )
        checks = any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "require_projection"
            for n in ast.walk(node)
        )
        if reads and not checks:
            offenders.append(node.name)
    return offenders


@pytest.mark.parametrize("folder", PROJECTION_PLUGINS)
def test_every_query_checks_its_projection_is_loaded(folder: str) -> None:
    _, source = _package(folder)
    for name in ("_queries.py", "_commands.py"):
        path = source / name
        if path.is_file():
            offenders = _reads_before_checking(ast.parse(path.read_text()))
            assert offenders == [], f"{path.relative_to(ROOT)}: {offenders} read without require_projection"


@pytest.mark.parametrize("folder", PROJECTION_PLUGINS)
def test_a_query_on_a_store_without_the_plugin_names_it(folder: str, tmp_path: Path) -> None:
    module = _import(folder)
    queries = importlib.import_module(f"{module.__name__}._queries")
    projection_name = importlib.import_module(f"{module.__name__}._projection").PROJECTION_NAME
    query = next(
        getattr(queries, n) for n in sorted(vars(queries))
        if n.startswith(("get_", "list_")) and callable(getattr(queries, n))
    )
    with EventStore.open(tmp_path / "s.db", plugins=[], autoload=False) as store, \
            pytest.raises(ProjectionNotLoadedError) as raised:
        query(store, "x")
    assert raised.value.projection == projection_name and raised.value.package == module.__name__
    assert f"plugins=[{module.__name__}]" in str(raised.value)
