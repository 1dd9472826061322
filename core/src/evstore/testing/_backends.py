"""Where tests put their stores: SQLite files in a folder, or PostgreSQL schemas.

``TargetFactory(backend, folder)`` hands out store targets (what ``EventStore.open``
takes) for one test: ``factory()`` is the test's store, ``factory("other")`` a second,
independent one; asking for the same name again gives the same store, as reopening a
file would. On PostgreSQL each name is a fresh schema of the test database, dropped when
the factory is cleaned up, so tests never see each other's events.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
ENV_BACKEND = "EVSTORE_TEST_BACKEND"
ENV_POSTGRES_URL = "EVSTORE_TEST_POSTGRES_URL"

# Every test schema adds rows to PostgreSQL's catalogs and dropping it leaves them dead;
# autovacuum falls far behind a suite that creates thousands, and then every catalog
# query (table lists, schema creation) slows down tenfold. Vacuuming the catalogs we
# churn every so many drops keeps a long run as fast as a short one.
VACUUM_EVERY = 100
_CATALOGS = (
    "pg_class", "pg_attribute", "pg_type", "pg_depend", "pg_index", "pg_constraint", "pg_trigger",
    "pg_attrdef", "pg_namespace", "pg_proc", "pg_description", "pg_sequence",
)
_dropped_since_vacuum = 0


class TargetFactory:
    """Store targets for one test on one backend; :meth:`cleanup` removes them."""

    def __init__(self, backend: str, folder: str | os.PathLike[str], postgres_url: str | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self.folder = Path(folder)
        self.postgres_url = postgres_url or os.environ.get(ENV_POSTGRES_URL) or DEFAULT_POSTGRES_URL
        self._run = uuid.uuid4().hex[:10]
        self._schemas: dict[str, str] = {}

    def __call__(self, name: str = "evstore") -> str:
        """The target of the store called ``name`` (a file path or a URL)."""
        if self.backend == "sqlite":
            return str(self.folder / f"{name}.db")
        schema = self._schemas.get(name)
        if schema is None:
            cleaned = re.sub(r"[^a-z0-9_]", "_", name.lower())[:30]
            schema = self._schemas[name] = f"evt_{self._run}_{len(self._schemas)}_{cleaned}"
        separator = "&" if "?" in self.postgres_url else "?"
        return f"{self.postgres_url}{separator}options=-csearch_path%3D{schema}"

    def schema(self, name: str = "evstore") -> str | None:
        """The PostgreSQL schema behind ``name`` (``None`` on SQLite)."""
        if self.backend == "sqlite":
            return None
        self(name)
        return self._schemas[name]

    def cleanup(self) -> None:
        schemas, self._schemas = list(self._schemas.values()), {}
        if not schemas:
            return
        import psycopg

        global _dropped_since_vacuum
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            _dropped_since_vacuum += len(schemas)
            if _dropped_since_vacuum >= VACUUM_EVERY:
                _dropped_since_vacuum = 0
                try:
                    # Only owners may vacuum catalogs; for others it is a warning, not an error.
                    conn.execute("VACUUM " + ", ".join(f"pg_catalog.{name}" for name in _CATALOGS))
                except psycopg.Error:
                    pass


def check_postgres(url: str) -> str | None:
    """Why the PostgreSQL test database cannot be used, or ``None`` if it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'evstore[postgresql]')"
    try:
        with psycopg.connect(url, connect_timeout=5):
            return None
    except psycopg.Error as error:
        return f"cannot connect to {url}: {str(error).strip().splitlines()[0] if str(error).strip() else error!r}"


def chosen_backends(option: Any) -> list[str]:
    value = str(option or "sqlite")
    return list(BACKENDS) if value == "all" else [value]
