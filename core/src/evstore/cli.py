"""Helpers for a plugin's ``evstore`` commands, so they behave like the built-in ones.

A plugin adds commands with the ``evstore_register_commands`` hook (or
``evstore.Plugin(commands=...)``). The command line's conventions are part of its
contract, and these helpers are how a plugin keeps them without copying them:

- the store is the command's ``--db``, else the root's ``evstore --db``, else
  ``EVSTORE_DB``, else ``.evstore/store.db`` (:func:`store_options`,
  :func:`database_target`, :func:`open_store`);
- ``--json`` prints machine-readable output instead of tables (:func:`json_option`,
  :func:`echo_json`);
- exit status 0 ok, 1 the command ran and found problems (``ctx.exit(EXIT_PROBLEMS)``),
  2 a usage, input or store error, 3 a version conflict. Raise :class:`CommandError`
  for an error of your own; evstore's errors raised inside a command are turned into
  the same one line on stderr by the root group, never a traceback.

Example::

    import click
    from evstore.cli import echo_json, json_option, open_store, store_options

    @click.command("notes")
    @store_options
    @json_option
    def notes_command(db, as_json):
        with open_store(db, read_only=True) as store:
            rows = store.reader.fetchall("SELECT note, text FROM template_notes")
        if as_json:
            echo_json([{"note": n, "text": t} for n, t in rows])
        else:
            for n, t in rows:
                click.echo(f"{n}: {t}")
"""

from __future__ import annotations

from typing import Final

import click

from ._cli._shared import (
    DEFAULT_DB,
    ENV_DB,
    EXIT_CONFLICT,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PROBLEMS,
    CommandError,
    F,
    busy_timeout,
    database_path,
    database_target,
    echo_json,
    open_store,
)
from ._cli._shared import db_location_option as db_option
from ._cli._shared import db_option as store_options

__all__ = [
    "DEFAULT_DB",
    "ENV_DB",
    "EXIT_CONFLICT",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "JSON_HELP",
    "CommandError",
    "busy_timeout",
    "database_path",
    "database_target",
    "db_option",
    "echo_json",
    "json_option",
    "open_store",
    "root_command",
    "store_options",
]

JSON_HELP: Final = "Print the result as JSON instead of text."


def root_command() -> click.Group:
    """The ``evstore`` command itself, with every built-in command and those of the
    plugins loaded, for running it in a plugin's tests without a subprocess:
    ``click.testing.CliRunner().invoke(root_command(), ["--db", path, "status"])``."""
    from ._cli._root import cli  # here, not at import: the commands import this module

    return cli


def json_option(function: F) -> F:
    """``--json``, passed to the command as ``as_json``, as every built-in command names
    it (a command that wants its own help text writes the option itself)."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(function)
