"""Events stored while this plugin was not loaded were never validated, and payloads are
stored as given. The projection still reads each one as its payload model reads it: the
model's defaults for keys left out, its values for the rest. A payload the model refuses
still gives its checkpoint from the values of the model's types (a missing or odd
``git_sha`` is NULL, an odd ``status`` is ``active``), and a restore without a usable
``checkpoint_id`` changes nothing: the projection stays ``ok``, skips nothing, and
replaying the log gives what appending it live to a permissive store gave."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic

import evstore_checkpoints
from evstore import EventStore, NewEvent
from evstore_checkpoints import CHECKPOINT_CREATED, CHECKPOINT_RESTORED
from evstore_checkpoints._events import CheckpointCreated, CheckpointRestored

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
MODELS: dict[str, type[pydantic.BaseModel]] = {
    CHECKPOINT_CREATED: CheckpointCreated, CHECKPOINT_RESTORED: CheckpointRestored,
}
VALID = {
    CHECKPOINT_CREATED: {"git_sha": "abc123", "context": {"step": "plan", "n": [1, 2]}, "status": "active"},
    CHECKPOINT_RESTORED: {"checkpoint_id": 1},
}
# Values the models refuse or read differently for some field.
NEAR_MISSES: list[Any] = [None, True, False, 0, 1, 2, -1, 1.0, "", " ", "x", "1", [], {}, {"k": 1}]


def _variants() -> list[tuple[str, dict[str, Any]]]:
    """Each valid payload, without each key in turn, and with each key a near miss;
    creations first, so the restores name checkpoints that exist."""
    variants = []
    for event_type, valid in VALID.items():
        variants.append((event_type, valid))
        for key in valid:
            variants.append((event_type, {k: v for k, v in valid.items() if k != key}))
            variants += [(event_type, {**valid, key: value}) for value in NEAR_MISSES]
    return variants


def _reading(event_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return MODELS[event_type].model_validate(payload).model_dump()
    except pydantic.ValidationError:
        return None


def _events(variants: list[tuple[str, dict[str, Any]]]) -> list[NewEvent]:
    return [
        NewEvent(workflow_id="wf-1", event_type=event_type, step_id="s1", payload=payload,
                 timestamp=T0 + timedelta(seconds=n))
        for n, (event_type, payload) in enumerate(variants)
    ]


def _unvalidated(path: Path, variants: list[tuple[str, dict[str, Any]]]) -> EventStore:
    """A store holding these events as stored with the plugin not loaded, then opened with it."""
    with EventStore.open(path, plugins=[], autoload=False, permissive=True) as bare:
        bare.append_many(_events(variants))
    return EventStore.open(path, plugins=[evstore_checkpoints], autoload=False)


def _status(store: EventStore) -> str:
    return next(s.status for s in store.projection_status() if s.name == "checkpoints")


def _status_and_skips(store: EventStore) -> tuple[str, int]:
    return next((s.status, s.skipped) for s in store.projection_status() if s.name == "checkpoints")


def test_every_near_miss_is_read_as_the_model_reads_it() -> None:
    accepted = [(t, p) for t, p in _variants() if _reading(t, p) is not None]
    refused = [(t, p) for t, p in _variants() if _reading(t, p) is None]
    assert len(accepted) > 5 and len(refused) > 30
    with tempfile.TemporaryDirectory() as folder:
        readings = [(t, _reading(t, p) or {}) for t, p in accepted]
        with _unvalidated(Path(folder) / "accepted.db", accepted) as store, \
                EventStore.open(Path(folder) / "checked.db", plugins=[evstore_checkpoints],
                                autoload=False) as checked:
            assert _status(store) == "ok"
            checked.append_many(_events(readings))
            query = "SELECT * FROM checkpoints ORDER BY id"
            assert store.reader.fetchall(query) == checked.reader.fetchall(query)
        for n, variant in enumerate(refused):
            with _unvalidated(Path(folder) / f"refused-{n}.db", [variant]) as store, \
                    EventStore.open(Path(folder) / f"live-{n}.db", plugins=[evstore_checkpoints],
                                    autoload=False, permissive=True) as live:
                assert _status_and_skips(store) == ("ok", 0), variant
                live.append_many(_events([variant]))
                rows = store.reader.fetchall("SELECT * FROM checkpoints")
                assert rows == live.reader.fetchall("SELECT * FROM checkpoints"), variant
                event_type, payload = variant
                if event_type == CHECKPOINT_RESTORED:
                    assert rows == [], variant
                    continue
                [(_, _, _step_id, git_sha, context, status, _)] = rows
                sha = payload.get("git_sha")
                assert git_sha == (sha if isinstance(sha, str) and sha else None), variant
                assert json.loads(context) == payload.get("context", {}), variant
                assert status in (payload.get("status"), "active"), variant
