"""The features projection against the kit's contract: rebuild, redelivery, unknown
types, table ownership, atomicity and handler errors, on histories that plan features,
phases and components and move the components along, so that the cascade reactor
appends phase_/feature_ completions among them.

Every event of a history is valid on its own (the projection ignores events naming ids
it does not know), but the strategy follows what the command helpers append: a
component's events go to its feature's stream, a phase belongs to the feature it was
first created in, and most events name ids created earlier, so the cascade fires often.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from hypothesis import strategies as st

import evstore_features as ef
from evstore import NewEvent
from evstore.testing import ProjectionContract
from evstore.testing import strategies as evst

FEATURES = ("F0", "F1")
PHASES = ("P0", "P1", "P2")
COMPONENTS = tuple(f"C{i}" for i in range(6))

# Besides each planned component's own course, events that reopen, correct or override
# what the cascade decided, or name components never planned.
OTHER_WORK = (
    "component_completed", "component_failed", "component_started", "component_status_changed",
    "component_dependencies_set", "component_created", "phase_created", "feature_created",
    "phase_status_changed", "feature_status_changed", "phase_completed", "phase_failed",
    "feature_completed", "feature_failed",
)

texts = evst.texts(max_size=5)
outputs = st.none() | st.dictionaries(evst.texts(max_size=3), st.integers() | evst.texts(max_size=3), max_size=2)
interfaces = st.lists(
    st.fixed_dictionaries(
        {"name": texts, "type": st.sampled_from(["http", "python"]), "definition": texts},
        optional={"locked": st.booleans()},
    ),
    max_size=2,
)


@st.composite
def feature_histories(draw: st.DrawFn, max_other_work: int = 10) -> list[NewEvent]:
    """A plan (features, their phases, the phases' components, in that order), then
    each component's course (maybe started, then mostly completed, sometimes failed or
    left open) interleaved with other work. Ids come from small pools, so the other
    work also names ids never created, and creates known ids again (corrections, late
    components that reopen an ended phase)."""
    phase_feature: dict[str, str] = {}  # the feature a phase was first created in
    component_feature: dict[str, str] = {}  # the feature of a component's first creation
    events: list[NewEvent] = []

    def add(event_type: str, workflow_id: str, payload: dict[str, Any], component_id: str | None = None,
            status: str | None = None) -> None:
        events.append(NewEvent(
            workflow_id=workflow_id, event_type=event_type, component_id=component_id, status=status,
            payload=payload, event_id=draw(st.uuids()), timestamp=draw(evst.timestamps()),
        ))

    def feature_created(feature_id: str) -> None:
        add("feature_created", feature_id, {"id": feature_id, "title": draw(texts), "description": draw(texts)})

    def phase_created(phase_id: str, feature_id: str) -> None:
        owner = phase_feature.setdefault(phase_id, feature_id)
        add("phase_created", owner, {
            "id": phase_id, "feature_id": owner, "title": draw(texts),
            "sequence": draw(st.integers(min_value=0, max_value=3)), "interfaces": draw(interfaces),
        })

    def component_created(component_id: str, phase_id: str) -> None:
        owner = component_feature.setdefault(component_id, phase_feature.get(phase_id, FEATURES[0]))
        add("component_created", owner, {
            "phase_id": phase_id, "feature_id": owner, "title": draw(texts),
            "files": draw(st.lists(texts, max_size=2)),
            "depends_on": draw(st.lists(st.sampled_from(COMPONENTS), max_size=2, unique=True)),
            "assigned_role": draw(st.none() | st.sampled_from(["implementer", "tester"])),
        }, component_id)

    features = draw(st.lists(st.sampled_from(FEATURES), min_size=1, max_size=2, unique=True))
    phases = draw(st.lists(st.sampled_from(PHASES), min_size=1, max_size=3, unique=True))
    components = draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=5, unique=True))
    for feature_id in features:
        feature_created(feature_id)
    for phase_id in phases:
        phase_created(phase_id, draw(st.sampled_from(features)))
    for component_id in components:
        component_created(component_id, draw(st.sampled_from(phases)))

    courses: list[list[tuple[str, str | None]]] = []
    for component_id in components:
        course: list[tuple[str, str | None]] = []
        if draw(st.booleans()):
            course.append(("component_started", component_id))
        ending = draw(st.sampled_from(["component_completed"] * 3 + ["component_failed", "open"]))
        if ending != "open":
            course.append((ending, component_id))
        courses.append(course)
    courses.append([(kind, None) for kind in draw(st.lists(st.sampled_from(OTHER_WORK), max_size=max_other_work))])
    courses = [course for course in courses if course]
    work: list[tuple[str, str | None]] = []
    while courses:  # interleaved, each course in its order
        index = draw(st.integers(min_value=0, max_value=len(courses) - 1))
        work.append(courses[index].pop(0))
        if not courses[index]:
            courses.pop(index)

    for kind, planned_component in work:
        feature_id = draw(st.sampled_from(FEATURES))
        phase_id = draw(st.sampled_from(PHASES))
        component_id = planned_component or draw(st.sampled_from(COMPONENTS))
        if kind == "feature_created":
            feature_created(feature_id)
        elif kind == "phase_created":
            phase_created(phase_id, feature_id)
        elif kind == "component_created":
            component_created(component_id, phase_id)
        elif kind.startswith("component_"):
            owner = component_feature.get(component_id, feature_id)
            payload: dict[str, Any] = {}
            status: str | None = None
            if kind == "component_started":
                status = "implementing"
            elif kind == "component_completed":
                payload, status = {"output": draw(outputs)}, "completed"
            elif kind == "component_failed":
                payload, status = {"error": draw(st.none() | texts)}, "failed"
            elif kind == "component_status_changed":
                status = draw(st.sampled_from(list(ef.ComponentStatus))).value
                payload = {"status": status, "output": draw(outputs), "error": draw(st.none() | texts)}
            else:
                payload = {"depends_on": draw(st.lists(st.sampled_from(COMPONENTS), max_size=3, unique=True))}
            add(kind, owner, payload, component_id, status)
        elif kind == "phase_status_changed":
            status = draw(st.sampled_from(list(ef.PhaseStatus))).value
            add(kind, phase_feature.get(phase_id, feature_id), {"phase_id": phase_id, "status": status},
                status=status)
        elif kind == "feature_status_changed":
            status = draw(st.sampled_from(list(ef.FeatureStatus))).value
            add(kind, feature_id, {"feature_id": feature_id, "status": status}, status=status)
        elif kind.startswith("phase_"):  # completed or failed by hand rather than by the cascade
            add(kind, phase_feature.get(phase_id, feature_id), {"phase_id": phase_id})
        else:
            add(kind, feature_id, {"feature_id": feature_id})
    return _unique_ids(events)


def _unique_ids(events: list[NewEvent]) -> list[NewEvent]:
    """hypothesis repeats drawn values on purpose; a repeated event id would make the
    second event a retry of the first. Replace repeats deterministically."""
    seen: set[str] = set()
    unique: list[NewEvent] = []
    for index, event in enumerate(events):
        if str(event.event_id) in seen:
            event = dataclasses.replace(event, event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"features:{index}")))
        seen.add(str(event.event_id))
        unique.append(event)
    return unique


class TestFeaturesContract(ProjectionContract):
    plugins = (ef,)
    projection_name = "features"
    events = feature_histories()


class TestFeaturesContractInSmallBatches(TestFeaturesContract):
    """The replaying checks again, with replays three events at a time: the contract's
    histories fit in one batch of the usual size, and the batch handler must also find
    the rows earlier batches wrote (a component created in one batch, started in the
    next, its phase reopened in a third)."""

    replay_batch_size = 3
    replay_checks_only = True
