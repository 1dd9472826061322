"""The checkpoints projection on random valid histories: the kit's contract (rebuild,
redelivery, unknown types, table ownership, atomicity, handler errors), and a property
of its own: rebuilding gives byte-for-byte the rows the live appends produced, and the
latest checkpoint of each workflow is its highest-positioned one.

Both draw the same operations, so they live in one module (under
``--import-mode=importlib`` test modules cannot import each other).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_checkpoints
from evstore import EventStore, NewEvent
from evstore.testing import ProjectionContract
from evstore.testing import strategies as evst
from evstore_checkpoints import (
    CHECKPOINT_CREATED,
    CHECKPOINT_RESTORED,
    get_latest_checkpoint,
    restore_checkpoint,
)

WORKFLOWS = ("wf-a", "wf-b", "wf-c")
BASE = datetime(2024, 1, 1, tzinfo=UTC)
# Few distinct timestamps, so ties (and out-of-order times) are common; None means
# "the moment of the append".
timestamps = st.one_of(st.none(), st.integers(0, 3).map(lambda s: BASE + timedelta(seconds=s)))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | evst.texts(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(evst.texts(max_size=5), inner, max_size=3),
    max_leaves=8,
)
create_ops = st.tuples(
    st.just("create"),
    st.sampled_from(WORKFLOWS),
    st.sampled_from(("s1", "s2", "step with spaces")),
    evst.texts(min_size=1, max_size=10),
    st.dictionaries(evst.texts(max_size=6), json_values, max_size=4),
    st.sampled_from(("active", "pending", "manual")),
    timestamps,
)
# A restore names a checkpoint by how many creations back it was; the raw form may name
# any position, known or not (the handler must ignore unknown ids deterministically).
restore_ops = st.tuples(st.just("restore"), st.integers(0, 20))
raw_restore_ops = st.tuples(st.just("raw_restore"), st.sampled_from(WORKFLOWS), st.integers(1, 60))
operations = st.lists(st.one_of(create_ops, create_ops, restore_ops, raw_restore_ops), max_size=40)


@st.composite
def checkpoint_histories(draw: st.DrawFn) -> list[NewEvent]:
    """``operations`` as the events they append into an empty store, where the event at
    index i gets position i + 1: a restore names an earlier creation by that position
    (to the checkpoint's workflow and step, as ``restore_checkpoint`` does), a raw
    restore any position at all."""
    drawn = draw(operations)
    event_ids = iter(draw(st.lists(st.uuids(), min_size=len(drawn), max_size=len(drawn), unique=True)))
    events: list[NewEvent] = []
    creations: list[int] = []  # indexes into events
    for op in drawn:
        if op[0] == "create":
            _, workflow_id, step_id, git_sha, context, status, timestamp = op
            creations.append(len(events))
            events.append(NewEvent(
                workflow_id=workflow_id, event_type=CHECKPOINT_CREATED, step_id=step_id,
                payload={"git_sha": git_sha, "context": context, "status": status}, timestamp=timestamp,
                event_id=next(event_ids),
            ))
        elif op[0] == "restore":
            if creations:
                index = creations[-1 - op[1] % len(creations)]
                target = events[index]
                events.append(NewEvent(
                    workflow_id=target.workflow_id, event_type=CHECKPOINT_RESTORED, step_id=target.step_id,
                    payload={"checkpoint_id": index + 1}, event_id=next(event_ids),
                ))
        else:
            events.append(NewEvent(
                workflow_id=op[1], event_type=CHECKPOINT_RESTORED, payload={"checkpoint_id": op[2]},
                event_id=next(event_ids),
            ))
    return events


class TestCheckpointsContract(ProjectionContract):
    plugins = (evstore_checkpoints,)
    projection_name = "checkpoints"
    events = checkpoint_histories()


def snapshot(store: EventStore) -> list[tuple[Any, ...]]:
    return store.reader.fetchall("SELECT * FROM checkpoints ORDER BY id")


def apply(store: EventStore, operations: list[tuple[Any, ...]], batch: list[NewEvent]) -> list[int]:
    created: list[int] = []

    def flush() -> None:
        if batch:
            positions = store.append_many(batch)
            created.extend(
                p for p, e in zip(positions, batch, strict=True) if e.event_type == CHECKPOINT_CREATED
            )
            batch.clear()

    for op in operations:
        if op[0] == "create":
            _, workflow_id, step_id, git_sha, context, status, timestamp = op
            batch.append(NewEvent(
                workflow_id=workflow_id, event_type=CHECKPOINT_CREATED, step_id=step_id,
                payload={"git_sha": git_sha, "context": context, "status": status}, timestamp=timestamp,
            ))
            if len(batch) >= 3:  # some events go alone, some in atomic batches
                flush()
        elif op[0] == "restore":
            flush()
            if created:
                restore_checkpoint(store, created[-1 - op[1] % len(created)])
        else:
            flush()
            store.append(NewEvent(
                workflow_id=op[1], event_type=CHECKPOINT_RESTORED, payload={"checkpoint_id": op[2]},
            ))
    flush()
    return created


@settings(max_examples=40, deadline=None)
@given(operations)
def test_rebuild_reproduces_the_incrementally_built_table(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder, EventStore.open(
        Path(folder) / "s.db", plugins=[evstore_checkpoints], autoload=False
    ) as store:
        created = apply(store, operations, [])
        live = snapshot(store)
        latest_live = {w: get_latest_checkpoint(store, w) for w in WORKFLOWS}

        store.rebuild()

        assert snapshot(store) == live
        assert {w: get_latest_checkpoint(store, w) for w in WORKFLOWS} == latest_live
        assert [row[0] for row in live] == created
        for workflow_id, latest in latest_live.items():
            mine = [row[0] for row in live if row[1] == workflow_id]
            assert (latest["id"] if latest else None) == (max(mine) if mine else None)
