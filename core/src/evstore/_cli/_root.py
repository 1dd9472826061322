"""The root ``evstore`` group. Plugins add commands through ``evstore_register_commands``;
they are loaded the first time click lists or resolves a command, never at import."""

from __future__ import annotations

import sys
from typing import Any

import click

from .._errors import EvstoreError


class _PluginAwareGroup(click.Group):
    """A group that asks plugins for their commands once, lazily."""

    _plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        from .._plugins import Hooks, load_plugins

        try:
            problems = Hooks(load_plugins()).register_commands(self)
        except EvstoreError as error:
            problems = [str(error)]
        for problem in problems:
            click.echo(f"warning: {problem}", err=True)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command


@click.group(cls=_PluginAwareGroup)
@click.version_option(package_name="evstore")
def cli() -> None:
    """evstore: an event store with plugin projections.

    Plugins are found through the `evstore` entry-point group. EVSTORE_PLUGINS=a,b loads
    only those (empty: none), EVSTORE_DISABLE_PLUGINS=a,b skips them, and
    EVSTORE_DISABLE_PLUGIN_AUTOLOAD=1 loads none.
    """


def _register_builtin_commands() -> None:
    from . import bench, plugins

    cli.add_command(plugins.plugins_command)
    cli.add_command(bench.bench_command)


_register_builtin_commands()


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: evstore errors become one clear line and exit status 2."""
    try:
        return cli.main(args=argv, prog_name="evstore", standalone_mode=False)
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
