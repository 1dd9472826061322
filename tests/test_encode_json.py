"""``evstore.encode_json``: the one JSON encoder of the store and of its projections.

Plugins store JSON columns with it, so a column holds exactly the text the log holds
for the same value (raw SQL compares them), on both backends. Its depth limit must
count brackets outside strings only: a payload is refused for its nesting, never for
what its strings say.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import StoreFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evstore import (
    MAX_PAYLOAD_DEPTH,
    EventStore,
    EventType,
    Migration,
    NewEvent,
    PayloadSerializationError,
    Projection,
    RecordedEvent,
    ScopedConnection,
    decode_json,
    encode_json,
    hookimpl,
)
from evstore.testing import strategies as evst


class ColumnPlugin:
    """Stores each ``noted`` payload in a JSON column, encoded by ``encode_json``."""

    evstore_plugin_name = "column"

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        register(EventType("noted"))

    @hookimpl
    def evstore_register_projections(self, register: Any) -> None:
        projection = Projection(
            "column", tables=["noted_json"],
            migrations=[Migration("0001", "CREATE TABLE noted_json (position INTEGER PRIMARY KEY, body TEXT)")],
        )

        @projection.on("noted")
        def noted(db: ScopedConnection, event: RecordedEvent) -> None:
            db.execute("INSERT INTO noted_json VALUES (?, ?)", (event.id, encode_json(event.payload)))

        register(projection)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(evst.json_objects(max_size=4), min_size=1, max_size=4))
def test_a_column_holds_the_text_the_log_holds_for_the_same_value(
    open_store: StoreFactory, payloads: list[dict[str, Any]]
) -> None:
    store: EventStore = open_store(ColumnPlugin())
    start = store.head()
    store.append_many([NewEvent(workflow_id="wf", event_type="noted", payload=p) for p in payloads])
    rows = store.reader.fetchall(
        "SELECT e.payload, n.body FROM events e JOIN noted_json n ON n.position = e.id WHERE e.id > ? ORDER BY e.id",
        (start,),
    )
    assert [body for _, body in rows] == [payload for payload, _ in rows]
    assert [decode_json(body) for _, body in rows] == payloads


# Strings that would mislead a depth count which did not know where strings end.
_TRICKY = st.text(alphabet='[]{}"\\ab', max_size=6)


def _nest(leaf: Any, kinds: list[bool], keys: list[str]) -> Any:
    value = leaf
    for as_dict, key in zip(kinds, keys, strict=True):
        value = {key: value} if as_dict else [key, value]
    return value


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(MAX_PAYLOAD_DEPTH - 3, MAX_PAYLOAD_DEPTH + 3),
    data=st.data(),
)
def test_depth_is_the_nesting_outside_strings(depth: int, data: st.DataObject) -> None:
    kinds = data.draw(st.lists(st.booleans(), min_size=depth, max_size=depth))
    keys = data.draw(st.lists(_TRICKY, min_size=depth, max_size=depth))
    value = _nest(data.draw(_TRICKY), kinds, keys)
    if depth <= MAX_PAYLOAD_DEPTH:
        assert decode_json(encode_json(value)) == value
    else:
        with pytest.raises(PayloadSerializationError, match=str(MAX_PAYLOAD_DEPTH)):
            encode_json(value)


def test_many_brackets_side_by_side_are_not_depth() -> None:
    wide = {f"k{i}": [{"x": "]]]{{{"}] for i in range(MAX_PAYLOAD_DEPTH * 3)}
    assert decode_json(encode_json(wide)) == wide
