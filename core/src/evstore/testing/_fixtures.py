"""``StoreFactory``: opens stores for a test and closes them all afterwards."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._store import EventStore
from ._backends import TargetFactory


class StoreFactory:
    """``factory(plugins, path=None, **options)`` opens an ``EventStore``.

    Defaults suited to tests: ``autoload=False`` (only the plugins you pass are loaded,
    so what is installed in the environment cannot change the result) and
    ``durability="normal"`` (no fsync per commit: a test need not survive power loss).
    Every call without ``path`` opens the same store (``<folder>/evstore.db``, or one
    PostgreSQL schema), so calling it again reopens the store as a restarted process
    would; ``path`` names another store (on PostgreSQL, a schema named after its stem).
    :meth:`close_all` closes every store it opened.
    """

    def __init__(self, folder: str | os.PathLike[str], targets: TargetFactory | None = None) -> None:
        self.folder = Path(folder)
        self.targets = targets or TargetFactory("sqlite", self.folder)
        self.backend = self.targets.backend
        self.target = self.targets()
        # The default store's location: a Path on SQLite, the URL on PostgreSQL.
        self.path: Path | str = Path(self.target) if self.backend == "sqlite" else self.target
        self.opened: list[EventStore] = []

    def target_for(self, path: str | os.PathLike[str] | None) -> str:
        if path is None:
            return self.target
        if self.backend == "sqlite" or str(path).startswith(("postgresql://", "postgres://")):
            return str(path)
        return self.targets(Path(path).stem)

    def __call__(
        self, plugins: Sequence[object] = (), *, path: str | os.PathLike[str] | None = None, **options: Any
    ) -> EventStore:
        options.setdefault("autoload", False)
        options.setdefault("durability", "normal")
        store = EventStore.open(self.target_for(path), plugins=list(plugins), **options)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        stores, self.opened = self.opened, []
        for store in stores:
            store.close()
