"""After an import: does the store answer the queries the original answered?

For each of the original's tables, the columns its queries return are compared row by
row with the imported store's tables (JSON columns as decoded values, times as
instants). What is compared, per table:

- workflows: status, current_step, context; steps: workflow_id, role, status, gates,
  context, output, error;
- features: title, description, status; phases: feature_id, title, sequence, status,
  interfaces; components: phase_id, title, description, files, depends_on, status,
  assigned_role, output, error;
- checkpoints: each workflow's checkpoints in order (step, git sha, context, status,
  time), so the latest is the same one;
- metrics: every row (role, cli, task type, workflow, success, duration, retries,
  tokens, error category, score, time), as a multiset;
- graph: each graph's name and definition; each execution's graph, workflow, status
  and error; each node's status, output and error; each loop counter; and each
  execution's original ``execution_events`` rows, in order, among the imported ones.

Not compared: creation times and ``features.completed_at`` (the original stamped them
with the clock of its projection, not of its events), node versions (they count the
reconstruction's transitions), and the order of rows with equal keys.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

import pydantic

import evstore_graph
from evstore import EventStore

from ._seed_import import NO_WORKFLOW_STREAM
from ._seed_reader import Row, Seed, json_value, text, utc_time
from ._seed_report import Difference, ImportReport

_MAX_DIFFERENCES_PER_TABLE: Final = 50

Normaliser = Callable[[Any], Any]


def _json(value: Any) -> Any:
    return json_value(value)


def _text_or_empty(value: Any) -> Any:
    return text(value) or ""


def _time(value: Any) -> datetime | None:
    return utc_time(value)[0]


def _definition(value: Any) -> Any:
    """A graph definition as evstore-graph reads it (defaults filled in), so that the
    original's ``{"id": "a"}`` and the stored ``{"id": "a", "type": "task", ...}`` match."""
    decoded = json_value(value)
    try:
        return evstore_graph.GraphDefinition.model_validate(decoded).model_dump(mode="json")
    except pydantic.ValidationError:
        return decoded


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


# table -> (key column, {column: normaliser})
_KEYED: Final[dict[str, tuple[str, dict[str, Normaliser]]]] = {
    "workflows": ("id", {"status": text, "current_step": text, "context": _json}),
    "steps": ("id", {"workflow_id": text, "role": text, "status": text, "gates": _json, "context": _json,
                     "output": _json, "error": text}),
    "features": ("id", {"title": _text_or_empty, "description": _text_or_empty, "status": text}),
    "phases": ("id", {"feature_id": text, "title": _text_or_empty, "sequence": _int, "status": text,
                      "interfaces": _json}),
    "components": ("id", {"phase_id": text, "title": _text_or_empty, "description": _text_or_empty,
                          "files": _json, "depends_on": _json, "status": text, "assigned_role": text,
                          "output": _json, "error": text}),
    "graph_workflows": ("id", {"name": text, "definition": _definition}),
    "graph_executions": ("id", {"graph_id": text, "workflow_id": text, "status": text, "error": text}),
}


def compare(store: EventStore, seed: Seed, report: ImportReport) -> None:
    """Fill ``report.differences``, ``report.extra_rows`` and ``report.compared``."""
    with store.snapshot() as reader:
        def fetch(sql: str) -> list[Row]:
            cursor = reader.execute(sql)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        for table, (key, columns) in _KEYED.items():
            if table in seed.tables:
                _compare_keyed(report, table, key, columns, seed.rows(table), fetch(f"SELECT * FROM {table}"))
        if "node_executions" in seed.tables:
            _compare_nodes(report, seed.rows("node_executions"), fetch("SELECT * FROM node_executions"))
        if "loop_counters" in seed.tables:
            _compare_loops(report, seed.rows("loop_counters"), fetch("SELECT * FROM loop_counters"))
        if "checkpoints" in seed.tables:
            _compare_checkpoints(report, _carried(report, seed, "checkpoints"),
                                 fetch("SELECT * FROM checkpoints ORDER BY id"))
        if "metrics" in seed.tables:
            _compare_metrics(report, _carried(report, seed, "metrics"), fetch("SELECT * FROM metrics"))
        if "execution_events" in seed.tables:
            _compare_execution_events(report, _carried(report, seed, "execution_events"),
                                      fetch("SELECT * FROM execution_events ORDER BY id"))


def _carried(report: ImportReport, seed: Seed, table: str) -> list[Row]:
    """The rows of a table keyed by ``id`` that were not reported as not carried over
    (in whole or in part): those were reported once already."""
    reported = {problem.source_id for problem in report.not_carried if problem.table == table}
    return [row for row in seed.rows(table) if str(row.get("id")) not in reported]


def _add(report: ImportReport, table: str, difference: Difference) -> None:
    if sum(1 for d in report.differences if d.table == table) < _MAX_DIFFERENCES_PER_TABLE:
        report.differences.append(difference)


