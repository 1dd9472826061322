"""Bad input across the Python API, the supervisor facade and the command line: each is a
typed error (or, for the CLI, exit status 2 with a one-line message), and the database
is byte-identical afterwards."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import evstore_supervisor
from evstore import (
    ConcurrencyError,
    EventStore,
    EvstoreError,
    InvalidArgumentError,
    InvalidEventError,
    NewEvent,
    PayloadSerializationError,
    PayloadTooLargeError,
    UnknownEventTypeError,
)
from evstore._cli import cli
from evstore_supervisor import Database, Event

PLUGIN_NAMES = "workflows,steps,features,checkpoints,metrics,graph,supervisor"
INJECTION = "x'); DROP TABLE events; --"


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        part = Path(str(path) + suffix)
        digest.update(part.read_bytes() if part.exists() else b"")
    return digest.hexdigest()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad-input") / "state.db"
    with Database(path, autoload=False) as db:
        db.append_event(Event(workflow_id="wf-1", event_type="workflow_started", payload={"initial_step": "plan"}))
        db.append_event(Event(workflow_id="wf-1", event_type="step_started", step_id="s1", role="planner"))
        db.create_feature("F1", "Login")
        db.create_phase("P1", "F1", "build", 1)
        db.create_component("C1", "P1", "form")
        db.record_metric("planner", "claude", "wf-1", True, 3.5)
    return path


def store_of(path: Path) -> EventStore:
    return EventStore.open(path, plugins=list(evstore_supervisor.PLUGINS), autoload=False)


def kernel(call: Callable[[EventStore], Any]) -> Callable[[Path], Any]:
    def run(path: Path) -> Any:
        with store_of(path) as store:
            return call(store)

    return run


def facade(call: Callable[[Database], Any]) -> Callable[[Path], Any]:
    def run(path: Path) -> Any:
        with Database(path, autoload=False) as db:
            return call(db)

    return run


def step(**fields: Any) -> NewEvent:
    fields.setdefault("workflow_id", "wf-1")
    fields.setdefault("event_type", "step_started")
    fields.setdefault("role", "planner")
    fields.setdefault("step_id", "s9")
    return NewEvent(**fields)


class Opaque:
    pass


PYTHON_CASES: list[tuple[str, Callable[[Path], Any], type[BaseException], str]] = [
    ("empty workflow id", kernel(lambda s: s.append(step(workflow_id=""))), InvalidEventError, "workflow_id"),
    ("workflow id not a string", kernel(lambda s: s.append(step(workflow_id=12))), InvalidEventError, "workflow_id"),
    ("unknown event type", kernel(lambda s: s.append(step(event_type="step_strated"))), UnknownEventTypeError,
     "step_started"),
    ("missing role", kernel(lambda s: s.append(step(role=None))), InvalidEventError, "requires role"),
    ("missing step id", kernel(lambda s: s.append(step(step_id=None))), InvalidEventError, "requires step_id"),
    ("wrong payload type", kernel(lambda s: s.append(step(payload={"gates": "lint"}))), InvalidEventError, "gates"),
    ("payload with a set", kernel(lambda s: s.append(step(payload={"context": {"tags": {"a"}}}))),
     PayloadSerializationError, "payload.context.tags"),
    ("payload with an object", kernel(lambda s: s.append(step(payload={"context": {"o": Opaque()}}))),
     PayloadSerializationError, "payload.context.o"),
    ("oversized payload", kernel(lambda s: s.append(step(payload={"context": {"blob": "x" * 2_000_000}}))),
     PayloadTooLargeError, "limit"),
    ("event id not a UUID", kernel(lambda s: s.append(step(event_id="42"))), InvalidEventError, "UUID"),
    ("naive timestamp", kernel(lambda s: s.append(step(timestamp=datetime(2026, 1, 1)))), InvalidEventError,
     "time zone"),
    ("metadata not a dict", kernel(lambda s: s.append(step(metadata=[1]))), InvalidEventError, "metadata"),
    ("negative expected version", kernel(lambda s: s.append(step(), expected_version=-1)), InvalidArgumentError,
     "expected_version"),
    ("stale expected version", kernel(lambda s: s.append(step(), expected_version=1)), ConcurrencyError,
     "expected version 1"),
    ("non-integer read limit", kernel(lambda s: s.read("wf-1", limit=2.5)), InvalidArgumentError, "limit"),
    ("batch with one bad event", kernel(lambda s: s.append_many([step(step_id="ok"), step(role=3)])),
     InvalidEventError, "role"),
    ("facade: event without workflow", facade(lambda d: d.append_event(Event(event_type="gate_passed"))),
     ValueError, "workflow_id"),
    ("facade: dict instead of Event", facade(lambda d: d.append_event({"workflow_id": "w"})), TypeError, "Event"),
    ("facade: unknown step status", facade(lambda d: d.update_step("s1", "sleeping")), ValueError, "sleeping"),
    ("facade: component in unknown phase", facade(lambda d: d.create_component("C9", "P404", "x")), ValueError,
     "P404"),
]


@pytest.mark.parametrize(("case", "call", "error", "match"), PYTHON_CASES, ids=[c[0] for c in PYTHON_CASES])
def test_python_api_and_facade(
    seeded: Path, case: str, call: Callable[[Path], Any], error: type[BaseException], match: str
) -> None:
    before = fingerprint(seeded)
    with pytest.raises(error, match=match):
        call(seeded)
    assert fingerprint(seeded) == before, f"{case}: the database changed"


def cli_run(*args: str, input: str | bytes | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input, env={"EVSTORE_PLUGINS": PLUGIN_NAMES, "EVSTORE_DB": None})


def line(**fields: Any) -> str:
    return json.dumps({"workflow_id": "wf-1", "event_type": "gate_passed", **fields}) + "\n"


CLI_CASES: list[tuple[str, list[str], str | bytes | None, str]] = [
    ("append: not JSON", ["append", "-"], "{not json\n", "line 1"),
    ("append: missing workflow_id", ["append", "-"], '{"event_type": "gate_passed"}\n', "workflow_id"),
    ("append: unknown type", ["append", "-"], line(event_type="gate_opened"), "gate_passed"),
    ("append: payload not an object", ["append", "-"], line(payload=[1, 2]), "payload"),
    ("append: oversized payload", ["append", "-"], line(payload={"blob": "x" * 2_000_000}), "limit"),
    ("append: bad expected version", ["append", "--expected-version", "-4", "-"], line(), "expected"),
    ("import: invalid UTF-8", ["import", "-"], b'{"workflow_id": "\xff\xfe"}\n', "line 1"),
    ("import: second line malformed", ["import", "-"],
     line(event_id="0190a2b4-0000-7000-8000-000000000001", timestamp="2026-01-01T00:00:00+00:00") + "[]\n", "line 2"),
    ("rebuild: unknown projection", ["rebuild", "nope"], None, "nope"),
    ("catch-up: unknown projection", ["catch-up", "nope"], None, "nope"),
    ("events: negative limit", ["events", "--limit", "-5"], None, "limit"),
    ("events: after not a number", ["events", "--after", "many"], None, "after"),
    ("events: after past 2**63", ["events", "--after", str(2**63)], None, "after"),
    ("events: timeout NaN", ["events", "--follow", "--timeout", "nan"], None, "timeout"),
    ("append: nested 100k deep", ["append", "-"], '{"payload": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
     "nested deeper than 200 levels"),
    ("append: payload nested 100k deep", ["append", "-"],
     line(payload={"a": 1})[:-2] + ', "metadata": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}\n",
     "line 1: nested deeper than 200"),
    ("import: nested 100k deep", ["import", "-"],
     line(event_id="0190a2b4-0000-7000-8000-000000000003", timestamp="2026-01-01T00:00:00+00:00")
     + "[" * 100_000 + "]" * 100_000 + "\n", "line 2: nested deeper than 200"),
    ("append: NaN in a payload", ["append", "-"], '{"workflow_id": "wf-1", "event_type": "gate_passed", '
     '"payload": {"x": NaN}}\n', "line 1: not valid JSON"),
    ("append: lone surrogate", ["append", "-"], '{"workflow_id": "wf-1", "event_type": "gate_passed", '
     '"payload": {"x": "\\ud800"}}\n', "line 1: not valid JSON"),
    ("append: busy timeout inf", ["append", "--busy-timeout", "inf", "-"], line(), "busy-timeout"),
    ("import: payload over --max-payload-bytes", ["import", "--max-payload-bytes", "100", "-"],
     line(event_id="0190a2b4-0000-7000-8000-000000000002", timestamp="2026-01-01T00:00:00+00:00",
          payload={"blob": "x" * 200}), "--max-payload-bytes"),
]


@pytest.mark.parametrize(("case", "args", "stdin", "match"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_command_line(seeded: Path, case: str, args: list[str], stdin: str | bytes | None, match: str) -> None:
    before = fingerprint(seeded)
    result = cli_run("--db", str(seeded), *args, input=stdin)
    assert result.exit_code == 2, (case, result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert match in (result.stderr or result.output), (case, result.stderr, result.output)
    assert fingerprint(seeded) == before, f"{case}: the database changed"


def test_damaged_files_are_refused_and_left_alone(seeded: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.db"
    data = seeded.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    newer = tmp_path / "newer.db"
    newer.write_bytes(data)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE evstore_meta SET value = '999' WHERE key = 'schema_version'")
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("remember the milk\n" * 200)
    for path, message in ((truncated, ""), (newer, "newer evstore"), (not_sqlite, "not a SQLite database")):
        before = fingerprint(path)
        with pytest.raises(EvstoreError, match=message or None):
            store = store_of(path)
            store.read_all()
        result = cli_run("--db", str(path), "status")
        assert result.exit_code == 2 and "Traceback" not in result.output, (path, result.output)
        assert fingerprint(path) == before
    directory = tmp_path / "a-directory"
    directory.mkdir()
    result = cli_run("--db", str(directory), "status")
    assert result.exit_code == 2 and "directory" in result.stderr


def test_injection_strings_are_stored_verbatim_and_harm_nothing(seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "copy.db"
    path.write_bytes(seeded.read_bytes())
    with Database(path, autoload=False) as db:
        events_of_wf1 = len(db.get_events("wf-1"))
        db.append_event(Event(workflow_id=INJECTION, event_type="step_started", role=INJECTION, step_id=INJECTION,
                              component_id=INJECTION, status=INJECTION, payload={INJECTION: INJECTION}))
        db.record_metric(INJECTION, INJECTION, INJECTION, False, 1.0, task_type=INJECTION, error_category=INJECTION)
        stored = db.get_events(INJECTION)[0]
        assert (stored.workflow_id, stored.role, stored.step_id, stored.payload) == (
            INJECTION, INJECTION, INJECTION, {INJECTION: INJECTION})
        step = db.get_step(INJECTION)
        assert step is not None and step.role == INJECTION
        assert [m["cli"] for m in db.get_metrics(role=INJECTION)] == [INJECTION]
        assert db.get_metrics(role="x' OR '1'='1") == []
        assert len(db.get_events("wf-1")) == events_of_wf1  # the events table is intact
    result = cli_run("--db", str(path), "events", "--workflow", INJECTION, "--json")
    assert result.exit_code == 0 and INJECTION in result.output
