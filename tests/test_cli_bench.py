"""``evstore bench``: the report's shape, not its timings (machines are too noisy)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evstore import PluginError, hookimpl
from evstore._bench import Report, Result, Sizes, run_benchmark
from evstore._bench._pg_workloads import PG_SIZES
from evstore._cli import cli
from evstore.bench import Context, Workload

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
THREAD_WORKLOADS = ["group_commit"]
TARGETS = {
    "single_full": 0.8,
    "single_normal": 0.5,
    "batch": 0.7,
    "bulk": 0.5,
    "read_workflow": 1.0,
    "growth": 0.8,
    "group_commit": 3.0,
}
ALL_KEYS = [*RATE_WORKLOADS, "growth", *THREAD_WORKLOADS]
KERNEL_WORKLOADS = {"single_full", "single_normal", "batch", "bulk", "reads", "growth", "group_commit"}


@pytest.fixture(scope="module")
def bench_json() -> dict[str, Any]:
    # The kernel's rows alone: no plugin contributes any (their own tests run theirs).
    result = CliRunner().invoke(cli, ["bench", *TINY, "--json"], env={"EVSTORE_PLUGINS": ""})
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_json_reports_every_workload_with_its_environment(bench_json: dict[str, Any]) -> None:
    assert [r["key"] for r in bench_json["results"]] == ALL_KEYS
    assert bench_json["quick"] is True and bench_json["scale"] == 0.01
    assert bench_json["rounds"] == Sizes.choose(quick=True).rounds
    for key in ("sqlite_version", "python_version", "evstore_version", "platform"):
        assert bench_json[key]
    assert set(bench_json["workload_seconds"]) == KERNEL_WORKLOADS


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
        assert result["size"] and all(count > 0 for count in result["size"].values())


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
    assert {r["target_unit"] for r in results.values()} == {"ratio"}
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


def test_group_commit_row_shares_the_round_among_eight_threads(bench_json: dict[str, Any]) -> None:
    row = {r["key"]: r for r in bench_json["results"]}["group_commit"]
    sizes = Sizes.choose(quick=True, scale=0.01)
    assert row["durability"] == "full" and row["size"]["threads"] == 8
    assert row["size"]["events_per_round"] % 8 == 0
    assert 8 <= row["size"]["events_per_round"] <= max(8, sizes.thread_events)


def test_databases_are_removed_afterwards(tmp_path: Path) -> None:
    report = run_benchmark(Sizes.choose(quick=True, scale=0.005), directory=tmp_path, autoload=False)
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




def _rows(context: Context) -> list[Result]:
    """A contributed workload: one measured row sized by the context, one skipped."""
    count = context.sizes.count(full=1000, quick=100)
    (context.workdir / "contributed.txt").write_text("scratch")  # removed with the folder
    measured = Result.from_rates(
        "contributed_rate", "contributed: a row", None, {"events": count}, [[10.0, 12.0], [20.0, 30.0]], 1.5
    )
    skipped = Result.skip(
        "contributed_skip", "contributed: needs --original", None, 2.0, "ratio",
        f"no --original given (got {context.original})",
    )
    return [measured, skipped]


class Contributor:
    evstore_plugin_name = "contributor"

    @hookimpl
    def evstore_bench_workloads(self, register: Any) -> None:
        register(Workload("contributed", _rows))


def test_hook_evstore_bench_workloads(tmp_path: Path) -> None:
    """A plugin's rows join the report after the kernel's, with their own seconds."""
    sizes = Sizes.choose(quick=True, scale=0.005)
    report = run_benchmark(sizes, directory=tmp_path, plugins=[Contributor()], autoload=False)
    keys = [result.key for result in report.results]
    assert keys == [*ALL_KEYS, "contributed_rate", "contributed_skip"]
    assert list(report.workload_seconds)[-1] == "contributed"
    contributed = report.results[-2]
    assert contributed.size == {"events": sizes.count(full=1000, quick=100)} and contributed.met is True
    assert report.skipped() == [report.results[-1]]
    assert list(tmp_path.iterdir()) == []


def test_contributed_rows_are_shown_and_their_skip_reason_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("evstore._bench.contributed_workloads", _only_contributor)
    table = CliRunner().invoke(cli, ["bench", *TINY])
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    assert "contributed: needs --original. Why: no --original given (got None)" in text
    assert text.count("Why:") == 1
    parsed = json.loads(CliRunner().invoke(cli, ["bench", *TINY, "--json"]).stdout)
    assert parsed["skipped"] == {"contributed_skip": "no --original given (got None)"}
    assert parsed["workload_seconds"]["contributed"] >= 0


def _only_contributor(taken: list[str], plugins: Any = None, autoload: Any = None) -> Any:
    from evstore._bench._contrib import contributed_workloads

    return contributed_workloads(taken, [Contributor()], autoload=False)


class Broken:
    evstore_plugin_name = "broken"

    def __init__(self, register_what: object) -> None:
        self.register_what = register_what

    @hookimpl
    def evstore_bench_workloads(self, register: Any) -> None:
        register(self.register_what)


def _explodes(context: Context) -> list[Result]:
    raise ZeroDivisionError("division by zero")


@pytest.mark.parametrize(
    ("registered", "message"),
    [
        ("not a workload", "registered str as a bench workload; register an evstore.bench.Workload"),
        (Workload("growth", _rows), "a bench workload named 'growth', a name already taken"),
        (Workload("explodes", _explodes), "bench workload 'explodes' of plugin 'broken'"),
    ],
)
def test_a_broken_contribution_is_a_plugin_error_naming_it(tmp_path: Path, registered: object, message: str) -> None:
    with pytest.raises(PluginError, match="broken") as caught:
        run_benchmark(Sizes.choose(quick=True, scale=0.005), directory=tmp_path, plugins=[Broken(registered)],
                      autoload=False)
    assert message in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_workload_needs_a_name_and_a_function() -> None:
    with pytest.raises(TypeError, match="non-empty name"):
        Workload("", _rows)
    with pytest.raises(TypeError, match="run must be callable"):
        Workload("x", "not callable")  # type: ignore[arg-type]


def test_an_unreachable_db_is_one_line_before_anything_runs() -> None:
    # Port 1: nothing listens there, so the connection is refused at once.
    result = CliRunner().invoke(cli, ["bench", *TINY, "--db", "postgresql://postgres@127.0.0.1:1/test"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: cannot connect to PostgreSQL at ")
    assert "(--db)" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""  # no row was measured first


def test_db_must_be_a_postgresql_url() -> None:
    result = CliRunner().invoke(cli, ["bench", *TINY, "--db", "store.db"])
    assert result.exit_code == 2
    assert "--db takes a PostgreSQL URL (postgresql://...), not 'store.db'" in result.stderr


PG_KEYS = [
    "pg_single_full", "pg_batch", "pg_bulk", "pg_read_workflow", "pg_read_log",
    "pg_writers_1", "pg_writers_4", "pg_writers_8", "pg_writers_scaling",
]


def _bench_schemas(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'evstore_bench_%'").fetchall()
    return {row[0] for row in rows}


@pytest.mark.evstore_backends("postgresql")
def test_postgresql_rows_compare_with_raw_psycopg_and_leave_no_schema(evstore_target_factory: Any) -> None:
    url = evstore_target_factory.postgres_url
    before = _bench_schemas(url)
    result = CliRunner().invoke(cli, ["bench", *TINY, "--json", "--db", url], env={"EVSTORE_PLUGINS": ""})
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    assert _bench_schemas(url) <= before  # every schema of the run was dropped
    results = {r["key"]: r for r in parsed["results"]}
    assert [r["key"] for r in parsed["results"]] == [*ALL_KEYS, *PG_KEYS]
    assert {"pg", "pg_writers"} <= set(parsed["workload_seconds"])
    sizes = Sizes.choose(quick=True, scale=0.01)
    assert results["pg_bulk"]["size"]["events"] == sizes.count(*PG_SIZES["bulk"])
    assert results["pg_read_workflow"]["size"]["events"] == sizes.count(*PG_SIZES["workflow"])
    for key in PG_KEYS[:-1]:
        row = results[key]
        assert row["target"] == 0.8 and row["met"] is (row["ratio"] >= 0.8)
        assert len(row["raw"]["rounds"]) == parsed["rounds"] and min(row["evstore"]["rounds"]) > 0
    assert [results[f"pg_writers_{n}"]["size"]["writers"] for n in (1, 4, 8)] == [1, 4, 8]
    scaling, one, eight = results["pg_writers_scaling"], results["pg_writers_1"], results["pg_writers_8"]
    assert scaling["kind"] == "growth" and scaling["target"] == 1.0
    assert scaling["ratio"] == pytest.approx(eight["evstore"]["median"] / one["evstore"]["median"])
    assert scaling["raw"]["median"] == pytest.approx(eight["raw"]["median"] / one["raw"]["median"])


def test_a_lag_row_is_met_below_its_target_and_shown_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = Result.lag("lag_ok", "worker lag, quiet", "normal", {"events": 10}, [0.01, 0.02, 0.2], 1.0)
    slow = Result.lag("lag_slow", "worker lag, busy", "normal", {"events": 10}, [0.5, 0.9, 1.5], 1.0)
    assert (fast.raw, fast.evstore, fast.met, slow.met) == (0.02, 0.2, True, False)
    row = slow.to_json()
    assert row["unit"] == "seconds" and row["ratio"] is None and row["evstore"]["median"] == 1.5
    environment = {"evstore_version": "0", "python_version": "3", "sqlite_version": "3"}
    report = Report(Sizes.choose(quick=True), [fast, slow], 1.0, environment)
    monkeypatch.setattr("evstore._cli.bench.run_benchmark", lambda *args, **kwargs: report)
    result = CliRunner().invoke(cli, ["bench", "--quick"])
    assert result.exit_code == 0, result.output
    assert "worker lag, busy: max 1.50s (target ≤ 1.00s)" in result.stdout
    assert "median 0.020s" in result.stdout and "max 0.200s" in result.stdout
    assert json.loads(json.dumps(report.to_json()))["missed"] == ["lag_slow"]
