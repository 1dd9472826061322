"""``evstore bench``: the report's shape, not its timings (machines are too noisy)."""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evstore import EventStore, EvstoreError
from evstore._bench import Report, Result, Sizes, run_benchmark
from evstore._bench._supervisor import (
    FOLLOW_UPS_PER_UNIT,
    REQUIRED_PROJECTIONS,
    UNIT_EVENTS,
    missing_projections,
    new_events,
    supervisor_specs,
)
from evstore._bench._supervisor_cases import supervisor
from evstore._cli import cli

TINY = ["--quick", "--scale", "0.01"]
RATE_WORKLOADS = [
    "single_full",
    "single_normal",
    "batch",
    "bulk",
    "read_workflow",
    "read_log",
    "append_at_small",
    "append_at_large",
]
SUPERVISOR_WORKLOADS = ["supervisor_single_full", "supervisor_batch", "supervisor_rebuild"]
TARGETS = {
    "single_full": 0.8,
    "single_normal": 0.5,
    "batch": 0.7,
    "bulk": 0.5,
    "read_workflow": 1.0,
    "growth": 0.8,
    "supervisor_single_full": 0.75,
    "supervisor_batch": 0.5,
    "supervisor_rebuild": 50_000.0,
}
ALL_KEYS = [*RATE_WORKLOADS, "growth", *SUPERVISOR_WORKLOADS]


def _plugins_installed() -> bool:
    try:
        with EventStore.open(Path(tempfile.mkdtemp()) / "probe.db", autoload=True) as store:
            return not missing_projections(store)
    except EvstoreError:  # an installed plugin does not load: the bench skips these rows
        return False


needs_plugins = pytest.mark.skipif(
    not _plugins_installed(), reason="the six first-party plugins are not all installed"
)


@pytest.fixture(scope="module")
def bench_json() -> dict[str, Any]:
    # The supervisor rows need the plugins: an inherited EVSTORE_PLUGINS must not hide them.
    result = CliRunner().invoke(cli, ["bench", *TINY, "--json"], env={"EVSTORE_PLUGINS": None})
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_json_reports_every_workload_with_its_environment(bench_json: dict[str, Any]) -> None:
    assert [r["key"] for r in bench_json["results"]] == ALL_KEYS
    assert bench_json["quick"] is True and bench_json["scale"] == 0.01
    assert bench_json["rounds"] == Sizes.choose(quick=True).rounds
    for key in ("sqlite_version", "python_version", "evstore_version", "platform"):
        assert bench_json[key]
    assert set(bench_json["workload_seconds"]) == {
        "single_full", "single_normal", "batch", "bulk", "reads", "growth", "supervisor",
    }


@needs_plugins
def test_rates_are_positive_medians_of_every_round(bench_json: dict[str, Any]) -> None:
    for result in bench_json["results"]:
        if result["kind"] != "rate":
            continue
        assert result["skipped"] is None
        for side in ("raw", "evstore"):
            rounds = result[side]["rounds"]
            assert len(rounds) == bench_json["rounds"] and all(rate > 0 for rate in rounds)
            assert result[side]["median"] == statistics.median(rounds)
        assert result["ratio"] == pytest.approx(result["evstore"]["median"] / result["raw"]["median"])
        counts = {name: count for name, count in result["size"].items() if name != "follow_ups_total"}
        assert counts and all(count > 0 for count in counts.values())


def test_targets_and_met_flags_follow_the_ratios(bench_json: dict[str, Any]) -> None:
    results = {r["key"]: r for r in bench_json["results"]}
    assert {key: r["target"] for key, r in results.items() if r["target"] is not None} == TARGETS
    for result in results.values():
        if result["skipped"] is not None or result["target"] is None:
            assert result["met"] is None
            continue
        # The rebuild's target is a rate of its own; the others bound evstore/raw.
        measured = result["evstore"]["median"] if result["target_unit"] == "events/s" else result["ratio"]
        assert result["met"] is (measured >= result["target"])
    assert {key for key, r in results.items() if r["target_unit"] == "events/s"} == {"supervisor_rebuild"}
    missed = [key for key, r in results.items() if r["met"] is False]
    assert bench_json["missed"] == missed
    assert bench_json["all_targets_met"] is (not missed)


def test_growth_compares_each_side_with_itself(bench_json: dict[str, Any]) -> None:
    results = {r["key"]: r for r in bench_json["results"]}
    small, large, growth = results["append_at_small"], results["append_at_large"], results["growth"]
    assert growth["kind"] == "growth" and growth["unit"] == "ratio"
    assert small["size"]["stored"] < large["size"]["stored"]
    assert growth["size"] == {"small": small["size"]["stored"], "large": large["size"]["stored"]}
    for side in ("raw", "evstore"):
        assert growth[side]["median"] == pytest.approx(large[side]["median"] / small[side]["median"])
    assert growth["ratio"] == growth["evstore"]["median"]


def test_reads_cover_the_sizes_asked_for(bench_json: dict[str, Any]) -> None:
    sizes = Sizes.choose(quick=True, scale=0.01)
    results = {r["key"]: r for r in bench_json["results"]}
    assert results["read_workflow"]["size"]["events"] == sizes.workflow_events
    assert results["read_log"]["size"]["events"] >= sizes.log_events - sizes.workflow_events
    assert results["bulk"]["size"]["events"] == sizes.bulk


def test_databases_are_removed_afterwards(tmp_path: Path) -> None:
    report = run_benchmark(Sizes.choose(quick=True, scale=0.005), directory=tmp_path)
    assert len(report.results) == len(ALL_KEYS)
    assert list(tmp_path.iterdir()) == []


