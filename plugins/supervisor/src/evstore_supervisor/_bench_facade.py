"""``evstore bench`` rows for the facade: ``Database`` against the original it replaces.

Issue 10's targets, in one run: ``append_event`` at least 10x the original's at the
default durability (full on both), ``get_events`` of one workflow of 10k events at
least 2x. The original is imported from ``--original PATH`` (a checkout holding
``supervisor/core/state.py``, like ``../shared/seed/original``) into this process;
without it those rows are skipped with the reason. Each row also has a hand-written
``sqlite3`` side doing the same work: for appends the same-work replay of
``_bench_replay`` (the event, the projections' statements, their positions, in one
transaction per event), for reads the raw log's query with every payload decoded.

The appended events are the supervisor workload's, keeping only the event types the
original knows (it has no graph or metric events), built as each side's ``Event``
before the clock starts.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from evstore.bench import Context, Progress, RawLog, Result, Sizes, each, interleave, measure, remove_database

from ._bench_replay import SameWorkLog, inline_projections, projection_schema, record, transactions
from ._bench_specs import SupervisorSpec, supervisor_specs
from ._database import Database
from ._events import Event, EventType

TARGETS = {"facade_append_vs_original": 10.0, "facade_get_events_vs_original": 2.0}
APPEND_SIZE = (300, 40)  # (full run, --quick) append_event calls per round
READ_SIZE = (10_000, 5_000)  # events of the workflow get_events reads
READ_WORKFLOW = "facade-read"
_PREFILL = 2000


def load_original(path: Path | None) -> tuple[ModuleType | None, str | None]:
    """``supervisor.core.state`` of the checkout at ``path``, or why it is not there."""
    if path is None:
        return None, "no --original PATH given (a checkout of the original supervisor, e.g. ../shared/seed/original)"
    if not (path / "supervisor" / "core" / "state.py").is_file():
        return None, f"--original {path} has no supervisor/core/state.py: point it at the original's checkout"
    sys.path.insert(0, str(path))
    try:
        module = importlib.import_module("supervisor.core.state")
    except Exception as error:  # its own import failing is a finding, not a crash of the bench
        return None, f"importing supervisor.core.state from --original {path} failed: {type(error).__name__}: {error}"
    finally:
        sys.path.remove(str(path))
    found = Path(module.__file__ or "").resolve()
    if not found.is_relative_to(path.resolve()):
        return None, f"another module named supervisor was imported already (from {found}), not --original {path}"
    return module, None


def facade_rows(context: Context) -> list[Result]:
    original, reason = load_original(context.original)
    sizes, workdir, progress = context.sizes, context.workdir, context.progress
    return [*_appends(sizes, workdir, progress, original, reason), *_reads(sizes, workdir, progress, original, reason)]


def _shared_specs(original: ModuleType | None, count: int) -> list[SupervisorSpec]:
    """``count`` events of the workload whose types both sides know, with the payload
    keys the original's projections require (the ids of the feature, phase and
    component rows they create; the facade's models accept them too)."""
    known = {member.value for member in EventType}
    if original is not None:
        known &= {member.value for member in original.EventType}
    specs: list[SupervisorSpec] = []
    start = 0
    while len(specs) < count:
        specs += [_with_ids(spec) for spec in supervisor_specs(500, start) if spec[1] in known]
        start += 500
    return specs[:count]


def _with_ids(spec: SupervisorSpec) -> SupervisorSpec:
    workflow, event_type, role, step, component, status, payload = spec
    required: dict[str, dict[str, str | None]] = {
        "feature_created": {"id": workflow},
        "phase_created": {"feature_id": workflow},
        "component_created": {"id": component},
    }
    ids = required.get(event_type)
    return spec if ids is None else (workflow, event_type, role, step, component, status, {**payload, **ids})


def _events(make: Callable[..., Any], types: Callable[[str], Any], specs: list[SupervisorSpec]) -> list[Any]:
    return [
        make(workflow_id=w, event_type=types(t), role=r, step_id=s, component_id=c, status=st, payload=p)
        for w, t, r, s, c, st, p in specs
    ]


def _skipped(key: str, label: str, reason: str | None) -> Result:
    return Result.skip(key, label, "full" if "append" in key else None, TARGETS[key], "ratio", str(reason))


def _appends(
    sizes: Sizes, workdir: Path, progress: Progress, original: ModuleType | None, reason: str | None
) -> list[Result]:
    count = sizes.count(*APPEND_SIZE)
    rounds = sizes.rounds
    specs = _shared_specs(original, count * rounds)
    label = "facade: Database.append_event (full)"
    with _append_sides(workdir, specs) as (facade, same_work, recorded):

        def facade_side(round_number: int) -> float:
            events = _events(Event, EventType, specs[round_number * count:(round_number + 1) * count])
            return measure(count, each(facade.append_event, events))

        def same_work_side(round_number: int) -> float:
            return measure(count, each(same_work.replay, recorded[round_number * count:(round_number + 1) * count]))

        sides: list[Callable[[int], float]] = [facade_side, same_work_side]
        with _original_database(original, workdir / "facade-original.db") as old:
            if old is not None:
                assert original is not None

                def original_side(round_number: int) -> float:
                    mine = specs[round_number * count:(round_number + 1) * count]
                    events = _events(original.Event, original.EventType, mine)
                    return measure(count, each(old.append_event, events))

                sides.append(original_side)
            rates = interleave(sides, rounds, label, progress)
    size = {"events_per_round": count}
    rows = [Result.from_rates("facade_append_vs_same_work", f"{label} vs same work", "full", size,
                              [rates[1], rates[0]], None)]
    versus = f"{label} vs original"
    if original is None:
        return [_skipped("facade_append_vs_original", versus, reason), *rows]
    key = "facade_append_vs_original"
    return [Result.from_rates(key, versus, "full", size, [rates[2], rates[0]], TARGETS[key]), *rows]


