"""Events stored while this plugin was not loaded were never validated, and payloads are
stored as given. The projection still reads each one as ``MetricRecorded`` reads it:
the model's defaults for keys left out, its values for the rest. A payload the model
refuses makes the handler raise, and the kernel then skips that one event for the
projection (counted in ``skipped``; the projection stays ``ok``), never applying it as
something else."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic

import evstore_metrics
from evstore import EventStore, NewEvent
from evstore_metrics import METRIC_RECORDED, MetricRecorded

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
VALID = {
    "cli": "claude", "task_type": "code", "success": False, "duration_seconds": 12.5, "retry_count": 2,
    "token_usage": 1500, "error_category": "timeout", "model_score": 0.75,
}
# Values the model refuses or reads differently for some field.
NEAR_MISSES: list[Any] = [None, True, False, 0, 1, -1, 0.0, -0.5, 1.5, "", " ", "x", [], {}]


def _variants() -> list[dict[str, Any]]:
    """The valid payload, without each key in turn, and with each key a near miss."""
    variants = [VALID]
    for key in VALID:
        variants.append({k: v for k, v in VALID.items() if k != key})
        variants += [{**VALID, key: value} for value in NEAR_MISSES]
    return variants


def _event(payload: dict[str, Any], n: int) -> NewEvent:
    return NewEvent(workflow_id="wf-1", event_type=METRIC_RECORDED, role="implementer", payload=payload,
                    timestamp=T0 + timedelta(seconds=n))


def _reading(payload: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return MetricRecorded.model_validate(payload).model_dump()
    except pydantic.ValidationError:
        return None


def _unvalidated(folder: Path, name: str, payloads: list[dict[str, Any]]) -> EventStore:
    """A store holding ``payloads`` as stored with the plugin not loaded, then opened with it."""
    path = folder / name
    with EventStore.open(path, plugins=[], autoload=False, permissive=True) as bare:
        bare.append_many([_event(payload, n) for n, payload in enumerate(payloads)])
    return EventStore.open(path, plugins=[evstore_metrics], autoload=False)


def _status(store: EventStore) -> str:
    return next(s.status for s in store.projection_status() if s.name == "metrics")


def _status_and_skips(store: EventStore) -> tuple[str, int]:
    return next((s.status, s.skipped) for s in store.projection_status() if s.name == "metrics")


def test_every_near_miss_is_read_as_the_model_reads_it() -> None:
    accepted = [p for p in _variants() if _reading(p) is not None]
    refused = [p for p in _variants() if _reading(p) is None]
    assert len(accepted) > 10 and len(refused) > 50
    with tempfile.TemporaryDirectory() as folder:
        with _unvalidated(Path(folder), "accepted.db", accepted) as store, \
                EventStore.open(Path(folder) / "checked.db", plugins=[evstore_metrics], autoload=False) as checked:
            assert _status(store) == "ok"
            checked.append_many([_event(_reading(p) or {}, n) for n, p in enumerate(accepted)])
            query = "SELECT * FROM metrics ORDER BY id"
            assert store.reader.fetchall(query) == checked.reader.fetchall(query)
        for n, payload in enumerate(refused):
            with _unvalidated(Path(folder), f"refused-{n}.db", [payload]) as store:
                # The kernel's policy (since "one seam between the pipeline and the
                # database"): an event whose payload does not match its model is skipped
                # and counted, not a reason to mark the projection failing.
                assert _status_and_skips(store) == ("ok", 1), payload
                assert store.reader.fetchall("SELECT * FROM metrics") == [], payload
