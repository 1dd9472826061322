"""``evstore export`` and ``evstore import``: JSON lines of the full envelope, streaming,
idempotent, byte-identical round trips, and bad lines named by number."""

from __future__ import annotations

import json
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    PLUGINS,
    assert_clean_error,
    event,
    event_count,
    init_with_history,
    jsonl,
    run,
    run_process,
    sample_history,
    table_rows,
)

from evstore import EventStore, NewEvent

UUIDS = [f"0190b2d4-5f6e-7a8b-9c0d-{n:012x}" for n in range(100)]
STAMP = "2025-01-02T03:04:05.000006+00:00"


def _export(db: Path, target: Path, plugins: str = PLUGINS) -> bytes:
    result = run("--db", db, "export", "-o", target, EVSTORE_PLUGINS=plugins)
    assert result.exit_code == 0, result.output
    return target.read_bytes()


def _import(db: Path, *args: str | Path, plugins: str = PLUGINS, input: str | bytes | None = None) -> dict[str, Any]:
    result = run("--db", db, "import", "--json", *args, input=input, EVSTORE_PLUGINS=plugins)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _line(n: int, workflow_id: str = "wf", event_type: str = "workflow_started", **fields: Any) -> dict[str, Any]:
    return {**event(workflow_id, event_type, event_id=UUIDS[n], timestamp=STAMP), **fields}


def _without(line: dict[str, Any], field: str) -> bytes:
    return json.dumps({k: v for k, v in line.items() if k != field}).encode()


def _mixed_store(db: Path) -> None:
    """Plugin events, undeclared types with awkward payloads, and raw-SQL inserts."""
    init_with_history(db)
    odd = [
        event("wf-x", "custom", payload={"text": "naïve ☃ \"quoted\"\n", "nested": [1, 2.5, None, {"b": True}],
                                         "big": 2**70, "tiny": 1e-300}, metadata={"who": "ops"}),
        event("wf-x", "custom", payload={}, role="r", component_id="c", status="s"),
    ]
    assert run("--db", db, "append", "--permissive", input=jsonl(*odd)).exit_code == 0
    with sqlite3.connect(db) as conn:  # as the original supervisor's raw SQL would
        conn.execute("INSERT INTO events (workflow_id, event_type, payload) VALUES ('wf-raw', 'raw', '{\"k\": 1}')")


# --- export ---------------------------------------------------------------------------------


