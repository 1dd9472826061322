"""The root ``evstore`` group. Plugins add commands through ``evstore_register_commands``;
they are loaded the first time click lists or resolves a command, never at import."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._errors import EvstoreError
from ._errors import as_click_error
from ._shared import (
    DEFAULT_DB,
    ENV_DB,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    META_DB,
    StoreLocation,
    busy_timeout_option,
)

if TYPE_CHECKING:
    from .._plugins import PluginInfo


class _PluginAwareGroup(click.Group):
    """A group that asks plugins for their commands lazily, once per plugin selection.

    The selection is what the plugin environment variables say; when they change within
    one process (click's test runner sets them per call) the plugin commands of the old
    selection are dropped and the new selection's are loaded.

    A plugin may not replace a built-in command, nor another plugin's: click would let
    the last one win silently, and `evstore export` would run a plugin's code. Such a
    command is refused with a warning naming the plugin; its other commands still load.
    """

    _loaded_for: tuple[str | None, ...] | None = None
    _plugin_command_names: frozenset[str] = frozenset()
    _builtin_names: frozenset[str] = frozenset()
    _adding_for: PluginInfo | None = None
    _owners: dict[str, PluginInfo]
    _refused: list[str]

    def freeze_builtins(self) -> None:
        self._builtin_names = frozenset(self.commands)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        plugin = self._adding_for
        name = name or cmd.name
        if plugin is None or name is None:
            super().add_command(cmd, name)
            return
        if name in self._builtin_names:
            self._refused.append(
                f"{plugin.describe()} adds a command {name!r}, which is a built-in evstore command: "
                f"the plugin's command is ignored. Rename it in the plugin, or {plugin.how_to_disable()}."
            )
            return
        owner = self._owners.get(name)
        if owner is not None and owner.name != plugin.name:
            self._refused.append(
                f"{plugin.describe()} adds a command {name!r}, which {owner.describe()} already added: "
                f"the second one is ignored. Rename it in one plugin, or {plugin.how_to_disable()}."
            )
            return
        self._owners[name] = plugin
        super().add_command(cmd, name)

    def _current_plugin(self, info: PluginInfo | None) -> None:
        self._adding_for = info

    def _load_plugin_commands(self) -> None:
        from .._plugins import ENV_ALLOW, ENV_DENY, ENV_NO_AUTOLOAD, Hooks, load_plugins

        selection = tuple(os.environ.get(name) for name in (ENV_ALLOW, ENV_DENY, ENV_NO_AUTOLOAD))
        if self._loaded_for == selection:
            return
        for name in self._plugin_command_names:
            self.commands.pop(name, None)
        self._loaded_for = selection
        self._owners, self._refused = {}, []
        before = set(self.commands)
        # A plugin that fails to load is left out with a warning (and listed by
        # `evstore plugins`); the other plugins' commands still load.
        failed: list[str] = []
        try:
            loaded = load_plugins(failed=lambda info, error: failed.append(str(error)))
            problems = [*failed, *Hooks(loaded).register_commands(self, current=self._current_plugin)]
        except EvstoreError as error:
            problems = [*failed, str(error)]
        finally:
            self._adding_for = None
        self._plugin_command_names = frozenset(set(self.commands) - before)
        for problem in [*self._refused, *problems]:
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

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        distribution = _COMMANDS_FROM_PLUGINS.get(args[0]) if args else None
        if distribution and not ctx.resilient_parsing and self.get_command(ctx, args[0]) is None:
            ctx.fail(_missing_plugin_hint(args[0], distribution))
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        # Errors evstore raises on purpose already say what to fix; SQLite's and the
        # operating system's get a hint. Either way one line and an exit status (2, or 3
        # for a version conflict), under `evstore` and click's test runner alike.
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except BrokenPipeError:
            # Before click's main sees it: click exits 1 for EPIPE, and 1 means "a check
            # found problems" here.
            _silence_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except Exception as error:
            converted = as_click_error(error, ctx.meta.get(META_DB))
            if converted is None:
                raise
            raise converted from error


@click.group(
    cls=_PluginAwareGroup,
    epilog="Shell completion: eval \"$(_EVSTORE_COMPLETE=bash_source evstore)\" in ~/.bashrc "
    "(zsh_source for zsh, fish_source for fish); see docs/operations.md.",
)
@click.option(
    "--db",
    type=StoreLocation(),
    envvar=ENV_DB,
    show_envvar=True,
    default=None,
    help=f"The store: a database file or a URL (default: {DEFAULT_DB}). Every store command also takes --db.",
)
@busy_timeout_option
@click.version_option(package_name="evstore")
@click.pass_context
def cli(ctx: click.Context, db: Path | str | None) -> None:
    """evstore: an event store with plugin projections.

    Plugins are found through the `evstore` entry-point group. EVSTORE_PLUGINS=a,b loads
    only those (empty: none), EVSTORE_DISABLE_PLUGINS=a,b skips them, and
    EVSTORE_DISABLE_PLUGIN_AUTOLOAD=1 loads none. Stores opened by these commands load
    the same plugins.

    \b
    Exit status:
      0    ok
      1    a check found problems (verify, status --check, a projection
           still failing after catch-up)
      2    usage, input or store error (one line on stderr), including a
           store kept busy past --busy-timeout
      3    version conflict: another writer appended first (append
           --expected-version); re-read and retry
      130  interrupted (Ctrl-C)

    Of the core commands only init, append, import and restore create a missing
    database; commands added by plugins say in their help whether they do.
    """
    ctx.meta[META_DB] = db if db is not None else DEFAULT_DB


def _register_builtin_commands() -> None:
    from . import backup, bench, eventlog, migrate, plugins, projections, status, transfer, types, ui, verify, worker

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
        migrate.migrate_command,
        backup.backup_command,
        backup.restore_command,
        plugins.plugins_command,
        types.types_command,
        bench.bench_command,
        ui.ui_command,
        worker.worker_command,
    ):
        cli.add_command(command)
    cli.freeze_builtins()


_register_builtin_commands()


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: evstore errors become one clear line and an exit status."""
    try:
        result = cli.main(args=argv, prog_name="evstore", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except Exception as error:
        converted = as_click_error(error, None)
        if converted is None:
            raise
        converted.show()
        sys.exit(converted.exit_code)
    # Without standalone mode click returns the code of ctx.exit(code) instead of exiting;
    # exit with it here, so `python -m evstore` (which ignores our return value) and the
    # console script agree.
    if isinstance(result, int) and not isinstance(result, bool) and result != 0:
        sys.exit(result)
    return result


def _silence_stdout() -> None:
    """The reader went away (`evstore events --json | head`): stop quietly. Python would
    complain again when it flushes stdout at exit, so point stdout at /dev/null first."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (click's test runner): nothing will flush to a pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


# Commands that our plugins add, so that asking for one whose plugin is absent says what
# to install instead of only "No such command". A hint by name: the core still neither
# imports nor requires these distributions.
_COMMANDS_FROM_PLUGINS = {"demo": "evstore-supervisor", "import-seed": "evstore-supervisor"}


def _missing_plugin_hint(command: str, distribution: str) -> str:
    import importlib_metadata

    try:
        importlib_metadata.distribution(distribution)
    except importlib_metadata.PackageNotFoundError:
        return (
            f"No such command {command!r}: it comes with the {distribution} plugin, which is not installed. "
            f"Install it with `pip install {distribution}`, or the whole product with `pip install 'evstore[all]'`."
        )
    return (
        f"No such command {command!r}: {distribution} is installed but its plugin is not loaded. "
        "Check EVSTORE_PLUGINS, EVSTORE_DISABLE_PLUGINS and EVSTORE_DISABLE_PLUGIN_AUTOLOAD; "
        "`evstore plugins` lists what is loaded."
    )