def test_table_lists_missed_targets_and_still_exits_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = Sizes.choose(quick=True)
    slow = Result.from_rates("bulk", "bulk append of 30k", "normal", {"events": 1}, [[100.0], [20.0]], 0.5)
    fine = Result.from_rates("read_log", "read whole log of 30k", None, {"events": 1}, [[10.0], [30.0]], None)
    environment = {"evstore_version": "0", "python_version": "3", "sqlite_version": "3"}
    report = Report(sizes, [slow, fine], 1.0, environment)
    monkeypatch.setattr("evstore._cli.bench.run_benchmark", lambda *args, **kwargs: report)
    result = CliRunner().invoke(cli, ["bench", "--quick"])
    assert result.exit_code == 0, result.output
    assert "1 target(s) missed" in result.stdout
    assert "bulk append of 30k: 0.20x (target ≥ 0.50x)" in result.stdout
    assert "3.00x" in result.stdout  # the un-targeted row is still shown


def test_help_says_what_raw_means() -> None:
    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "(SELECT COALESCE(MAX(version),0)+1 FROM events WHERE workflow_id=?)" in text
    assert "UUIDv7" in text and "BEGIN IMMEDIATE" in text and "--scale" not in text


@needs_plugins
def test_supervisor_rows_count_the_callers_events_and_report_follow_ups(bench_json: dict[str, Any]) -> None:
    sizes = Sizes.choose(quick=True, scale=0.01)
    results = {r["key"]: r for r in bench_json["results"]}
    single, batch, rebuild = (results[key] for key in SUPERVISOR_WORKLOADS)
    assert single["durability"] == "full" and batch["durability"] == "normal"
    assert single["size"]["events_per_round"] == sizes.supervisor_single
    assert batch["size"]["events_per_round"] == sizes.supervisor_transactions * 100
    assert batch["size"]["events_per_transaction"] == 100
    # Other installed plugins' projections run too; the six are always among them.
    assert single["size"]["projections_loaded"] >= len(REQUIRED_PROJECTIONS)
    # Whole runs were appended, so the cascade completed phases and features.
    assert batch["size"]["follow_ups_total"] >= FOLLOW_UPS_PER_UNIT
    assert rebuild["size"]["projections"] == len(REQUIRED_PROJECTIONS)
    assert sizes.supervisor_rebuild <= rebuild["size"]["events"] <= sizes.supervisor_rebuild + FOLLOW_UPS_PER_UNIT
    assert rebuild["size"]["raw_events"] < rebuild["size"]["events"]
    assert bench_json["skipped"] == {}


def test_supervisor_rows_are_skipped_with_the_reason_without_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "")
    results = supervisor(Sizes.choose(quick=True, scale=0.01), tmp_path, lambda *args: None)
    assert [r.key for r in results] == SUPERVISOR_WORKLOADS
    for result in results:
        assert result.skipped is not None and result.met is None
        assert "workflows, steps, features, checkpoints, metrics, graph not loaded" in result.skipped
        assert "EVSTORE_PLUGINS" in result.skipped
        row = result.to_json()
        assert row["raw"]["median"] is None and row["ratio"] is None and row["skipped"] == result.skipped
    assert list(tmp_path.iterdir()) == []


def test_skipped_supervisor_rows_in_the_json_and_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "")
    sizes = Sizes.choose(quick=True, scale=0.01)
    skipped = supervisor(sizes, tmp_path, lambda *args: None)
    fine = Result.from_rates("read_log", "read whole log of 30k", None, {"events": 1}, [[10.0], [30.0]], None)
    environment = {"evstore_version": "0", "python_version": "3", "sqlite_version": "3"}
    report = Report(sizes, [fine, *skipped], 1.0, environment)
    monkeypatch.setattr("evstore._cli.bench.run_benchmark", lambda *args, **kwargs: report)
    parsed = json.loads(CliRunner().invoke(cli, ["bench", *TINY, "--json"]).stdout)
    assert parsed["skipped"] == {key: skipped[0].skipped for key in SUPERVISOR_WORKLOADS}
    assert parsed["missed"] == [] and parsed["all_targets_met"] is True
    table = CliRunner().invoke(cli, ["bench", *TINY])
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    assert "supervisor: rebuild 6 projections of 200. Why: projection(s) workflows" in text
    assert text.count("Why:") == 1  # one reason, said once for the three rows
    assert "All targets met." in text


def test_absolute_target_is_shown_as_a_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = Result.from_rates(
        "supervisor_rebuild", "supervisor: rebuild 6 projections of 20k", "normal", {"events": 1},
        [[400_000.0], [30_000.0]], 50_000.0, "events/s",
    )
    environment = {"evstore_version": "0", "python_version": "3", "sqlite_version": "3"}
    report = Report(Sizes.choose(quick=True), [slow], 1.0, environment)
    monkeypatch.setattr("evstore._cli.bench.run_benchmark", lambda *args, **kwargs: report)
    result = CliRunner().invoke(cli, ["bench", "--quick"])
    assert result.exit_code == 0, result.output
    assert "supervisor: rebuild 6 projections of 20k: 30,000/s (target ≥ 50,000/s)" in result.stdout


def test_supervisor_workload_continues_where_it_stopped() -> None:
    whole = supervisor_specs(3 * UNIT_EVENTS + 7)
    assert supervisor_specs(50) + supervisor_specs(len(whole) - 50, 50) == whole
    assert len({spec[0] for spec in supervisor_specs(UNIT_EVENTS, 0)} & {
        spec[0] for spec in supervisor_specs(UNIT_EVENTS, UNIT_EVENTS)
    }) == 0  # every run has its own streams


@needs_plugins
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