def test_export_writes_every_event_as_one_json_line(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run("--db", db, "export")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(sample_history())
    with EventStore.open(db, autoload=False) as store:
        assert [json.loads(line) for line in lines] == [e.to_dict() for e in store.read_all()]
    assert "exported 13 events" in result.stderr
    # stdout and -o FILE give the same bytes
    assert _export(db, tmp_path / "out" / "log.jsonl") == result.stdout_bytes


def test_export_that_fails_leaves_no_output_file(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    with sqlite3.connect(db) as conn:  # 1e999 is valid JSON that decodes to infinity, which JSON cannot encode
        conn.execute("INSERT INTO events (workflow_id, event_type, payload) VALUES ('wf', 'x', '{\"a\": 1e999}')")
    target = tmp_path / "backup.jsonl"
    result = run("--db", db, "export", "-o", target)
    assert_clean_error(result, "event 14", "cannot be written as JSON")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in tmp_path.glob("store.db*"))


# --- round trip -----------------------------------------------------------------------------


def test_export_import_export_is_byte_identical(tmp_path: Path) -> None:
    source, copy = tmp_path / "source.db", tmp_path / "copy.db"
    _mixed_store(source)
    first = _export(source, tmp_path / "first.jsonl")
    outcome = _import(copy, tmp_path / "first.jsonl", "--permissive")
    assert (outcome["imported"], outcome["already_present"], outcome["skipped"]) == (event_count(source), 0, [])
    assert _export(copy, tmp_path / "second.jsonl") == first
    # The projections were built from the imported events as they were from the originals.
    for table in ("steps", "workflows"):
        assert table_rows(copy, table) == table_rows(source, table)


def test_a_second_import_of_the_same_file_is_a_no_op(tmp_path: Path) -> None:
    source, copy = tmp_path / "source.db", tmp_path / "copy.db"
    init_with_history(source)
    exported = tmp_path / "log.jsonl"
    _export(source, exported)
    _import(copy, exported)
    before = _export(copy, tmp_path / "before.jsonl")
    outcome = _import(copy, exported)
    assert (outcome["imported"], outcome["already_present"]) == (0, len(sample_history()))
    assert _export(copy, tmp_path / "after.jsonl") == before


def test_import_does_not_rerun_reactors(tmp_path: Path) -> None:
    features = pytest.importorskip("evstore_features")
    source, copy = tmp_path / "source.db", tmp_path / "copy.db"
    with EventStore.open(source, plugins=[features], autoload=False) as store:
        features.create_feature(store, "F1", "Login")
        features.create_phase(store, "F1-PH1", "F1", "Backend", 1)
        features.create_component(store, "F1-PH1-C1", "F1-PH1", "User model")
        features.complete_component(store, "F1-PH1-C1", {"lines": 40})
        types = [e.event_type for e in store.read_all()]
    assert "phase_completed" in types and "feature_completed" in types  # the cascade's follow-ups
    exported = _export(source, tmp_path / "log.jsonl", plugins="features")
    _import(copy, tmp_path / "log.jsonl", plugins="features")
    assert _export(copy, tmp_path / "again.jsonl", plugins="features") == exported
    for table in ("features", "phases", "components"):
        assert table_rows(copy, table) == table_rows(source, table)


def test_import_from_stdin_into_a_store_with_events(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, [event("other", "workflow_started")])
    lines = jsonl(_line(0), _line(1, event_type="workflow_completed"))
    outcome = _import(db, "-", input=lines)
    assert outcome["imported"] == 2
    with EventStore.open(db, autoload=False) as store:
        imported = store.read("wf")
    # New positions (the store was not empty), the file's order, ids and times kept.
    assert [(e.id, e.version, e.event_id, e.timestamp_text) for e in imported] == [
        (2, 1, UUIDS[0], STAMP), (3, 2, UUIDS[1], STAMP),
    ]


def test_import_reads_a_time_without_zone_as_utc(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    _import(db, "-", input=jsonl(_line(0, timestamp="2024-05-06 07:08:09")))
    with EventStore.open(db, autoload=False) as store:
        assert store.read_all()[0].timestamp_text == "2024-05-06T07:08:09.000000+00:00"


# --- bad input ------------------------------------------------------------------------------


def test_malformed_line_stops_the_import_keeping_earlier_transactions(tmp_path: Path) -> None:
    db, source = tmp_path / "store.db", tmp_path / "log.jsonl"
    good = [json.dumps(_line(n, workflow_id=f"wf-{n}")) for n in range(8)]
    source.write_text("\n".join([*good[:5], "{not json", *good[5:]]) + "\n")
    result = run("--db", db, "import", "--batch-size", "2", source)
    assert_clean_error(result, "line 6: not valid JSON", "4 event(s) up to line 4 were committed",
                       "nothing after it was imported")
    with EventStore.open(db, autoload=False) as store:
        assert [e.event_id for e in store.read_all()] == UUIDS[:4]  # line 5 shared line 6's batch
    # Fix the line and import again: what is stored already is recognised, the rest lands.
    source.write_text("\n".join(good) + "\n")
    outcome = _import(db, source)
    assert (outcome["imported"], outcome["already_present"]) == (4, 4)


def test_a_rejected_event_rolls_back_its_whole_transaction(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    lines = jsonl(_line(0), _line(1, workflow_id="wf-2"), _line(2, event_type="workflow_paused"), _line(3))
    result = run("--db", db, "import", "-", input=lines)
    assert_clean_error(result, "line 3: event type 'workflow_paused' is not declared", "Nothing was imported")
    assert event_count(db) == 0
    assert _import(db, "--permissive", "-", input=lines)["imported"] == 4


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b'{"workflow_id": "wf", "event_type": "caf\xe9"}', "line 2: not valid UTF-8"),
        (b"[1, 2, 3]", "line 2: expected a JSON object"),
        (_without(_line(9), "event_id"), "line 2: missing field(s) 'event_id'"),
        (_without(_line(9), "timestamp"), "line 2: missing field(s) 'timestamp'"),
        (json.dumps(_line(9, id="7")).encode(), "line 2: id must be a positive integer"),
        (json.dumps(_line(9, version=True)).encode(), "line 2: version must be a positive integer"),
        (json.dumps(_line(9, payload=[1])).encode(), "line 2: payload of 'workflow_started' must be a dict"),
        (json.dumps(_line(9, metadata="x")).encode(), "line 2: metadata must be a dict"),
        (json.dumps(_line(9, role=5)).encode(), "line 2: role must be a string"),
        (json.dumps(_line(9, event_id="nope")).encode(), "line 2: event_id must be a UUID"),
        (json.dumps(_line(9, timestamp="noon")).encode(), "line 2: timestamp 'noon' is not ISO-8601"),
        (json.dumps(_line(9, colour="red")).encode(), "line 2: unknown field(s) 'colour'"),
        (json.dumps(_line(0, event_type="workflow_completed")).encode(), "line 2: event_id " + UUIDS[0]),
    ],
)
def test_each_kind_of_malformed_line_is_named(tmp_path: Path, bad: bytes, message: str) -> None:
    db = tmp_path / "store.db"
    data = json.dumps(_line(0)).encode() + b"\n" + bad + b"\n" + json.dumps(_line(1)).encode() + b"\n"
    result = run("--db", db, "import", "-", input=data)
    assert_clean_error(result, message)
    assert event_count(db) == 0


