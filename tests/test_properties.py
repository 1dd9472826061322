"""Properties over random histories: ordering invariants, and replay equals incremental."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evstore import ConcurrencyError, EventStore

from kernel_support import LedgerPlugin, balances, deposit

WORKFLOWS = st.sampled_from(["a", "b", "c", "d"])
AMOUNTS = st.integers(min_value=1, max_value=50)

single = st.tuples(st.just("single"), WORKFLOWS, AMOUNTS)
batch = st.tuples(st.just("batch"), WORKFLOWS, st.lists(AMOUNTS, min_size=1, max_size=5))
transaction = st.tuples(st.just("transaction"), st.lists(st.tuples(WORKFLOWS, AMOUNTS), min_size=1, max_size=5))
guarded = st.tuples(st.just("guarded"), WORKFLOWS, AMOUNTS, st.integers(min_value=0, max_value=6))
aborted = st.tuples(st.just("aborted"), st.lists(st.tuples(WORKFLOWS, AMOUNTS), min_size=1, max_size=3))
history = st.lists(st.one_of(single, batch, transaction, guarded, aborted), min_size=1, max_size=40)


class Abort(Exception):
    pass


def play(store: EventStore, operations: list[Any]) -> int:
    """Apply the operations; returns how many events should be stored."""
    expected_count = 0
    for operation in operations:
        kind = operation[0]
        if kind == "single":
            store.append(deposit(operation[1], operation[2]))
            expected_count += 1
        elif kind == "batch":
            store.append_many([deposit(operation[1], n) for n in operation[2]])
            expected_count += len(operation[2])
        elif kind == "transaction":
            with store.transaction() as tx:
                for workflow, amount in operation[1]:
                    tx.append(deposit(workflow, amount))
            expected_count += len(operation[1])
        elif kind == "guarded":
            try:
                store.append(deposit(operation[1], operation[2]), expected_version=operation[3])
                expected_count += 1
            except ConcurrencyError as error:
                assert error.actual != operation[3]
        else:
            try:
                with store.transaction() as tx:
                    for workflow, amount in operation[1]:
                        tx.append(deposit(workflow, amount))
                    raise Abort
            except Abort:
                pass
    return expected_count


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=history)
def test_ordering_invariants_and_replay_equals_incremental(operations: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.db"
        with EventStore.open(path, plugins=[LedgerPlugin()], autoload=False, durability="normal") as store:
            expected_count = play(store, operations)
            events = store.read_all()
            assert [e.id for e in events] == list(range(1, expected_count + 1))
            versions: dict[str, list[int]] = {}
            for event in events:
                versions.setdefault(event.workflow_id, []).append(event.version)
            assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
            for workflow, numbers in versions.items():
                assert [e.version for e in store.read(workflow)] == numbers
            incremental = balances(store)
            totals: dict[str, int] = {}
            for event in events:
                totals[event.workflow_id] = totals.get(event.workflow_id, 0) + event.payload["amount"]
            assert {row[0]: row[1] for row in incremental} == totals
            store.rebuild()
            assert balances(store) == incremental
