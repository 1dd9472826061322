"""The PostgreSQL backend: the same store on a server, for users who outgrow one machine.

psycopg 3 with one ``psycopg_pool`` pool per store; each thread holds one connection
(autocommit, so every BEGIN is ours, as with SQLite). Kernel and projection SQL is
written once with ``?`` placeholders and translated per text (``_pg_sql``); table
ownership is decided by PostgreSQL's parser (``_pg_guard``).

Ordering, the part that must not be wrong: every write transaction takes one
transaction-scoped advisory lock right after BEGIN, at READ COMMITTED, and positions are
max(id) + 1 under it (a trigger assigns them, and makes raw INSERTs take the same lock).
So positions are gap-free and in commit order: the transaction holding position N
commits before any transaction that could get N + 1 takes the lock, and a reader tailing
``read_all(after=...)`` can never see N + 1 before N. A sequence or identity column would
hand out numbers in start order, not commit order: a transaction that started first and
commits last would make a tailing reader skip its event for good.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import psycopg
import psycopg.errors
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict

from ._backend import Session, StatementCache
from ._errors import (
    StorageError,
    StoreBusyError,
    StoreClosedError,
    StoreConnectionError,
    StoreOpenError,
    TransactionError,
)
from ._pg_insert import (
    STREAM_FROM,
)
from ._pg_schema import SCHEMA_VERSION, check_schema_version, kernel_ddl, table_names
from ._pg_session import PostgresSession
from ._pg_support import SEARCH_PATH, BoolAsInteger, choose_schema, redact, shielded

_CONNECT_TIMEOUT = 10


class PostgresBackend:
    """A store in one schema of a PostgreSQL database."""

    dialect = "postgresql"
    stream_from: int | None = STREAM_FROM

    def __init__(
        self, url: str, *, durability: str, busy_timeout: float, read_only: bool, schema: str | None,
        pool_size: int, pool_timeout: float,
    ) -> None:
        self.url = url
        self.read_only = read_only
        self.busy_timeout = busy_timeout
        self.pool_size, self.pool_timeout = pool_size, pool_timeout
        self.durability = durability
        try:
            parts = conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise StoreOpenError(f"bad PostgreSQL URL {redact(url)!r}: {error}") from None
        self._options = str(parts.get("options") or "")
        self.schema = choose_schema(schema, self._options)
        self._target = f"{redact(url)} (schema {self.schema})"
        digest = hashlib.sha256(f"evstore:{parts.get('dbname')}:{self.schema}".encode()).digest()
        # One advisory lock key per store (database and schema): stores in other schemas
        # of the same server never wait for each other.
        self.lock_key = int.from_bytes(digest[:8], "big", signed=True)
        # Where commits that appended say so (LISTEN/NOTIFY); one channel per store.
        self.channel = f"evstore_{self.lock_key & 0xFFFFFFFFFFFF:012x}"
        # The kernel's own SQL, translated; dynamic texts (IN lists) keep it bounded.
        self.translations = StatementCache(limit=10_000)
        self._probe()
        self.pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
            url, min_size=0, max_size=pool_size, timeout=pool_timeout, open=True,
            kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT}, configure=self._configure,
            name=f"evstore:{self.schema}",
        )
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def target(self) -> str:
        return self._target

    def key_for(self, name: str) -> int:
        """The advisory lock key of a named lock of this store (a worker's lease)."""
        digest = hashlib.sha256(f"evstore:{self.schema}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @property
    def location(self) -> str:
        if SEARCH_PATH.search(self._options):
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}options=-csearch_path%3D{self.schema}"

    def _probe(self) -> None:
        """Connect once, so a wrong host, port, database or password is a clear error
        now rather than a pool timeout later."""
        try:
            with psycopg.connect(self.url, connect_timeout=_CONNECT_TIMEOUT, autocommit=True):
                pass
        except psycopg.Error as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise StoreOpenError(
                f"cannot connect to PostgreSQL at {redact(self.url)!r}: {detail}. Check the URL, that the "
                "server is running and reachable, and the user's password and rights."
            ) from None

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.adapters.register_dumper(bool, BoolAsInteger)
        conn.execute(f'SET search_path TO "{self.schema}"')
        # "full": COMMIT returns once the WAL is flushed (survives a server crash);
        # "normal": it returns before (survives a crash of the application, like SQLite's).
        conn.execute(f"SET synchronous_commit TO {'on' if self.durability == 'full' else 'off'}")
        conn.execute(f"SET lock_timeout TO {int(self.busy_timeout * 1000)}")
        if self.read_only:
            conn.execute("SET default_transaction_read_only TO on")

    def connect(self) -> PostgresSession:
        return PostgresSession(self, self._get())

    def _get(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreClosedError(f"the store at {self.target!r} is closed; open it again")
        try:
            return shielded(lambda: self.pool.getconn(timeout=self.pool_timeout))
        except psycopg_pool.PoolTimeout:
            raise StoreBusyError(
                f"no connection to {self.target!r} came free within {self.pool_timeout:g} s: all "
                f"{self.pool_size} of the store's pool are in use (each thread using the store holds "
                "one). Open the store with a larger pool_size, or use it from fewer threads."
            ) from None
        except psycopg_pool.PoolClosed:
            raise StoreClosedError(f"the store at {self.target!r} is closed; open it again") from None
        except psycopg.Error as error:
            raise StoreConnectionError(f"cannot connect to {self.target!r}: {error}") from None

    def put(self, conn: psycopg.Connection[Any]) -> None:
        if self._closed:
            conn.close()
            return
        try:
            shielded(lambda: self.pool.putconn(conn))
        except Exception:  # the pool is closing, or the connection belongs to a closed pool
            conn.close()

    def ensure_schema(self, session: Session) -> None:
        assert isinstance(session, PostgresSession)
        conn = session.conn
        quoted = f'"{self.schema}"'
        try:
            if self.read_only:
                check_schema_version(conn, self.schema, self.target)
                return
            session.begin_write()
            try:
                conn = session.raw  # sends the BEGIN: what follows runs on the connection itself
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
                tables = table_names(conn, self.schema)
                if "evstore_meta" not in tables:
                    if tables:
                        raise StoreOpenError(
                            f"schema {self.schema!r} of {redact(self.url)!r} has tables "
                            f"({', '.join(sorted(tables)[:5])}) but is not an evstore store; choose "
                            "another schema (schema= or ?options=-csearch_path%3Dname)."
                        )
                    for script in kernel_ddl(self.lock_key):  # the first schema and every upgrade
                        conn.execute(script)
                    conn.execute(
                        "INSERT INTO evstore_meta (key, value) VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),)
                    )
                version = check_schema_version(conn, self.schema, self.target)
                for script in kernel_ddl(self.lock_key, after=version):
                    conn.execute(script)
                if version < SCHEMA_VERSION:
                    conn.execute(
                        "UPDATE evstore_meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
                    )
                session.commit()
            finally:
                session.rollback()
        except psycopg.OperationalError as error:
            raise StoreConnectionError(f"lost the connection to {self.target!r}: {error}") from None
        except psycopg.Error as error:
            raise StoreOpenError(f"cannot set up the store in {self.target!r}: {error}") from None

    def storage_error(self, error: BaseException) -> Exception | None:
        if isinstance(error, psycopg.errors.DiskFull):
            return StorageError(
                f"the PostgreSQL server of {self.target!r} is out of disk space ({error}); nothing of "
                "this call was written. Free space on the server and retry."
            )
        if isinstance(error, psycopg.errors.UndefinedTable) and ("events" in str(error) or "evstore_" in str(error)):
            return StorageError(
                f"{self.target!r} lacks a kernel table ({str(error).splitlines()[0]}): it was dropped "
                "outside evstore. Restore the store from a backup (pg_dump) or an export."
            )
        if isinstance(error, psycopg.errors.InFailedSqlTransaction):
            return TransactionError(
                f"an earlier statement of this transaction on {self.target!r} failed on the server, which "
                "refuses the rest of it: leave the `with` block (it rolls back) and retry the whole transaction"
            )
        if isinstance(error, psycopg.OperationalError):
            return StoreConnectionError(f"lost the connection to {self.target!r}: {error}")
        return None

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        shielded(lambda: self.pool.close(timeout=1.0))
