"""A plugin's command built with ``evstore.cli`` behaves like a built-in one: the same
store resolution (its ``--db``, ``evstore --db``, ``EVSTORE_DB``), ``--json``, and
errors as one line on stderr with exit status 2 (3 for a version conflict)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from evstore import ANY, EventStore, EventType, NewEvent, Plugin
from evstore.cli import (
    EXIT_CONFLICT,
    EXIT_ERROR,
    EXIT_PROBLEMS,
    CommandError,
    echo_json,
    json_option,
    open_store,
    store_options,
)
from evstore.testing import register_plugin

pytestmark = pytest.mark.evstore_backends("sqlite")


@click.command("count-notes")
@store_options
@json_option
@click.option("--at-most", type=int, default=None)
@click.option("--conflict", is_flag=True)
def count_notes(db: Path | str | None, as_json: bool, at_most: int | None, conflict: bool) -> None:
    with open_store(db, read_only=not conflict) as store:
        if conflict:  # a second writer got there first
            store.append(NewEvent(workflow_id="n", event_type="note"), expected_version=ANY)
            store.append(NewEvent(workflow_id="n", event_type="note"), expected_version=0)
        count = store.reader.fetchvalue("SELECT COUNT(*) FROM events WHERE event_type = 'note'")
    if at_most is not None and at_most < 0:
        raise CommandError(f"--at-most must be >= 0, got {at_most}")
    if as_json:
        echo_json({"notes": count})
    else:
        click.echo(f"{count} notes")
    if at_most is not None and count > at_most:
        click.get_current_context().exit(EXIT_PROBLEMS)


def _add(cli: click.Group) -> None:
    cli.add_command(count_notes)


NOTES = Plugin("notes_cli", event_types=[EventType("note")], commands=_add)


@pytest.fixture
def store_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "notes.db"
    with register_plugin(NOTES), EventStore.open(path) as store:
        store.append_many([NewEvent(workflow_id="n", event_type="note") for _ in range(3)])
        yield path


def evstore(*args: str, **env: str | None) -> Result:
    from evstore._cli import cli

    environment = {"EVSTORE_PLUGINS": "notes_cli", "EVSTORE_DB": None, **env}
    return CliRunner().invoke(cli, list(args), env=environment)


def test_the_store_is_the_commands_db_else_the_roots_else_evstore_db(store_path: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.db")
    assert evstore("count-notes", "--db", str(store_path)).output == "3 notes\n"
    assert evstore("--db", str(store_path), "count-notes").output == "3 notes\n"
    assert evstore("count-notes", EVSTORE_DB=str(store_path)).output == "3 notes\n"
    assert evstore("--db", missing, "count-notes", "--db", str(store_path)).output == "3 notes\n"


def test_json_prints_json(store_path: Path) -> None:
    result = evstore("count-notes", "--db", str(store_path), "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"notes": 3}


def test_exit_statuses_and_one_line_errors(store_path: Path, tmp_path: Path) -> None:
    assert evstore("count-notes", "--db", str(store_path), "--at-most", "2").exit_code == EXIT_PROBLEMS
    refused = evstore("count-notes", "--db", str(store_path), "--at-most", "-1")
    assert refused.exit_code == EXIT_ERROR
    assert refused.stderr.strip() == "Error: --at-most must be >= 0, got -1"
    missing = evstore("count-notes", "--db", str(tmp_path / "typo.db"))
    assert missing.exit_code == EXIT_ERROR and len(missing.stderr.strip().splitlines()) == 1
    assert "no database at" in missing.stderr and not (tmp_path / "typo.db").exists()
    conflict = evstore("count-notes", "--db", str(store_path), "--conflict")
    assert conflict.exit_code == EXIT_CONFLICT and "Traceback" not in conflict.output
