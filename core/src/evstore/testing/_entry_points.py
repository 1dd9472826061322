"""Making a plugin look installed (found through the ``evstore`` entry-point group)
without installing anything: for tests of discovery, ``evstore plugins`` and autoload."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import importlib_metadata

from .. import _plugins


@dataclass(frozen=True)
class _Distribution:
    name: str
    version: str


@dataclass(frozen=True)
class _RegisteredEntryPoint:
    """Quacks like ``importlib_metadata.EntryPoint`` as far as plugin loading looks."""

    name: str
    value: str
    plugin: object
    dist: _Distribution | None
    group: str = _plugins.ENTRY_POINT_GROUP

    def load(self) -> object:
        return self.plugin


@contextmanager
def register_plugin(
    plugin: object, name: str | None = None, *, distribution: str | None = None, version: str = "0.0.0"
) -> Iterator[None]:
    """While the block runs, ``plugin`` is found like an installed one: stores opened with
    autoload, ``evstore plugins`` and ``EVSTORE_PLUGINS`` / ``EVSTORE_DISABLE_PLUGINS`` see
    it under ``name`` (default: its ``evstore_plugin_name`` or module name), from
    ``distribution`` if given. An installed plugin of the same name is hidden meanwhile.

    The ``evstore_register_plugin`` fixture does the same for one test.
    """
    entry_point = _entry_point(plugin, name, distribution, version)
    original = _plugins.installed_entry_points
    _plugins.installed_entry_points = _with(original, entry_point)
    try:
        yield
    finally:
        _plugins.installed_entry_points = original


def _entry_point(
    plugin: object, name: str | None, distribution: str | None, version: str
) -> _RegisteredEntryPoint:
    chosen = name or _plugins._explicit_name(plugin)
    value = getattr(plugin, "__name__", None) or f"{type(plugin).__module__}:{type(plugin).__qualname__}"
    dist = _Distribution(distribution, version) if distribution else None
    return _RegisteredEntryPoint(chosen, str(value), plugin, dist)


def _with(
    original: Callable[[], list[importlib_metadata.EntryPoint]], added: _RegisteredEntryPoint
) -> Callable[[], list[importlib_metadata.EntryPoint]]:
    def installed_entry_points() -> list[importlib_metadata.EntryPoint]:
        kept: list[Any] = [ep for ep in original() if ep.name != added.name]
        # Sorted by name like the real ones, so discovery order stays what users get.
        return sorted([*kept, cast(Any, added)], key=lambda ep: (ep.name, ep.value))

    return installed_entry_points
