"""``evstore bench``: the report's shape, not its timings (machines are too noisy)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evstore._bench import Report, Result, Sizes, run_benchmark
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
TARGETS = {
    "single_full": 0.8,
    "single_normal": 0.5,
    "batch": 0.7,
    "bulk": 0.5,
    "read_workflow": 1.0,
    "growth": 0.8,
}


@pytest.fixture(scope="module")
def bench_json() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["bench", *TINY, "--json"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_json_reports_every_workload_with_its_environment(bench_json: dict[str, Any]) -> None:
    assert [r["key"] for r in bench_json["results"]] == [*RATE_WORKLOADS, "growth"]
    assert bench_json["quick"] is True and bench_json["scale"] == 0.01
    assert bench_json["rounds"] == Sizes.choose(quick=True).rounds
    for key in ("sqlite_version", "python_version", "evstore_version", "platform"):
        assert bench_json[key]
    assert set(bench_json["workload_seconds"]) == {
        "single_full", "single_normal", "batch", "bulk", "reads", "growth",
    }


def test_rates_are_positive_medians_of_every_round(bench_json: dict[str, Any]) -> None:
    for result in bench_json["results"]:
        if result["kind"] != "rate":
            continue
        for side in ("raw", "evstore"):
            rounds = result[side]["rounds"]
            assert len(rounds) == bench_json["rounds"] and all(rate > 0 for rate in rounds)
            assert result[side]["median"] == statistics.median(rounds)
        assert result["ratio"] == pytest.approx(result["evstore"]["median"] / result["raw"]["median"])
        assert result["size"] and all(count > 0 for count in result["size"].values())


def test_targets_and_met_flags_follow_the_ratios(bench_json: dict[str, Any]) -> None:
    results = {r["key"]: r for r in bench_json["results"]}
    assert {key: r["target"] for key, r in results.items() if r["target"] is not None} == TARGETS
    for result in results.values():
        expected = None if result["target"] is None else result["ratio"] >= result["target"]
        assert result["met"] is expected
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
    assert len(report.results) == len(RATE_WORKLOADS) + 1
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
