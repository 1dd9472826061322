"""Checking the arguments of public calls, and choosing the backend a target names."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._backend import Backend
from ._errors import InvalidArgumentError

# SQLite and PostgreSQL integers are signed 64-bit: anything larger cannot be a position,
# a version or a limit, and would fail inside the driver with an untyped OverflowError.
MAX_INTEGER = 2**63 - 1
# SQLite's busy timeout is a C int of milliseconds.
MAX_SECONDS = (2**31 - 1) / 1000
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidArgumentError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_number(name: str, value: Any, *, minimum: float, maximum: float = MAX_SECONDS) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not minimum <= value <= maximum
    ):
        raise InvalidArgumentError(f"{name} must be a number from {minimum:g} to {maximum:g}, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_INTEGER:
        raise InvalidArgumentError(f"{name} must be an int from {minimum} to 2**63-1, got {value!r:.60}")
    return value


def is_postgres_url(target: Any) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def open_backend(
    target: Any, *, durability: str, busy_timeout: float, read_only: bool, schema: str | None,
    pool_size: int, pool_timeout: float,
) -> Backend:
    """The backend ``target`` names: a PostgreSQL URL or a SQLite file path."""
    if is_postgres_url(target):
        from ._postgres import PostgresBackend  # psycopg is imported only when used

        check_int("pool_size", pool_size, minimum=1)
        check_number("pool_timeout", pool_timeout, minimum=0.0)
        return PostgresBackend(
            target, durability=durability, busy_timeout=busy_timeout, read_only=read_only,
            schema=schema, pool_size=pool_size, pool_timeout=pool_timeout,
        )
    if schema is not None:
        raise InvalidArgumentError("schema= is for PostgreSQL stores; a SQLite store is its file")
    if not isinstance(target, (str, os.PathLike)) or not str(target) or str(target) == ":memory:":
        raise InvalidArgumentError(
            f"the store must be a file path (str or os.PathLike) or a postgresql:// URL, got {target!r}; "
            "in-memory stores are not supported because each thread has its own connection"
        )
    if "\x00" in str(target):
        raise InvalidArgumentError(f"the store path {str(target)!r} contains a NUL character")
    from ._sqlite import SqliteBackend

    return SqliteBackend(Path(target), durability=durability, busy_timeout=busy_timeout, read_only=read_only)
