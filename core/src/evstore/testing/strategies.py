"""hypothesis strategies for event envelopes, payloads and histories of any plugin.

``event_envelopes`` builds single events of any type, ``event_lists`` lists of them with
distinct ids, and ``interleavings`` merges streams drawn by a plugin's own strategies
into one log the way concurrent writers would reach it. What a plugin's events carry
belongs to the plugin: strategies for one domain's events live with the plugin that
declares them, built from these.

Every event carries an explicit ``event_id`` and ``timestamp`` drawn by hypothesis, so a
failing example replays exactly. Importing this module imports hypothesis (a test-time
dependency); ``import evstore.testing`` alone does not.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import strategies as st

from .._envelope import NewEvent

T = TypeVar("T")

ZONES = (UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30)))

__all__ = [
    "event_envelopes",
    "event_lists",
    "identifiers",
    "interleavings",
    "json_objects",
    "json_values",
    "texts",
    "timestamps",
    "with_distinct_event_ids",
]


def _strategy(value: st.SearchStrategy[T] | Sequence[T] | None) -> st.SearchStrategy[T | None]:
    """A strategy as given, a fixed choice among a sequence's items, or always None."""
    if value is None:
        return st.none()
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, str):
        return st.just(value)  # type: ignore[arg-type]  # a str is a sequence, but meant as one value
    return st.sampled_from(list(value))


def identifiers(*, min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[str]:
    """Short ids: letters, digits, ``-``, ``_``, ``.``, ``:`` and ``/``."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/"
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def texts(*, min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Any text a payload may hold: every Unicode character except NUL (which the store
    refuses, as PostgreSQL cannot keep it) and lone surrogates (not valid Unicode). Use it
    where you would write ``st.text()`` in a payload strategy."""
    alphabet = st.characters(codec="utf-8", exclude_characters="\x00")  # utf-8: no lone surrogates
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def timestamps(
    *, min_value: datetime = datetime(2000, 1, 1), max_value: datetime = datetime(2100, 1, 1)
) -> st.SearchStrategy[datetime]:
    """Aware datetimes in UTC and two other offsets (the store converts them to UTC)."""
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=st.sampled_from(ZONES))


def json_values(*, max_leaves: int = 6) -> st.SearchStrategy[Any]:
    """Anything a payload may hold: None, booleans, integers, finite floats, text, and
    lists and string-keyed dicts of those."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(max_size=8),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts(max_size=6), inner, max_size=3),
        max_leaves=max_leaves,
    )


def json_objects(*, max_size: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Payload-shaped dicts with JSON values."""
    return st.dictionaries(texts(max_size=6), json_values(), max_size=max_size)


def event_envelopes(
    event_types: st.SearchStrategy[str] | Sequence[str],
    *,
    workflow_ids: st.SearchStrategy[str] | Sequence[str] = ("wf-1", "wf-2", "wf-3"),
    roles: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    step_ids: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    component_ids: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    statuses: st.SearchStrategy[str | None] | Sequence[str | None] | None = None,
    payloads: st.SearchStrategy[dict[str, Any]] | None = None,
    metadata: st.SearchStrategy[dict[str, Any]] | None = None,
) -> st.SearchStrategy[NewEvent]:
    """Single events. Each field is a strategy, a sequence to choose from, or ``None``
    (the field stays unset). Small pools of ids (the defaults) make events of one
    history meet on the same workflows and steps, which is where projections go wrong.
    """
    return st.builds(
        NewEvent,
        workflow_id=_strategy(workflow_ids),
        event_type=_strategy(event_types),
        role=_strategy(roles),
        step_id=_strategy(step_ids),
        component_id=_strategy(component_ids),
        status=_strategy(statuses),
        payload=payloads if payloads is not None else st.just({}),
        metadata=metadata if metadata is not None else st.just({}),
        event_id=st.uuids(),
        timestamp=timestamps(),
    )


def event_lists(
    envelopes: st.SearchStrategy[NewEvent], *, min_size: int = 0, max_size: int = 20
) -> st.SearchStrategy[list[NewEvent]]:
    """Lists of events with distinct event ids (a repeated id would be a retry)."""
    return st.lists(envelopes, min_size=min_size, max_size=max_size, unique_by=lambda e: str(e.event_id))


@st.composite
def interleavings(draw: st.DrawFn, streams: Sequence[Sequence[NewEvent]]) -> list[NewEvent]:
    """One log merging the given streams (each a workflow's events, say) the way
    concurrent writers would reach it: every stream keeps its own order, and which stream
    goes next is drawn. The result has distinct event ids (see ``with_distinct_event_ids``).
    Draw the streams first (inside an ``st.composite``), then ``draw(interleavings(streams))``.
    """
    pending = [list(stream) for stream in streams if stream]
    merged: list[NewEvent] = []
    while pending:
        index = draw(st.integers(min_value=0, max_value=len(pending) - 1))
        merged.append(pending[index].pop(0))
        if not pending[index]:
            pending.pop(index)
    return with_distinct_event_ids(merged)


def with_distinct_event_ids(events: Sequence[NewEvent]) -> list[NewEvent]:
    """The events, with every repeated ``event_id`` replaced by a new one derived from it.

    hypothesis draws duplicate values on purpose, so ids drawn one by one may repeat; two
    events of one history with the same id would be a retried append (stored once), not
    two events. The replacement is deterministic, so a failing example still replays."""
    seen: set[str] = set()
    result: list[NewEvent] = []
    for event in events:
        key = str(event.event_id)
        if key in seen:
            key = str(uuid.uuid5(uuid.NAMESPACE_OID, f"evstore.testing:{key}:{len(result)}"))
            event = dataclasses.replace(event, event_id=key)
        seen.add(key)
        result.append(event)
    return result
