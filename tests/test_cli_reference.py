"""The command line documented like the hooks are: every command of evstore and of our
plugins has a section in docs/reference/cli.md, every option a row, and the help that
`--help` prints (from which the page is generated) is there to read: a summary that fits
`evstore --help` at 80 columns, a help string for every option.

That the committed page equals the generated one is tests/test_docs.py's check."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from evstore._cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "cli.md"
# "..", as when a sentence ending in a period is put before another one; "..." is an ellipsis.
DOUBLED_PERIOD = re.compile(r"(?<!\.)\.\.(?!\.)")


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_reference", ROOT / "docs" / "reference" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


@pytest.fixture
def first_party_commands() -> Iterator[dict[str, click.Command]]:
    """Every command (``"events"``, a group's ``"group sub"``) with our plugins loaded."""
    with GENERATOR._plugins_selected(",".join(GENERATOR.COMMAND_PLUGINS)):
        yield dict(GENERATOR.subcommands(cli))


def section(page: str, path: str) -> str:
    heading = f"## `evstore {path}`" if path else "## `evstore`"
    assert heading in page, f"docs/reference/cli.md has no section for `{heading[3:]}`: run {GENERATOR.GENERATED_BY!r}"
    return page.split(heading + "\n", 1)[1].split("\n## ", 1)[0]


def options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


def test_the_first_party_plugins_are_read_from_the_repository() -> None:
    assert {"supervisor", "workflows", "graph"} <= set(GENERATOR.COMMAND_PLUGINS)
    assert "template" not in GENERATOR.COMMAND_PLUGINS, "the template is copied, never installed as ours"


def test_every_command_and_option_is_in_the_reference(first_party_commands: dict[str, click.Command]) -> None:
    page = PAGE.read_text()
    assert {"demo", "import-seed", "events", "plugins"} <= set(first_party_commands)
    for path, command in {"": cli, **first_party_commands}.items():
        text = section(page, path)
        for option in options(command):
            for name in [*option.opts, *option.secondary_opts]:
                assert f"`{name}`" in text, f"`evstore {path}` {name} is not in docs/reference/cli.md"
            if option.hidden:
                row = next(line for line in text.splitlines() if f"`{option.opts[0]}`" in line)
                assert "not listed by `--help`" in row, f"`evstore {path}` {option.opts[0]} is hidden: say so"


def test_a_plugins_command_says_which_plugin_adds_it() -> None:
    page = PAGE.read_text()
    owners = GENERATOR.plugin_commands(cli)
    assert owners["demo"] == owners["import-seed"] == "evstore-supervisor"
    for name, distribution in owners.items():
        assert f"Added by the `{distribution}` plugin." in section(page, name), name
    assert "Added by" not in section(page, "events"), "a core command is nobody's plugin's"


def test_every_command_has_help_and_every_option_a_help_string(first_party_commands: dict[str, click.Command]) -> None:
    for path, command in {"": cli, **first_party_commands}.items():
        assert (command.help or "").strip(), f"`evstore {path}` has no help: give its function a docstring"
        summary = command.get_short_help_str(limit=200)
        assert summary.endswith(".") and not summary.endswith(".."), (
            f"`evstore {path}`: its summary {summary!r} should be one sentence ending with one period"
        )
        assert not DOUBLED_PERIOD.search(command.help or ""), f"`evstore {path}`'s help has a doubled period"
        for option in options(command):
            if option.name != "help":
                text = (option.help or "").strip()
                assert text, f"`evstore {path}` {option.opts[0]} has no help string"
                assert not DOUBLED_PERIOD.search(text), f"`evstore {path}` {option.opts[0]}: doubled period in {text!r}"


def test_every_summary_fits_evstore_help_at_80_columns(first_party_commands: dict[str, click.Command]) -> None:
    """click cuts a summary that does not fit to "…" (three dots): at 80 columns, the
    narrowest terminal we support, every command's summary must show whole."""
    with GENERATOR._plugins_selected(",".join(GENERATOR.COMMAND_PLUGINS)):
        result = CliRunner().invoke(cli, ["--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:\n", 1)[1]
    for name in (n for n in first_party_commands if " " not in n):
        assert re.search(rf"^  {re.escape(name)} ", listing, re.MULTILINE), f"`evstore --help` does not list {name}"
    cut = [line.strip() for line in listing.splitlines() if line.rstrip().endswith("...")]
    assert not cut, f"`evstore --help` cuts these summaries at 80 columns; shorten them (short_help=): {cut}"


def test_a_group_and_its_commands_are_documented_under_their_full_names() -> None:
    """No command of ours is a group today; the page must still reach a plugin's nested ones."""
    group = click.Group("things", help="Work with things.")
    group.add_command(click.Command("list", help="List the things.", callback=lambda: None))
    root = click.Group("evstore", commands={"things": group})
    paths = [path for path, _ in GENERATOR.subcommands(root)]
    assert paths == ["things", "things list"]
    lines = GENERATOR.render_command("evstore things list", group.commands["list"], None)
    assert lines[0] == "## `evstore things list`" and "List the things." in lines
