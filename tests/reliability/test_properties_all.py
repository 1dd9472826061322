"""Properties over random histories with every first-party projection loaded."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_workload import open_store, unit_events

from evstore import NewEvent

from reliability_checks import check_log, check_projections_equal_rebuild


class Abort(Exception):
    pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    units=st.integers(min_value=1, max_value=6),
    grouping=st.lists(st.sampled_from(["single", "transaction", "aborted"]), min_size=1, max_size=12),
)
def test_replay_equals_incremental_and_the_cascade_is_consistent(seed: int, units: int, grouping: list[str]) -> None:
    rng = random.Random(seed)
    commits = interleave(rng, [unit_events(rng, f"{seed}-{unit}") for unit in range(units)])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.db"
        with open_store(str(path)) as store:
            for index, commit in enumerate(commits):
                play(store, commit, grouping[index % len(grouping)])
            check_log(store, [])
            assert_cascade_consistent(store)
            check_projections_equal_rebuild(store, path)


def interleave(rng: random.Random, runs: list[list[list[NewEvent]]]) -> list[list[NewEvent]]:
    """Merge several supervisor runs at random, each run keeping its own order (as
    concurrent runs would)."""
    merged: list[list[NewEvent]] = []
    queues = [list(run) for run in runs]
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        merged.append(queue.pop(0))
    return merged


def play(store: object, commit: list[NewEvent], mode: str) -> None:
    from evstore import EventStore

    assert isinstance(store, EventStore)
    if mode == "single":
        for event in commit:
            store.append(event)
    elif mode == "transaction":
        with store.transaction() as tx:
            for event in commit:
                tx.append(event)
    else:
        try:
            with store.transaction() as tx:
                for event in commit:
                    tx.append(event)
                raise Abort
        except Abort:
            for event in commit:  # then retried for real: same event ids
                store.append(event)


def assert_cascade_consistent(store: object) -> None:
    from evstore import EventStore

    assert isinstance(store, EventStore)
    reader = store.reader
    unfinished_in_completed_phase = reader.fetchall(
        "SELECT p.id, c.id, c.status FROM phases p JOIN components c ON c.phase_id = p.id "
        "WHERE p.status = 'completed' AND c.status != 'completed'"
    )
    assert unfinished_in_completed_phase == []
    unfinished_phase_in_completed_feature = reader.fetchall(
        "SELECT f.id, p.id, p.status FROM features f JOIN phases p ON p.feature_id = f.id "
        "WHERE f.status = 'completed' AND p.status != 'completed'"
    )
    assert unfinished_phase_in_completed_feature == []
    # And the other direction: a phase whose components all completed is completed.
    stuck = reader.fetchall(
        "SELECT p.id FROM phases p WHERE p.status != 'completed' AND EXISTS "
        "(SELECT 1 FROM components c WHERE c.phase_id = p.id) AND NOT EXISTS "
        "(SELECT 1 FROM components c WHERE c.phase_id = p.id AND c.status != 'completed')"
    )
    assert stuck == []
