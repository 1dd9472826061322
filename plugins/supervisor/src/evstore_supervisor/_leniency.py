"""Which events the facade stores as given, and the checks it keeps for the rest.

The original's ``append_event`` always stored the event: the log was its source of
truth, and a projection that could not use an event was the projection's problem. So
the facade opens its store ``permissive`` (the kernel's own option: required envelope
fields and payload models are not enforced on append) and stores every event of a type
the original had (``ORIGINAL_TYPE_NAMES``) exactly as given. The projections then
project what they can from an incomplete event, and the kernel skips (and counts) an
event a handler still cannot use, without marking the projection failing.

The leniency is the facade's, not the kernel's: an ``EventStore`` opened by other code
on the same file is strict as ever, and through the facade the types the original never
had (``step_status_changed``, ``metric_recorded``, the graph's ...) are still checked
here, as a strict store checks them, before anything is written. A type no loaded
plugin declares is refused as a strict store refuses it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import pydantic

from evstore import (
    EventType,
    InvalidEventError,
    NewEvent,
    PayloadValidationError,
    UnknownEventTypeError,
)

from ._events import ORIGINAL_TYPE_NAMES

Declared = Mapping[str, tuple[EventType, object]]


def check_new_type(event: NewEvent, declared: Declared) -> None:
    """Raise as a strict store would for ``event`` when its type is not one of the
    original's; events of the original's types pass unchecked."""
    name = event.event_type
    if name in ORIGINAL_TYPE_NAMES:
        return
    entry = declared.get(name)
    if entry is None:
        raise UnknownEventTypeError(name, difflib.get_close_matches(name, list(declared), n=3))
    event_type = entry[0]
    for field in event_type.requires:
        value = getattr(event, field)
        if not isinstance(value, str) or not value.strip():
            raise InvalidEventError(
                f"event type {name!r} requires {field}, but the event has {field}={value!r}; "
                "set it on the Event."
            )
    if event_type.payload is not None:
        try:
            event_type.payload.model_validate(event.payload)
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}" for e in error.errors()
            )
            raise PayloadValidationError(
                f"payload of {name!r} does not match {event_type.payload.__name__}: {problems}"
            ) from None
