"""``evstore.require_projection``: the check a plugin's queries make before reading.

Without it, a query on a store where the plugin is not loaded reads a missing table
(an SQL error that names no plugin) or, worse, a table left over from an earlier run
that nothing keeps up to date. The error says which plugin provides the projection,
whether it is installed, and what keeps it from loading here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import importlib_metadata

from ._errors import ProjectionNotLoadedError
from ._plugins import ENV_ALLOW, ENV_DENY, ENV_NO_AUTOLOAD, _env_names, installed_entry_points

if TYPE_CHECKING:
    from ._store import EventStore


def require_projection(store: EventStore, projection: str, *, package: str) -> None:
    """Raise :class:`evstore.ProjectionNotLoadedError` unless ``projection`` is loaded
    in ``store``. Call it first in every function that reads the projection's tables.

    :param projection: the projection's name.
    :param package: the import name of the plugin that provides it (``__package__``
        in the plugin's own modules), named in the error as what to install or pass
        in ``plugins=[...]``.
    """
    if store.has_projection(projection):
        return
    message = (
        f"the {projection!r} projection is not loaded in the store at {store.target!r}, so its "
        f"tables are missing or stale: {_remedy(package)}"
    )
    raise ProjectionNotLoadedError(message, projection=projection, package=package)


def _remedy(package: str) -> str:
    entry_point = _entry_point_of(package)
    explicit = f"open the store with plugins=[{package}]"
    if entry_point is None:
        distribution = package.replace("_", "-")
        return f"install {distribution} (pip install {distribution}), or {explicit}."
    name = entry_point.name
    dist = entry_point.dist
    plugin = f"plugin {name!r} ({dist.name if dist else package})"
    allow, deny = _env_names(ENV_ALLOW), _env_names(ENV_DENY) or set()
    if name in deny:
        return f"{plugin} is installed but {ENV_DENY} lists it; remove it from there, or {explicit}."
    if allow is not None and name not in allow:
        return (
            f"{plugin} is installed but {ENV_ALLOW}={os.environ.get(ENV_ALLOW, '')!r} leaves it "
            f"out; add {name} there, or {explicit}."
        )
    return (
        f"{plugin} is installed but was not loaded (the store was opened with "
        f"autoload=False, or {ENV_NO_AUTOLOAD} is set); {explicit}, or open it with autoload on."
    )


def _entry_point_of(package: str) -> importlib_metadata.EntryPoint | None:
    for entry_point in installed_entry_points():
        if entry_point.value.split(":")[0].split(".")[0] == package.split(".")[0]:
            return entry_point
    return None