def _compare_keyed(
    report: ImportReport, table: str, key: str, columns: dict[str, Normaliser], original: list[Row],
    imported: list[Row],
) -> None:
    report.compared.append(table)
    ours = {text(row[key]): row for row in imported}
    # A row reported as not carried over is not reported again as a difference.
    reported = {problem.source_id for problem in report.not_carried if problem.table == table}
    seen: set[str | None] = set()
    for row in original:
        row_key = text(row.get(key))
        seen.add(row_key)
        if row_key in reported:
            continue
        mine = ours.get(row_key)
        if mine is None:
            _add(report, table, Difference(table, str(row_key), "(row)", "present", "missing"))
            continue
        for column, normalise in columns.items():
            if column not in row:
                continue  # an older original without this column
            theirs_value, our_value = normalise(row[column]), normalise(mine.get(column))
            if theirs_value != our_value:
                _add(report, table, Difference(table, str(row_key), column, theirs_value, our_value))
    extra = [k for k in ours if k not in seen]
    if extra:
        report.extra_rows[table] += len(extra)


def _compare_nodes(report: ImportReport, original: list[Row], imported: list[Row]) -> None:
    report.compared.append("node_executions")
    ours = {(text(r["execution_id"]), text(r["node_id"])): r for r in imported}
    for row in original:
        key = (text(row.get("execution_id")), text(row.get("node_id")))
        mine = ours.pop(key, None)
        label = f"{key[0]}/{key[1]}"
        if mine is None:
            _add(report, "node_executions", Difference("node_executions", label, "(row)", "present", "missing"))
            continue
        for column, normalise in (("status", text), ("output_data", _json), ("error", text)):
            if column in row and normalise(row[column]) != normalise(mine[column]):
                _add(report, "node_executions", Difference(
                    "node_executions", label, column, normalise(row[column]), normalise(mine[column])))
    if ours:
        report.extra_rows["node_executions"] += len(ours)


def _compare_loops(report: ImportReport, original: list[Row], imported: list[Row]) -> None:
    report.compared.append("loop_counters")
    ours = {(text(r["execution_id"]), text(r["loop_key"])): r["iteration_count"] for r in imported}
    for row in original:
        key = (text(row.get("execution_id")), text(row.get("loop_key")))
        count, mine = row.get("iteration_count") or 0, ours.get(key, 0)
        if count != mine:
            _add(report, "loop_counters", Difference("loop_counters", f"{key[0]}/{key[1]}", "iteration_count",
                                                     count, mine))


def _compare_checkpoints(report: ImportReport, original: list[Row], imported: list[Row]) -> None:
    report.compared.append("checkpoints")

    def by_workflow(rows: Iterable[Row]) -> dict[str | None, list[tuple[Any, ...]]]:
        grouped: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
        for row in rows:
            grouped[text(row.get("workflow_id"))].append((
                text(row.get("step_id")), text(row.get("git_sha")), _json(row.get("context_snapshot")),
                text(row.get("status")) or "active", _time(row.get("timestamp")),
            ))
        return grouped

    theirs, ours = by_workflow(original), by_workflow(imported)
    for workflow_id, rows in theirs.items():
        mine = ours.pop(workflow_id, [])
        if rows != mine:
            _add(report, "checkpoints", Difference(
                "checkpoints", str(workflow_id), "checkpoints (step, sha, context, status, time)",
                _jsonable(rows), _jsonable(mine)))
    for rows in ours.values():
        report.extra_rows["checkpoints"] += len(rows)


def _compare_metrics(report: ImportReport, original: list[Row], imported: list[Row]) -> None:
    report.compared.append("metrics")

    def signature(row: Row) -> tuple[Any, ...]:
        success = row.get("success")
        return (
            text(row.get("role")), text(row.get("cli")), text(row.get("task_type")) or "other",
            text(row.get("workflow_id")) or NO_WORKFLOW_STREAM,
            int(bool(success)) if success in (0, 1) else success,
            _float(row.get("duration_seconds")), row.get("retry_count") or 0, row.get("token_usage"),
            text(row.get("error_category")), _float(row.get("model_score")), _time(row.get("timestamp")),
        )

    theirs, ours = Counter(map(signature, original)), Counter(map(signature, imported))
    missing, extra = theirs - ours, ours - theirs
    if missing:
        sample = next(iter(missing))
        _add(report, "metrics", Difference(
            "metrics", f"{sum(missing.values())} row(s)", "(rows)", _jsonable([sample]), "missing"))
    if extra:
        report.extra_rows["metrics"] += sum(extra.values())


def _compare_execution_events(report: ImportReport, original: list[Row], imported: list[Row]) -> None:
    report.compared.append("execution_events")

    def signature(row: Row) -> tuple[Any, ...]:
        payload = _json(row.get("payload"))
        return (
            text(row.get("event_type")), text(row.get("node_id")), text(row.get("node_type")),
            text(row.get("status")), payload or {}, row.get("version") or 0, _time(row.get("timestamp")),
        )

    theirs: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
    ours: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
    for row in original:
        theirs[text(row.get("execution_id"))].append(signature(row))
    for row in imported:
        ours[text(row.get("execution_id"))].append(signature(row))
    for execution_id, rows in theirs.items():
        if not _is_subsequence(rows, ours.get(execution_id, [])):
            _add(report, "execution_events", Difference(
                "execution_events", str(execution_id), "(rows in order)", f"{len(rows)} rows",
                "not all found in order"))
    added = sum(len(rows) for rows in ours.values()) - sum(len(rows) for rows in theirs.values())
    if added > 0:
        report.notes.append(
            f"{added:,} execution_events row(s) come from rebuilding the executions' node states as events; "
            "the original's rows come first, in their order"
        )


def _is_subsequence(needles: list[Any], haystack: list[Any]) -> bool:
    remaining = iter(haystack)
    return all(any(item == candidate for candidate in remaining) for item in needles)


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value
