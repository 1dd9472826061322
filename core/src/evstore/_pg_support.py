"""What the PostgreSQL backend needs around psycopg: parameter adaptation, quiet
pipelines, URL redaction, schema choice, and pool calls that signals cannot break."""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ._errors import StoreOpenError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SEARCH_PATH = re.compile(r"(?:^|\s)-c\s*search_path\s*=\s*([^\s,]+)")


def _not_pipeline_aborted(record: logging.LogRecord) -> bool:
    """psycopg logs "error ignored terminating <Pipeline>: pipeline aborted" when a
    statement in a pipeline failed and the pipeline's exit fails in turn: the first error
    (a conflict we handle) is raised to us, so the second is only noise."""
    message = record.getMessage()
    return not (message.startswith("error ignored terminating") and "pipeline aborted" in message)


logging.getLogger("psycopg").addFilter(_not_pipeline_aborted)


class BoolAsInteger(Dumper):
    """SQLite stores booleans as 0 and 1, so projection SQL writes them into INTEGER
    columns (BIGINT here); PostgreSQL would refuse a boolean parameter there."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def redact(url: str) -> str:
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)
    parts.pop("password", None)
    return make_conninfo("", **{k: str(v) for k, v in parts.items() if v is not None})


T = TypeVar("T")


def shielded(operation: Callable[[], T]) -> T:
    """Run a pool operation with SIGINT and SIGTERM held back until it is done.

    psycopg_pool guards its queues with ``threading`` locks, and a KeyboardInterrupt
    raised between a lock's acquire and the ``with`` block that releases it leaves the
    lock held: the next pool call of the process would wait for ever (seen under a storm
    of SIGINTs). Python runs signal handlers in the main thread only, so there the
    handlers are swapped for ones that note the signal, and the original handler runs
    once the operation has finished.
    """
    if threading.current_thread() is not threading.main_thread():
        return operation()
    noted: list[tuple[int, Any]] = []
    previous: dict[int, Any] = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    held: dict[int, Any] = {number: handler for number, handler in previous.items() if callable(handler)}
    for number in held:
        signal.signal(number, lambda signum, frame: noted.append((signum, frame)))
    try:
        return operation()
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
        for signum, frame in noted[:1]:
            held[signum](signum, frame)


def in_pipeline(conn: psycopg.Connection[Any]) -> bool:
    """Whether the connection is (still) in pipeline mode, as psycopg or libpq sees it:
    an interrupt during a pipeline's exit can leave either behind."""
    if conn.closed:
        return False
    return conn._pipeline is not None or bool(conn.pgconn.pipeline_status)


def choose_schema(schema: str | None, options: str) -> str:
    from_url = SEARCH_PATH.search(options)
    chosen = schema if schema is not None else (from_url.group(1).strip("\"'") if from_url else "public")
    if not isinstance(chosen, str) or not IDENTIFIER.match(chosen):
        raise StoreOpenError(
            f"schema {chosen!r} is not a plain identifier (letters, digits and _, at most 63): "
            "choose another schema name"
        )
    if schema is not None and from_url and from_url.group(1).strip("\"'") != schema:
        raise StoreOpenError(
            f"the URL's search_path ({from_url.group(1)!r}) and schema={schema!r} disagree; give one of them"
        )
    return chosen
