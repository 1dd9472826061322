"""The supervisor rows this plugin contributes to ``evstore bench``: their shape, not
their timings (machines are too noisy for those)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from original_checkout import require_checkout
from supervisor_cli_support import run

from evstore import EventStore, EvstoreError
from evstore.bench import Context, Sizes
from evstore.testing import snapshot_tables
from evstore_supervisor._bench import REBUILD_SIZE, per_event_handlers_only, supervisor
from evstore_supervisor._bench_async import LAG_EVENTS
from evstore_supervisor._bench_facade import APPEND_SIZE, READ_SIZE
from evstore_supervisor._bench_inline import SIZES as INLINE_SIZES
from evstore_supervisor._bench_inline import append_in_transaction
from evstore_supervisor._bench_replay import (
    SameWorkLog,
    inline_projections,
    projection_schema,
    record,
    transactions,
)
from evstore_supervisor._bench_specs import (
    FOLLOW_UPS_PER_UNIT,
    REQUIRED_PROJECTIONS,
    UNIT_EVENTS,
    missing_projections,
    new_events,
    supervisor_specs,
)

TINY = ["--quick", "--scale", "0.01"]
SUPERVISOR_WORKLOADS = [
    "supervisor_single_full", "supervisor_single_full_same_work", "supervisor_batch", "supervisor_batch_same_work",
    "supervisor_async_single_full", "supervisor_async_lag", "supervisor_rebuild",
]
FACADE_WORKLOADS = [
    "facade_append_vs_original", "facade_append_vs_same_work", "facade_get_events_vs_original",
    "facade_get_events_vs_raw",
]
TARGETS = {
    "supervisor_single_full": 0.75, "supervisor_single_full_same_work": 0.85, "supervisor_batch": 0.5,
    "supervisor_batch_same_work": 0.7, "supervisor_async_single_full": 0.85, "supervisor_async_lag": 1.0,
    "supervisor_rebuild": 2.0,
}


def _plugins_installed() -> bool:
    try:
        with EventStore.open(Path(tempfile.mkdtemp()) / "probe.db", autoload=True) as store:
            return not missing_projections(store)
    except EvstoreError:  # an installed plugin does not load: the bench skips these rows
        return False


needs_plugins = pytest.mark.skipif(
    not _plugins_installed(), reason="the six first-party plugins are not all installed"
)


def _context(tmp_path: Path) -> Context:
    return Context(Sizes.choose(quick=True, scale=0.01), tmp_path, lambda *args: None)


@pytest.fixture(scope="module")
def bench_json() -> dict[str, Any]:
    # Every installed plugin, as a user runs it: the supervisor contributes its rows.
    result = run("bench", *TINY, "--json")
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.evstore_backends("sqlite")
def test_the_supervisor_rows_follow_the_kernels(bench_json: dict[str, Any]) -> None:
    keys = [r["key"] for r in bench_json["results"]]
    start = keys.index(SUPERVISOR_WORKLOADS[0])
    assert keys[start:] == [*SUPERVISOR_WORKLOADS, *FACADE_WORKLOADS]
    assert "supervisor" in bench_json["workload_seconds"]
    results = {r["key"]: r for r in bench_json["results"]}
    assert {key: results[key]["target"] for key in SUPERVISOR_WORKLOADS} == TARGETS
    assert results["supervisor_rebuild"]["target_unit"] == "ratio"
    for key in SUPERVISOR_WORKLOADS:
        row = results[key]
        if row["met"] is not None and row["target_unit"] == "seconds":
            assert row["met"] is (row["evstore"]["median"] <= row["target"])
        elif row["met"] is not None:
            measured = row["evstore"]["median"] if row["target_unit"] == "events/s" else row["ratio"]
            assert row["met"] is (measured >= row["target"])


@needs_plugins
@pytest.mark.evstore_backends("sqlite")
def test_supervisor_rows_count_the_callers_events_and_report_follow_ups(bench_json: dict[str, Any]) -> None:
    sizes = Sizes.choose(quick=True, scale=0.01)
    results = {r["key"]: r for r in bench_json["results"]}
    single, batch, rebuild = (results[key] for key in ("supervisor_single_full", "supervisor_batch",
                                                        "supervisor_rebuild"))
    # Against the floor and against the same work: one store side, measured once.
    for key in ("supervisor_single_full", "supervisor_batch"):
        same_work = results[f"{key}_same_work"]
        assert same_work["evstore"] == results[key]["evstore"] and same_work["size"] == results[key]["size"]
    assert single["durability"] == "full" and batch["durability"] == "normal"
    assert single["size"]["events_per_round"] == sizes.count(*INLINE_SIZES["single"])
    assert batch["size"]["events_per_round"] == sizes.count(*INLINE_SIZES["transactions"]) * 100
    assert batch["size"]["events_per_transaction"] == 100
    # Other installed plugins' projections run too; the six are always among them.
    assert single["size"]["projections_loaded"] >= len(REQUIRED_PROJECTIONS)
    # Whole runs were appended, so the cascade completed phases and features.
    assert batch["size"]["follow_ups_total"] >= FOLLOW_UPS_PER_UNIT
    assert rebuild["size"]["projections"] == len(REQUIRED_PROJECTIONS)
    wanted = sizes.count(*REBUILD_SIZE)
    assert wanted <= rebuild["size"]["events"] <= wanted + FOLLOW_UPS_PER_UNIT
    assert 0 < rebuild["size"]["follow_ups"] < rebuild["size"]["events"]
    # Both sides rebuild the same log: the per-event one is the raw column.
    assert rebuild["ratio"] == rebuild["evstore"]["median"] / rebuild["raw"]["median"]
    assert len(rebuild["raw"]["rounds"]) == len(rebuild["evstore"]["rounds"]) == sizes.rounds
    assert not set(bench_json["skipped"]) & set(SUPERVISOR_WORKLOADS)


@pytest.mark.evstore_backends("sqlite")
def test_supervisor_rows_are_skipped_with_the_reason_without_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "supervisor")
    results = supervisor(_context(tmp_path))
    assert [r.key for r in results] == SUPERVISOR_WORKLOADS
    for result in results:
        assert result.skipped is not None and result.met is None
        assert "workflows, steps, features, checkpoints, metrics, graph not loaded" in result.skipped
        assert "EVSTORE_PLUGINS" in result.skipped
        row = result.to_json()
        assert row["raw"]["median"] is None and row["ratio"] is None and row["skipped"] == result.skipped
    assert list(tmp_path.iterdir()) == []


@pytest.mark.evstore_backends("sqlite")
def test_skipped_supervisor_rows_in_the_table_share_one_reason() -> None:
    table = run("bench", *TINY, EVSTORE_PLUGINS="supervisor")
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    assert "supervisor: rebuild 6 projections of 200, batch vs per-event handlers. Why: projection(s) workflows" in text
    assert text.count("Why: projection(s)") == 1  # one reason, said once for the three rows


def test_supervisor_workload_continues_where_it_stopped() -> None:
    whole = supervisor_specs(3 * UNIT_EVENTS + 7)
    assert supervisor_specs(50) + supervisor_specs(len(whole) - 50, 50) == whole
    assert len({spec[0] for spec in supervisor_specs(UNIT_EVENTS, 0)} & {
        spec[0] for spec in supervisor_specs(UNIT_EVENTS, UNIT_EVENTS)
    }) == 0  # every run has its own streams


@needs_plugins
@pytest.mark.evstore_backends("sqlite")
def test_supervisor_workload_is_valid_and_runs_to_completion(tmp_path: Path) -> None:
    units = 3
    with EventStore.open(tmp_path / "s.db", autoload=True, durability="normal") as store:
        # A stretch that ends mid-run, then the rest: every prefix is a legal history.
        specs = supervisor_specs(units * UNIT_EVENTS)
        store.append_many(new_events(specs[:60]))
        for event in new_events(specs[60:]):
            store.append(event)
        assert store.head() == units * (UNIT_EVENTS + FOLLOW_UPS_PER_UNIT)
        read = store.reader.fetchall
        assert read("SELECT status, COUNT(*) FROM workflows GROUP BY status") == [("completed", units)]
        assert read("SELECT status, COUNT(*) FROM features GROUP BY status") == [("completed", units)]
        assert read("SELECT status, COUNT(*) FROM graph_executions GROUP BY status") == [("completed", units)]
        assert read("SELECT COUNT(*) FROM steps WHERE status = 'completed'") == [(3 * units,)]
        assert read("SELECT COUNT(*) FROM metrics") == read("SELECT COUNT(*) FROM checkpoints") == [(3 * units,)]
        assert store.rebuild(REQUIRED_PROJECTIONS) == store.head()


@needs_plugins
@pytest.mark.evstore_backends("sqlite")
def test_the_rebuild_rows_switch_replays_through_the_per_event_handlers_and_gives_the_batch_ones_back(
    tmp_path: Path,
) -> None:
    with EventStore.open(tmp_path / "s.db", autoload=True, durability="normal") as store:
        store.append_many(new_events(supervisor_specs(2 * UNIT_EVENTS + 5)))
        tables = [t for name in REQUIRED_PROJECTIONS for t in store.registry.projections[name].projection.tables]
        incremental = snapshot_tables(store, tables)

        def batch_handlers() -> dict[str, Any]:
            return {name: store.registry.projections[name].projection.batch_handler for name in REQUIRED_PROJECTIONS}

        handlers = batch_handlers()
        assert None not in handlers.values()  # the six have batch handlers: the row compares with them
        with pytest.raises(RuntimeError, match="mid-round"), per_event_handlers_only(store):
            assert set(batch_handlers().values()) == {None}
            assert store.rebuild(REQUIRED_PROJECTIONS) == store.head()
            assert snapshot_tables(store, tables) == incremental
            raise RuntimeError("mid-round")
        assert batch_handlers() == handlers


@needs_plugins
@pytest.mark.evstore_backends("sqlite")
def test_the_same_work_side_writes_what_the_projections_wrote(tmp_path: Path) -> None:
    """Replaying the recorded statements gives every projection table row for row, so
    the same-work side really does the store's work (and no less)."""
    specs = supervisor_specs(2 * UNIT_EVENTS + 5)
    with EventStore.open(tmp_path / "recorded.db", autoload=True, durability="normal") as store:
        for start in range(0, len(specs), 20):
            append_in_transaction(store, specs[start:start + 20])
        steps = record(store, tmp_path)
        cut = transactions(steps, specs, 20)
        assert [len([s for s in t if s.envelope[1] not in {"phase_completed", "feature_completed"}])
                for t in cut] == [20] * (len(specs) // 20) + [len(specs) % 20]
        replayed = SameWorkLog(tmp_path / "replayed.db", "normal", projection_schema(store), inline_projections(store))
        try:
            for transaction in cut:
                replayed.replay(transaction)
            assert replayed.head == store.head() == len(steps)
            tables = [name for registered in store.registry.projections.values()
                      for name in registered.projection.tables]
            assert {"workflows", "steps", "features", "graph_executions"} <= set(tables)
            for table in tables:
                stored = sorted(store.reader.fetchall(f'SELECT * FROM "{table}"'), key=repr)
                assert [tuple(row) for row in stored] == replayed.table(table), table
        finally:
            replayed.close()


@pytest.mark.evstore_backends("sqlite")
def test_facade_rows_without_original_are_skipped_with_one_reason(bench_json: dict[str, Any]) -> None:
    results = {r["key"]: r for r in bench_json["results"]}
    assert [key for key in results if key.startswith("facade_")] == FACADE_WORKLOADS
    assert "facade" in bench_json["workload_seconds"]
    for key in ("facade_append_vs_original", "facade_get_events_vs_original"):
        assert results[key]["met"] is None and "no --original PATH given" in results[key]["skipped"]
    assert results["facade_append_vs_original"]["target"] == 10.0
    assert results["facade_get_events_vs_original"]["target"] == 2.0
    for key in ("facade_append_vs_same_work", "facade_get_events_vs_raw"):
        assert results[key]["skipped"] is None and results[key]["ratio"] > 0


@pytest.mark.evstore_backends("sqlite")
def test_an_original_path_without_the_state_module_is_a_reason(tmp_path: Path) -> None:
    from evstore_supervisor._bench_facade import load_original

    module, reason = load_original(tmp_path)
    assert module is None and reason == f"--original {tmp_path} has no supervisor/core/state.py: point it at the " \
        "original's checkout"


@pytest.mark.evstore_backends("sqlite")
def test_facade_rows_against_the_original(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from evstore_supervisor._bench_facade import facade_rows

    original = require_checkout()
    sizes = Sizes.choose(quick=True, scale=0.02)
    rows = {row.key: row for row in facade_rows(Context(sizes, tmp_path, lambda *args: None, original=original))}
    assert list(rows) == FACADE_WORKLOADS
    assert {key: row.skipped for key, row in rows.items() if row.skipped is not None} == {}
    assert all(row.rounds == sizes.rounds for row in rows.values())
    append, reads = rows["facade_append_vs_original"], rows["facade_get_events_vs_original"]
    assert append.durability == "full" and append.size == {"events_per_round": sizes.count(*APPEND_SIZE)}
    assert reads.size == {"events": sizes.count(*READ_SIZE)}
    # The facade side is measured once and compared twice.
    assert append.evstore_rates == rows["facade_append_vs_same_work"].evstore_rates
    # The original's projections accepted every event: it warns on stderr when one fails.
    assert "Projection update failed" not in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


@needs_plugins
@pytest.mark.evstore_backends("sqlite")
def test_async_rows_measure_appends_and_the_workers_lag(bench_json: dict[str, Any]) -> None:
    results = {r["key"]: r for r in bench_json["results"]}
    appends, lag = results["supervisor_async_single_full"], results["supervisor_async_lag"]
    assert appends["durability"] == "full" and appends["size"]["async_projections"] == 5
    assert lag["kind"] == "lag" and lag["unit"] == "seconds" and lag["target_unit"] == "seconds"
    assert lag["ratio"] is None
    # The median lag is at most the largest, and every appended event was applied.
    assert 0 <= lag["raw"]["median"] <= lag["evstore"]["median"]
    assert lag["size"]["events"] == Sizes.choose(quick=True, scale=0.01).count(*LAG_EVENTS)
    assert lag["size"]["batches"] >= 1 and lag["size"]["events_per_second"] > 0


def test_the_inline_breakdown_script_measures_its_five_sides() -> None:
    """``benchmarks/inline_breakdown.py`` (where an inline append's time goes) still runs
    against the bench's code it borrows; the figures themselves are not checked."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "inline_breakdown.py"
    done = subprocess.run(
        [sys.executable, str(script), "--events", "40", "--per-transaction", "10", "--rounds", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    sides = [line.split("min")[0].strip() for line in done.stdout.splitlines()[1:]]
    assert sides == ["floor", "same work", "kernel", "no-op handlers", "evstore"]
