"""Events stored while this plugin was not loaded were never validated, and payloads are
stored as given. The projection still reads each one as its payload model reads it: the
model's defaults for keys left out, its values for the rest. So the rows equal those of a
store that was given the model's reading of the payload. A payload the model refuses
is projected from the keys the model accepts (a feature without a title still gets its
row): the projection stays ``ok``, skips nothing, and replaying the log gives the rows
that appending it live to a permissive store gave."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_features as ef
from evstore import EventStore, NewEvent, RecordedEvent
from evstore.testing import snapshot_tables
from evstore_features import Interface
from evstore_features._payloads import payload_of

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

# A feature F with phases P (whose component C has started) and Q (completed, empty
# of unfinished work), so events can reopen, complete and correct known rows.
PRELUDE = [
    ("F", "feature_created", None, {"title": "Checkout", "description": "pay"}),
    ("F", "phase_created", None, {"id": "P", "title": "Backend", "sequence": 1}),
    ("F", "phase_created", None, {"id": "Q", "title": "Frontend", "sequence": 2}),
    ("F", "component_created", "C", {"phase_id": "P", "title": "API", "files": ["api.py"]}),
    ("F", "component_created", "D", {"phase_id": "Q", "title": "UI"}),
    ("F", "component_started", "C", {}),
    ("F", "component_completed", "D", {"output": {"ok": True}}),
    ("F", "phase_completed", None, {"phase_id": "Q"}),
]

# Per event type: its payload model, the component it names, and a valid payload whose
# keys the strategy below drops or replaces.
PROBES: dict[str, tuple[type[pydantic.BaseModel], str | None, dict[str, Any]]] = {
    "feature_created": (ef._events.FeatureCreated, None, {"title": "T", "description": "d", "id": "F"}),
    "feature_status_changed": (ef._events.FeatureStatusChanged, None, {"feature_id": "F", "status": "review"}),
    "feature_completed": (ef._events.FeatureTargeted, None, {"feature_id": "F"}),
    "feature_failed": (ef._events.FeatureTargeted, None, {"feature_id": "F"}),
    "phase_created": (ef._events.PhaseCreated, None, {
        "id": "P2", "feature_id": "F", "title": "t", "sequence": 3,
        "interfaces": [{"name": "n", "type": "http", "definition": "GET /", "locked": True}],
    }),
    "phase_status_changed": (ef._events.PhaseStatusChanged, None, {"phase_id": "Q", "status": "in_progress"}),
    "phase_completed": (ef._events.PhaseTargeted, None, {"phase_id": "P"}),
    "phase_failed": (ef._events.PhaseTargeted, None, {"phase_id": "P"}),
    "component_created": (ef._events.ComponentCreated, "E", {
        "phase_id": "Q", "feature_id": "F", "title": "t", "description": "d", "files": ["a.py"],
        "depends_on": ["C"], "assigned_role": "implementer",
    }),
    "component_completed": (ef._events.ComponentCompleted, "C", {"output": {"files": 2}}),
    "component_failed": (ef._events.ComponentFailed, "C", {"error": "boom"}),
    "component_status_changed": (ef._events.ComponentStatusChanged, "D", {
        "status": "testing", "output": {"k": 1}, "error": "e",
    }),
    "component_dependencies_set": (ef._events.ComponentDependenciesSet, "C", {"depends_on": ["D"]}),
}

# Values a model refuses or reads differently for some field: wrong types, empty or
# blank ids, bools where ints are wanted, unknown statuses, lists of the wrong items.
NEAR_MISSES: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, "", " ", "\u2003", "x", "review", [], ["a"], [1], {}, {"k": 1},
    [{"name": "n", "type": "http", "definition": "d", "locked": 0}],
    [{"name": "n", "type": "http", "definition": "d", "extra": 1}],
    [{"name": 1, "type": "http", "definition": "d"}],
]


@st.composite
def probes(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """An event type and its valid payload with some keys left out or given odd values."""
    event_type = draw(st.sampled_from(sorted(PROBES)))
    payload: dict[str, Any] = {}
    for key, value in PROBES[event_type][2].items():
        change = draw(st.sampled_from(["keep"] * 6 + ["drop", "junk"]))
        if change != "drop":
            payload[key] = value if change == "keep" else draw(st.sampled_from(NEAR_MISSES))
    if event_type == "phase_created" and draw(st.booleans()):
        payload["phase_id"] = draw(st.sampled_from(["P2", "Q"]))  # the alias of ``id``
    return event_type, payload


def _events(probe: tuple[str, dict[str, Any]]) -> list[NewEvent]:
    event_type, payload = probe
    steps = [*PRELUDE, ("F", event_type, PROBES[event_type][1], payload)]
    return [
        NewEvent(workflow_id=workflow_id, event_type=kind, component_id=component_id, payload=body,
                 timestamp=T0 + timedelta(seconds=n))
        for n, (workflow_id, kind, component_id, body) in enumerate(steps)
    ]


def _rows(store: EventStore) -> Any:
    return snapshot_tables(store, ef.TABLES)


def _check_reading(event_type: str, payload: dict[str, Any]) -> None:
    try:
        reading: dict[str, Any] | None = PROBES[event_type][0].model_validate(payload).model_dump(mode="json")
    except pydantic.ValidationError:
        reading = None
    with tempfile.TemporaryDirectory() as folder:
        with EventStore.open(Path(folder) / "bare.db", plugins=[], autoload=False, permissive=True) as bare:
            bare.append_many(_events((event_type, payload)))
        # The plugin applies the stored events on its first open (no reactor runs then).
        with EventStore.open(Path(folder) / "bare.db", plugins=[ef], autoload=False) as store:
            [status] = [s for s in store.projection_status() if s.name == ef.PROJECTION_NAME]
            # Projected from what it holds: never failing, never skipped.
            assert (status.status, status.skipped) == ("ok", 0)
            with EventStore.open(Path(folder) / "live.db", plugins=[ef], autoload=False,
                                 reactors=False, permissive=True) as live:
                live.append_many(_events((event_type, payload)))
                assert _rows(store) == _rows(live)
            if reading is None:
                return
            with EventStore.open(Path(folder) / "checked.db", plugins=[ef], autoload=False,
                                 reactors=False) as checked:
                checked.append_many(_events((event_type, reading)))
                assert _rows(store) == _rows(checked)


@pytest.mark.parametrize(
    ("event_type", "left_out"),
    [(event_type, key) for event_type in sorted(PROBES) for key in [None, *PROBES[event_type][2]]],
)
def test_a_key_left_out_reads_as_the_models_default(event_type: str, left_out: str | None) -> None:
    payload = {k: v for k, v in PROBES[event_type][2].items() if k != left_out}
    _check_reading(event_type, payload)


@settings(max_examples=40, deadline=None)
@given(probes())
def test_an_event_stored_without_validation_is_read_as_its_model_reads_it(
    probe: tuple[str, dict[str, Any]],
) -> None:
    _check_reading(*probe)


def _variants(event_type: str) -> list[dict[str, Any]]:
    """The valid payload, without each key in turn, and with each key a near miss."""
    base = PROBES[event_type][2]
    variants = [base]
    for key in base:
        variants.append({k: v for k, v in base.items() if k != key})
        variants += [{**base, key: value} for value in NEAR_MISSES]
    if event_type == "phase_created":
        without_id = {k: v for k, v in base.items() if k != "id"}
        variants += [{**base, "phase_id": "P2"}, {**base, "phase_id": "P3"}, {**without_id, "phase_id": "P2"}]
    return variants


def _recorded(event_type: str, payload: dict[str, Any]) -> RecordedEvent:
    return RecordedEvent((
        7, "F", event_type, None, None, PROBES[event_type][1], None, json.dumps(payload),
        T0.isoformat(timespec="microseconds"), 7, "0190d1b2-0000-7000-8000-000000000007", "{}",
    ))


def _comparable(name: str, value: Any) -> str:
    # JSON text tells True from 1 and 1 from 1.0, which == does not.
    if name == "interfaces":
        value = [Interface.model_validate(i).model_dump() for i in value]
    return json.dumps(value)


@pytest.mark.parametrize("event_type", sorted(PROBES))
def test_every_near_miss_is_read_as_the_model_reads_it(event_type: str) -> None:
    """The same property, value by value: handlers read stored payloads without the
    model when they look valid; what they read must be what the model gives, with its
    defaults. Of a payload the model refuses they read only values the model accepted,
    as given."""
    model = PROBES[event_type][0]
    for payload in _variants(event_type):
        try:
            expected = model.model_validate(payload).model_dump(mode="json")
        except pydantic.ValidationError as error:
            refused = {problem["loc"][0] for problem in error.errors() if problem["loc"]}
            salvaged = payload_of(_recorded(event_type, payload), model)
            for key, value in salvaged.items():
                given = payload.get("phase_id") if key == "id" and "phase_id" in payload else payload.get(key)
                if key in refused or given is None:
                    given = model.model_fields[key].get_default(call_default_factory=True)
                assert _comparable(key, value) == _comparable(key, given), (payload, key)
            continue
        read = payload_of(_recorded(event_type, payload), model)
        for name, field in model.model_fields.items():
            value = read.get(name, field.get_default(call_default_factory=True))
            assert _comparable(name, value) == _comparable(name, expected[name]), (payload, name)
