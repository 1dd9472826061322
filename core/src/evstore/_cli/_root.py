"""The root ``evstore`` group. Plugins add commands through ``evstore_register_commands``;
they are loaded the first time click lists or resolves a command, never at import."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from .._errors import EvstoreError
from ._shared import DEFAULT_DB, ENV_DB, META_DB, CommandError


class _PluginAwareGroup(click.Group):
    """A group that asks plugins for their commands lazily, once per plugin selection.

    The selection is what the plugin environment variables say; when they change within
    one process (click's test runner sets them per call) the plugin commands of the old
    selection are dropped and the new selection's are loaded.
    """

    _loaded_for: tuple[str | None, ...] | None = None
    _plugin_command_names: frozenset[str] = frozenset()

    def _load_plugin_commands(self) -> None:
        from .._plugins import ENV_ALLOW, ENV_DENY, ENV_NO_AUTOLOAD, Hooks, load_plugins

        selection = tuple(os.environ.get(name) for name in (ENV_ALLOW, ENV_DENY, ENV_NO_AUTOLOAD))
        if self._loaded_for == selection:
            return
        for name in self._plugin_command_names:
            self.commands.pop(name, None)
        self._loaded_for = selection
        before = set(self.commands)
        try:
            problems = Hooks(load_plugins()).register_commands(self)
        except EvstoreError as error:
            problems = [str(error)]
        self._plugin_command_names = frozenset(set(self.commands) - before)
        for problem in problems:
            click.echo(f"warning: {problem}", err=True)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None or cmd_name in self._plugin_command_names:
            self._load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # Errors evstore raises on purpose already say what to fix: show them as one line
        # with exit status 2, under `evstore` and click's test runner alike.
        try:
            return super().invoke(ctx)
        except EvstoreError as error:
            raise CommandError(str(error)) from error
        except sqlite3.DatabaseError as error:
            path = str(ctx.meta.get(META_DB, "the database"))
            damaged = any(sign in str(error) for sign in ("malformed", "not a database", "corrupt"))
            hint = (
                " The file looks damaged: check it with `sqlite3 PATH 'PRAGMA integrity_check'` and "
                "restore it from an `evstore export`."
                if damaged
                else ""
            )
            raise CommandError(f"SQLite failed on {path!r}: {error}.{hint}") from error


@click.group(cls=_PluginAwareGroup)
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    envvar=ENV_DB,
    show_envvar=True,
    default=None,
    help=f"The database file (default: {DEFAULT_DB}). Every store command also takes --db.",
)
@click.version_option(package_name="evstore")
@click.pass_context
def cli(ctx: click.Context, db: Path | None) -> None:
    """evstore: an event store with plugin projections.

    Plugins are found through the `evstore` entry-point group. EVSTORE_PLUGINS=a,b loads
    only those (empty: none), EVSTORE_DISABLE_PLUGINS=a,b skips them, and
    EVSTORE_DISABLE_PLUGIN_AUTOLOAD=1 loads none. Stores opened by these commands load
    the same plugins.

    Exit status: 0 ok; 1 a check found problems (verify, status --check, a projection
    still failing after catch-up); 2 usage, input or store errors (one line on stderr).
    Of the core commands only init, append and import create a missing database;
    commands added by plugins say in their help whether they do.
    """
    ctx.meta[META_DB] = db if db is not None else DEFAULT_DB


def _register_builtin_commands() -> None:
    from . import bench, eventlog, plugins, projections, status, transfer, ui, verify

    for command in (
        eventlog.init_command,
        eventlog.append_command,
        eventlog.events_command,
        status.status_command,
        projections.catch_up_command,
        projections.rebuild_command,
        verify.verify_command,
        transfer.export_command,
        transfer.import_command,
        plugins.plugins_command,
        bench.bench_command,
        ui.ui_command,
    ):
        cli.add_command(command)


_register_builtin_commands()


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: evstore errors become one clear line and exit status 2."""
    try:
        result = cli.main(args=argv, prog_name="evstore", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except EvstoreError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    # Without standalone mode click returns the code of ctx.exit(code) instead of exiting;
    # exit with it here, so `python -m evstore` (which ignores our return value) and the
    # console script agree.
    if isinstance(result, int) and not isinstance(result, bool) and result != 0:
        sys.exit(result)
    return result
