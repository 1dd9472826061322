"""``StoreFactory``: opens stores for a test and closes them all afterwards."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._store import EventStore


class StoreFactory:
    """``factory(plugins, path=None, **options)`` opens an ``EventStore``.

    Defaults suited to tests: ``autoload=False`` (only the plugins you pass are loaded,
    so what is installed in the environment cannot change the result) and
    ``durability="normal"`` (no fsync per commit: a test need not survive power loss).
    Every call without ``path`` opens the same file, ``<folder>/evstore.db``, so calling
    it again reopens the store as a restarted process would. :meth:`close_all` closes
    every store it opened.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "evstore.db"
        self.opened: list[EventStore] = []

    def __call__(
        self, plugins: Sequence[object] = (), *, path: str | os.PathLike[str] | None = None, **options: Any
    ) -> EventStore:
        options.setdefault("autoload", False)
        options.setdefault("durability", "normal")
        store = EventStore.open(self.path if path is None else Path(path), plugins=list(plugins), **options)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        stores, self.opened = self.opened, []
        for store in stores:
            store.close()