@contextmanager
def _append_sides(workdir: Path, specs: list[SupervisorSpec]) -> Iterator[tuple[Database, SameWorkLog, list[Any]]]:
    """The facade and its same-work log, recorded from a facade given ``specs`` first."""
    recorder_path = workdir / "facade-recorder.db"
    recorder = Database(recorder_path, durability="normal")
    try:
        for event in _events(Event, EventType, specs):
            recorder.append_event(event)
        steps = record(recorder.store, workdir)
        schema, projections = projection_schema(recorder.store), inline_projections(recorder.store)
    finally:
        recorder.close()
        remove_database(recorder_path)
    facade_path, same_work_path = workdir / "facade-evstore.db", workdir / "facade-same-work.db"
    same_work = SameWorkLog(same_work_path, "full", schema, projections)
    try:
        facade = Database(facade_path)
        try:
            yield facade, same_work, transactions(steps, specs, 1)
        finally:
            facade.close()
    finally:
        same_work.close()
        remove_database(facade_path)
        remove_database(same_work_path)


@contextmanager
def _original_database(original: ModuleType | None, path: Path) -> Iterator[Any]:
    if original is None:
        yield None
        return
    try:
        yield original.Database(path)
    finally:
        remove_database(path)


def _read_specs(count: int) -> list[SupervisorSpec]:
    """One workflow's history: it starts, then steps start and complete, with output."""
    specs: list[SupervisorSpec] = [(READ_WORKFLOW, "workflow_started", None, None, None, None,
                                    {"initial_step": "step-0", "context": {"repository": "acme/shop"}})]
    for k in range(1, count):
        step = f"step-{k // 2}"
        if k % 2:
            specs.append((READ_WORKFLOW, "step_started", "implementer", step, None, None,
                          {"gates": ["lint", "tests"], "context": {"attempt": 1}}))
        else:
            specs.append((READ_WORKFLOW, "step_completed", "implementer", step, None, "completed",
                          {"output": {"summary": f"{step} done", "files_changed": 3}}))
    return specs


def _reads(
    sizes: Sizes, workdir: Path, progress: Progress, original: ModuleType | None, reason: str | None
) -> list[Result]:
    count = sizes.count(*READ_SIZE)
    specs = _read_specs(count)
    label = f"facade: Database.get_events of {count:,}"
    paths = [workdir / f"facade-read-{side}.db" for side in ("raw", "evstore", "original")]
    raw, facade = RawLog(paths[0], "normal"), Database(paths[1], durability="normal")
    try:
        progress("facade: prefilling the workflow to read", 0, 1)
        for start in range(0, count, _PREFILL):
            chunk = specs[start:start + _PREFILL]
            raw.append_envelopes_bulk(chunk)
            facade.append_events(_events(Event, EventType, chunk))
        progress("facade: prefilling the workflow to read", 1, 1)

        def raw_side(_round: int) -> float:
            return measure(count, lambda: raw.read_workflow(READ_WORKFLOW))

        def facade_side(_round: int) -> float:
            return measure(count, lambda: _read_all(facade.get_events, count))

        sides: list[Callable[[int], float]] = [raw_side, facade_side]
        if original is not None:
            old = original.Database(paths[2])
            _prefill_original(paths[2], specs)
            sides.append(lambda _round: measure(count, lambda: _read_all(old.get_events, count)))
        rates = interleave(sides, sizes.rounds, label, progress)
    finally:
        raw.close()
        facade.close()
        for path in paths:
            remove_database(path)
    size = {"events": count}
    rows = [Result.from_rates("facade_get_events_vs_raw", f"{label} vs raw", None, size, [rates[0], rates[1]], None)]
    key, versus = "facade_get_events_vs_original", f"{label} vs original"
    if original is None:
        return [_skipped(key, versus, reason), *rows]
    return [Result.from_rates(key, versus, None, size, [rates[2], rates[1]], TARGETS[key]), *rows]


def _read_all(get_events: Callable[[str], list[Any]], count: int) -> None:
    events = get_events(READ_WORKFLOW)
    if len(events) != count or events[-1].payload is None:
        raise RuntimeError(f"get_events returned {len(events)} events, not the {count} stored")


def _prefill_original(path: Path, specs: list[SupervisorSpec]) -> None:
    """The original's events table, filled with SQL as its append_event fills it (its
    projections do not matter to get_events, and its appends would take minutes)."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO events (workflow_id, event_type, role, step_id, component_id, status, payload, "
                "timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(w, t, r, s, c, st, json.dumps(p), datetime.now(UTC).isoformat()) for w, t, r, s, c, st, p in specs],
            )
    finally:
        conn.close()
