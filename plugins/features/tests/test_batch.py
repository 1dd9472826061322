"""The batch handler replays use: the rows it writes are those of the per-event handlers
(the contract checks that on random histories, test_contract.py); here, the values it
does not vouch for, which it leaves to the per-event handlers."""

from __future__ import annotations

from typing import Any

import pytest

from evstore import EventStore, NewEvent, ProjectionError, RecordedEvent, in_list
from evstore_features._batch import _Unusual, apply_batch


def append(store: EventStore, event_type: str, *, component_id: str | None = None, **payload: Any) -> int:
    return store.append(NewEvent(workflow_id="F", event_type=event_type, component_id=component_id, payload=payload))


def projection_status(store: EventStore) -> str:
    return next(status.status for status in store.projection_status() if status.name == "features")


@pytest.mark.parametrize(
    ("event_type", "payload_json"),
    [
        # As raw SQL may have stored them: the kernel refuses NUL in what it appends.
        ("feature_created", '{"title": "nul \\u0000 inside"}'),
        ("component_failed", '{"error": "nul \\u0000 inside"}'),
        ("phase_created", f'{{"id": "P1", "title": "Backend", "sequence": {2**63}}}'),
    ],
)
def test_a_value_not_every_backend_stores_is_left_to_the_per_event_handlers(event_type: str, payload_json: str) -> None:
    event = RecordedEvent(
        (1, "F", event_type, None, None, "C1", None, payload_json, "2025-01-01T00:00:00.000000+00:00", 1, "e-1", "{}")
    )
    with pytest.raises(_Unusual):
        apply_batch(_NoReads(), [event])  # type: ignore[arg-type]


class _NoReads:
    """Stands in for the scoped connection: these batches fail before writing, and
    their reads find nothing."""

    def fetchall(self, sql: str, parameters: Any = ()) -> list[Any]:
        return []

    def executemany(self, sql: str, rows: Any) -> None:
        raise AssertionError("the batch wrote rows")


def test_a_refused_value_corrected_in_the_same_batch_still_decides_the_rebuild(evstore_store: EventStore) -> None:
    """The batch writes a row's last state only. A sequence no INTEGER column holds,
    which the next event corrects, must still fail the rebuild, as it failed the
    append, rather than vanish with the intermediate state."""
    append(evstore_store, "feature_created", title="Login")
    append(evstore_store, "phase_created", id="P1", title="Backend", sequence=2**63)
    assert projection_status(evstore_store) == "failing"
    append(evstore_store, "phase_created", id="P1", title="Backend", sequence=1)
    with pytest.raises(ProjectionError, match="failed on event 2"):
        evstore_store.rebuild(["features"])


def test_reads_use_a_few_statement_texts_whatever_the_number_of_ids() -> None:
    """The kernel keeps every distinct statement text it was given (checked, and on
    PostgreSQL parsed by the server): IN lists come in powers of two, padded."""
    sizes = {in_list([f"id-{i}" for i in range(count)])[0].count("?") for count in range(1, 513)}
    assert sizes == {8, 16, 32, 64, 128, 256, 512}
    marks, parameters = in_list(["a", "b", "c"])
    assert (marks, parameters) == ("(?, ?, ?, ?, ?, ?, ?, ?)", ["a", "b", "c", "c", "c", "c", "c", "c"])
