"""What the supervisor's commands share with the built-in ones, through click alone.

A plugin may import only ``evstore``'s public names, so the built-in commands' helpers
(``evstore._cli``) are off limits. The conventions they follow are part of the command
line's contract, and are repeated here:

- the database is ``--db`` on the command, else the root group's ``--db`` / ``EVSTORE_DB``
  / default, which the root leaves in ``ctx.meta["evstore.db"]``;
- exit status 0 ok, 1 the command ran and found problems, 2 a usage, input or store
  error shown as one line on stderr (a ``click.ClickException``), never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

ENV_DB: Final = "EVSTORE_DB"
DEFAULT_DB: Final = Path(".evstore") / "store.db"
# Where the root `evstore` group leaves the database it resolved (its --db, EVSTORE_DB
# or the default), in the context meta every nested context shares.
META_DB: Final = "evstore.db"

EXIT_PROBLEMS: Final = 1
EXIT_ERROR: Final = 2

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """A usage, input or store error: one line on stderr and exit status 2."""

    exit_code = EXIT_ERROR


def db_option(function: F) -> F:
    """``--db PATH`` on a command; it overrides ``evstore --db`` and ``EVSTORE_DB``."""
    return click.option(
        "--db",
        "db",
        type=click.Path(path_type=Path),
        default=None,
        help=f"The evstore database (default: evstore --db, else ${ENV_DB}, else {DEFAULT_DB}).",
    )(function)


def database_path(db: Path | None) -> Path:
    """The database a command works on: its own ``--db``, else the root's."""
    if db is not None:
        return db
    context = click.get_current_context(silent=True)
    if context is not None and META_DB in context.meta:
        return Path(context.meta[META_DB])
    return Path(os.environ.get(ENV_DB) or DEFAULT_DB)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
