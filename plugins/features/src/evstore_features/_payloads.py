"""Reading stored payloads in handlers, without validating them a second time.

The kernel validated every payload against its model on append, so a handler can read
the payload as stored, with ``.get(key, default)`` for the model's defaults: validating
it again cost more than the handler's SQL. Payloads are stored as given, though, and a
log written while this plugin was not loaded, by a permissive store (the supervisor
facade's) or by raw SQL holds payloads nobody validated. So each model has a quick check
of its types here: a payload passing it is one the model accepts and leaves unchanged;
any other payload goes through the model, which gives the values it would have given,
or, if it refuses the payload, the payload without the keys it refused: the handler
then projects what it can (a feature without a title still gets its row) and treats a
required key that is missing as unknown. Keep each check in step with its model in
``_events``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pydantic
from pydantic import BaseModel

from evstore import RecordedEvent, encode_json

from . import _events as ev
from ._models import ComponentStatus, FeatureStatus, PhaseStatus

Check = Callable[[Mapping[str, Any]], bool]


def payload_of(event: RecordedEvent, model: type[BaseModel]) -> Mapping[str, Any]:
    """``event.payload`` as ``model`` would give it, to read with ``.get(key, default)``;
    for a payload the model refuses, the payload without the keys it refused (so a
    required key may be missing)."""
    payload = event.payload
    if _CHECKS[model](payload):
        return payload
    usable = dict(payload)
    while True:
        try:
            return model.model_validate(usable).model_dump(mode="json")
        except pydantic.ValidationError as error:
            places = [problem["loc"] for problem in error.errors()]
            if any(not place for place in places):
                # The model refused the payload as a whole (phase_created naming two
                # different ids, say): no value of it can be trusted.
                return {}
            refused = {place[0] for place in places} & usable.keys()
            if not refused:  # only required keys missing: the rest is valid
                return usable
            usable = {key: value for key, value in usable.items() if key not in refused}


def component_id_of(event: RecordedEvent) -> str | None:
    """The envelope's ``component_id``, else the payload's ``id``, where the original's
    ``component_created`` put it."""
    if event.component_id is not None:
        return event.component_id
    payload_id = event.payload.get("id") if event.event_type == ev.COMPONENT_CREATED else None
    return payload_id if type(payload_id) is str and payload_id.strip() else None


def interfaces_json(interfaces: list[dict[str, Any]]) -> str:
    """As the ``Interface`` model dumps them: its fields in its order, ``locked`` filled in."""
    return encode_json([
        {"name": i["name"], "type": i["type"], "definition": i["definition"],
         "locked": i.get("locked", False)}
        for i in interfaces
    ])


def _is_id(value: Any) -> bool:
    """A ``NonEmptyId``. Python's whitespace includes every character the model's
    pattern treats as one, so what this accepts, the model accepts."""
    return type(value) is str and value != "" and not value.isspace()


def _is_optional_id(value: Any) -> bool:
    return value is None or _is_id(value)


def _is_optional_text(value: Any) -> bool:
    return value is None or type(value) is str


def _is_texts(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _is_output(value: Any) -> bool:
    return value is None or type(value) is dict


def _is_status(value: Any, statuses: frozenset[str]) -> bool:
    return type(value) is str and value in statuses


_FEATURE_STATUSES = frozenset(FeatureStatus)
_PHASE_STATUSES = frozenset(PhaseStatus)
_COMPONENT_STATUSES = frozenset(ComponentStatus)


def _is_interface(value: Any) -> bool:
    return (
        type(value) is dict
        and type(value.get("name")) is str
        and type(value.get("type")) is str
        and type(value.get("definition")) is str
        and type(value.get("locked", False)) is bool
    )


def _feature_created(p: Mapping[str, Any]) -> bool:
    return (type(p.get("title")) is str and type(p.get("description", "")) is str
            and _is_optional_id(p.get("id")))


def _feature_targeted(p: Mapping[str, Any]) -> bool:
    return _is_optional_id(p.get("feature_id"))


def _feature_status_changed(p: Mapping[str, Any]) -> bool:
    return _feature_targeted(p) and _is_status(p.get("status"), _FEATURE_STATUSES)


def _phase_created(p: Mapping[str, Any]) -> bool:
    interfaces = p.get("interfaces", [])
    return (
        "phase_id" not in p  # the alias of ``id``: the model sorts it out
        and _is_id(p.get("id"))
        and _is_optional_id(p.get("feature_id"))
        and type(p.get("title")) is str
        and type(p.get("sequence")) is int
        and type(interfaces) is list
        and all(_is_interface(i) for i in interfaces)
    )


def _phase_targeted(p: Mapping[str, Any]) -> bool:
    return _is_id(p.get("phase_id"))


def _phase_status_changed(p: Mapping[str, Any]) -> bool:
    return _phase_targeted(p) and _is_status(p.get("status"), _PHASE_STATUSES)


def _component_created(p: Mapping[str, Any]) -> bool:
    return (
        _is_id(p.get("phase_id"))
        and _is_optional_id(p.get("feature_id"))
        and type(p.get("title")) is str
        and type(p.get("description", "")) is str
        and _is_texts(p.get("files", []))
        and _is_texts(p.get("depends_on", []))
        and _is_optional_text(p.get("assigned_role"))
    )


def _component_completed(p: Mapping[str, Any]) -> bool:
    return _is_output(p.get("output", {}))


def _component_failed(p: Mapping[str, Any]) -> bool:
    return _is_optional_text(p.get("error"))


def _component_status_changed(p: Mapping[str, Any]) -> bool:
    return (_is_status(p.get("status"), _COMPONENT_STATUSES) and _is_output(p.get("output"))
            and _is_optional_text(p.get("error")))


def _component_dependencies_set(p: Mapping[str, Any]) -> bool:
    return _is_texts(p.get("depends_on"))


_CHECKS: dict[type[BaseModel], Check] = {
    ev.FeatureCreated: _feature_created,
    ev.FeatureTargeted: _feature_targeted,
    ev.FeatureStatusChanged: _feature_status_changed,
    ev.PhaseCreated: _phase_created,
    ev.PhaseTargeted: _phase_targeted,
    ev.PhaseStatusChanged: _phase_status_changed,
    ev.ComponentCreated: _component_created,
    ev.ComponentCompleted: _component_completed,
    ev.ComponentFailed: _component_failed,
    ev.ComponentStatusChanged: _component_status_changed,
    ev.ComponentDependenciesSet: _component_dependencies_set,
}
