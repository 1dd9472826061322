"""``assert_entry_point``: the installed package loads and registers what its author
expects.

The kit's fixtures register plugin modules directly, so a typo in the ``evstore``
entry point of ``pyproject.toml``, or a module that only fails to import the way the
entry point names it, passes every other test and breaks only for users.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import importlib_metadata

from .._errors import EvstoreError, describe
from .._plugins import ENTRY_POINT_GROUP, PluginInfo, PluginSet, installed_entry_points
from .._registry import contributions


def assert_entry_point(
    distribution: str,
    *,
    projections: Iterable[str] | None = None,
    event_types: Iterable[str] | None = None,
    reactors: Iterable[str] | None = None,
) -> None:
    """Load the ``evstore`` entry points of the installed ``distribution`` (its name on
    PyPI, e.g. ``"evstore-todos"``) the way a store does, and check that together they
    register exactly these projections, event types and reactors (each one left out is
    not checked). Raises ``AssertionError`` saying what is wrong and how to fix it::

        def test_the_entry_point_registers_the_projection() -> None:
            assert_entry_point("evstore-todos", projections=["todos"], event_types=["todo_added"])
    """
    found = _distribution(distribution)
    points = [point for point in found.entry_points if point.group == ENTRY_POINT_GROUP]
    label = f"{found.name} {found.version}"
    if not points:
        raise AssertionError(
            f"{label} declares no entry point in the {ENTRY_POINT_GROUP!r} group, so no store finds it. Add "
            f'[project.entry-points.{ENTRY_POINT_GROUP}] <name> = "<your_module>" to its pyproject.toml and '
            "reinstall it (pip install -e .)"
        )
    _no_namesake(points, found.name, label)
    plugins = PluginSet()
    try:
        for point in points:
            plugins.add(_load(point, label), PluginInfo(point.name, found.name, found.version, "entry point"))
        plugins.check()
        registry = contributions(plugins)
    except EvstoreError as error:
        raise AssertionError(f"the entry points of {label} load, but: {error}") from error
    problems = [
        _difference(what, expected, actual)
        for what, expected, actual in (
            ("projections", projections, registry.projections),
            ("event types", event_types, registry.event_types),
            ("reactors", reactors, registry.reactors),
        )
        if expected is not None and set(expected) != set(actual)
    ]
    if problems:
        names = ", ".join(f"{point.name} = {point.value}" for point in points)
        raise AssertionError(f"the entry points of {label} ({names}) register {'; '.join(problems)}")


def _distribution(name: str) -> importlib_metadata.Distribution:
    try:
        found: importlib_metadata.Distribution = importlib_metadata.Distribution.from_name(name)
        return found
    except importlib_metadata.PackageNotFoundError:
        raise AssertionError(
            f"no distribution named {name!r} is installed for {sys.executable}; install the package "
            "(pip install -e . in its folder) before running its tests, or check the name in pyproject.toml"
        ) from None


def _no_namesake(points: list[importlib_metadata.EntryPoint], distribution: str, label: str) -> None:
    """A store refuses to start with two installed plugins of one name: a name another
    distribution already uses is as broken as a typo."""
    ours = {point.name for point in points}
    for other in installed_entry_points():
        dist = other.dist
        if other.name in ours and dist is not None and dist.name != distribution:
            raise AssertionError(
                f"entry point {other.name!r} of {label} has the name of one from {dist.name} {dist.version}; "
                "plugin names are unique in an environment, so a store refuses to start with both. Rename "
                "the entry point (and evstore_plugin_name with it)"
            )


def _load(point: importlib_metadata.EntryPoint, label: str) -> object:
    try:
        return point.load()
    except Exception as error:
        raise AssertionError(
            f"entry point {point.name!r} of {label} ({point.value}) does not load: {describe(error)}. Check the "
            "module (and attribute) it names in pyproject.toml, then reinstall the package"
        ) from error


def _difference(what: str, expected: Iterable[str], actual: Iterable[str]) -> str:
    wanted, got = set(expected), set(actual)
    missing = f"missing {sorted(wanted - got)}" if wanted - got else ""
    extra = f"not expected {sorted(got - wanted)}" if got - wanted else ""
    return f"{what} {sorted(got)}, expected {sorted(wanted)} ({', '.join(filter(None, [missing, extra]))})"