def test_skip_bad_imports_the_good_lines_and_lists_the_bad(tmp_path: Path) -> None:
    db, source = tmp_path / "store.db", tmp_path / "log.jsonl"
    source.write_bytes(
        b"\n".join([
            json.dumps(_line(0)).encode(),
            b"{oops",
            json.dumps(_line(1, event_type="workflow_paused")).encode(),  # rejected by the kernel
            b"",
            b"\xff\xfe",
            json.dumps(_line(2, event_type="workflow_completed")).encode(),
        ]) + b"\n"
    )
    result = run("--db", db, "import", "--skip-bad", "--batch-size", "2", source)
    assert result.exit_code == 0, result.output
    assert "imported 2 new events" in result.stdout
    assert "skipped line 2: not valid JSON" in result.stderr
    assert "skipped line 3: event type 'workflow_paused'" in result.stderr
    assert "skipped line 5: not valid UTF-8" in result.stderr
    outcome = _import(db, "--skip-bad", source)
    assert [s["line"] for s in outcome["skipped"]] == [2, 3, 5]
    assert (outcome["imported"], outcome["already_present"]) == (0, 2)
    with EventStore.open(db, autoload=False) as store:
        assert [e.event_id for e in store.read_all()] == [UUIDS[0], UUIDS[2]]


def test_import_of_a_missing_or_binary_file(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    missing = run("--db", db, "import", tmp_path / "nope.jsonl")
    assert missing.exit_code == 2 and "nope.jsonl" in missing.stderr
    binary = tmp_path / "image.png"
    binary.write_bytes(bytes(range(256)) * 4)
    assert_clean_error(run("--db", db, "import", binary), "line 1: not valid")


def test_import_exit_status_from_the_console_entry_point(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    result = run_process("--db", db, "import", "-", input="{broken\n")
    assert result.returncode == 2
    assert "line 1: not valid JSON" in result.stderr and "Traceback" not in result.stderr


# --- streaming ------------------------------------------------------------------------------


def test_export_and_import_run_in_bounded_memory(tmp_path: Path) -> None:
    source, copy, exported = tmp_path / "source.db", tmp_path / "copy.db", tmp_path / "log.jsonl"
    count = 20_000
    payload = {"text": "x" * 200}
    with EventStore.open(source, autoload=False, permissive=True, durability="normal") as store:
        store.append_many(
            NewEvent(workflow_id=f"wf-{n % 50}", event_type="tick", payload=payload) for n in range(count)
        )
    peaks = []
    for args in (("--db", source, "export", "-o", exported), ("--db", copy, "import", "--permissive", exported)):
        tracemalloc.start()
        try:
            result = run(*args, EVSTORE_PLUGINS="")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert result.exit_code == 0, result.output
    # The file is ~6 MB; holding it (or its events) in memory would show up many times over.
    size = exported.stat().st_size
    assert size > 5_000_000
    assert max(peaks) < size / 2, (peaks, size)
    assert event_count(copy) == count
