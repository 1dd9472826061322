"""Given / when / then for projection tests.

::

    (Scenario(store)
        .given(event("step_started", step_id="s1", role="planner"))
        .when(event("step_completed", step_id="s1"))
        .then_rows("activity_steps", [{"step_id": "s1", "status": "completed"}]))

``when`` records the outcome instead of raising, so the ``then_*`` methods can check
either the rows and query results that followed, or the error and that nothing was
written.

A projection that goes failing (its handler raised, so the kernel rolled its rows back
and skips it from then on) fails the scenario at once, in ``given`` or ``when``: the
kernel only logs it, and a test whose rows happen to match would otherwise pass. A test
that means to make a projection fail says so first with :meth:`Scenario.expect_failing`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._envelope import ANY, ExpectedVersion, NewEvent
from .._store import EventStore
from ._tables import Row, Snapshot, columns_of, quote, snapshot_tables

Expected = Sequence[Sequence[Any]] | Sequence[Mapping[str, Any]]


class Scenario:
    """A test of a store's behaviour in three steps; every method returns the scenario
    so the steps chain."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.positions: list[int] = []
        """Positions returned by the append in :meth:`when`."""
        self.error: BaseException | None = None
        """What the append in :meth:`when` raised, if it did."""
        self._when_called = False
        self._head_before = 0
        self._before: Snapshot = {}
        self._expected_failing: set[str] = set()

    def expect_failing(self, *projections: str) -> Scenario:
        """Say that these projections are meant to go failing (a test of a handler's
        error): :meth:`given` and :meth:`when` then let them, and :meth:`when` checks
        that each of them is failing afterwards."""
        loaded = set(self.store.registry.projections)
        unknown = sorted(set(projections) - loaded)
        if unknown:
            raise ValueError(
                f"expect_failing({', '.join(map(repr, unknown))}): no such projection is loaded "
                f"(loaded: {', '.join(sorted(loaded)) or 'none'})"
            )
        self._expected_failing.update(projections)
        return self

    # --- given ------------------------------------------------------------------------

    def given(self, *events: NewEvent | Iterable[NewEvent]) -> Scenario:
        """Append each event (or each list of events, as one ``append_many``) in order.
        These must succeed: an error here is a broken test setup and propagates."""
        for item in events:
            if isinstance(item, NewEvent):
                self.store.append(item)
            else:
                self.store.append_many(list(item))
        self._no_unexpected_failure("given()")
        return self

    # --- when -----------------------------------------------------------------------

    def when(self, *events: NewEvent, expected_version: ExpectedVersion | int = ANY) -> Scenario:
        """Append ``events`` in one call and remember the result or the error. The
        tables of every loaded projection are snapshotted first, for
        :meth:`then_error` and :meth:`then_unchanged`."""
        store = self.store
        self._when_called = True
        self._head_before = store.head()
        self._before = snapshot_tables(store, self._projection_tables())
        try:
            self.positions = store.append_many(list(events), expected_version=expected_version)
        except Exception as error:  # recorded for then_error; any other then_* re-raises it
            self.error = error
        self._no_unexpected_failure("when()")
        not_failing = sorted(self._expected_failing - set(self._failing()))
        if not_failing:
            raise AssertionError(
                f"expected projection(s) {', '.join(map(repr, not_failing))} to go failing, but after when() "
                "they are not failing"
            )
        return self

    # --- then -----------------------------------------------------------------------

    def then_rows(
        self,
        table: str,
        expected: Expected,
        *,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        params: Sequence[Any] = (),
        order_by: str | None = None,
    ) -> Scenario:
        """The rows of ``table`` are ``expected``.

        ``expected`` is a list of tuples (all columns, or ``columns``) or of dicts (only
        the dicts' keys are compared, so a test names the columns it cares about).
        Without ``order_by`` the order of rows does not matter; with it, it does.
        ``where`` (with ``params``) restricts the rows compared.
        """
        self._no_unexpected_error()
        chosen = list(columns) if columns is not None else self._columns_for(table, expected)
        sql = f"SELECT {', '.join(quote(c) for c in chosen)} FROM {quote(table)}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        found: list[Row] = [tuple(row) for row in self.store.reader.fetchall(sql, list(params))]
        wanted: list[Row] = [
            tuple(row[c] for c in chosen) if isinstance(row, Mapping) else tuple(row) for row in expected
        ]
        if not order_by:
            found, wanted = sorted(found, key=_sort_key), sorted(wanted, key=_sort_key)
        if found != wanted:
            raise AssertionError(
                f"rows of {table!r} ({', '.join(chosen)}) differ.\n  expected: {wanted}\n  actual:   {found}"
            )
        return self

    def then_query(self, query: Callable[[EventStore], Any], expected: Any) -> Scenario:
        """``query(store)`` returns ``expected`` (compared with ``==``)."""
        self._no_unexpected_error()
        actual = query(self.store)
        if actual != expected:
            name = getattr(query, "__name__", repr(query))
            raise AssertionError(f"{name}(store) returned\n  {actual!r}\nexpected\n  {expected!r}")
        return self

    def then_error(
        self, error_type: type[BaseException], match: str | re.Pattern[str] | None = None
    ) -> Scenario:
        """The append in :meth:`when` raised ``error_type`` (whose message contains
        ``match``, if given: a plain string is looked for as is, a compiled pattern is
        searched), and wrote nothing: no event, no projection row."""
        if not self._when_called:
            raise AssertionError("then_error() checks the append made by when(); call when() first")
        if self.error is None:
            raise AssertionError(f"expected {error_type.__name__}, but the append succeeded at {self.positions}")
        if not isinstance(self.error, error_type):
            raise AssertionError(
                f"expected {error_type.__name__}, got {type(self.error).__name__}: {self.error}"
            ) from self.error
        if match is not None and not _mentions(str(self.error), match):
            raise AssertionError(f"expected the error to mention {match!r}; it says: {self.error}")
        head = self.store.head()
        if head != self._head_before:
            raise AssertionError(f"the failed append still stored events: head moved {self._head_before} -> {head}")
        return self.then_unchanged()

    def then_unchanged(self, *tables: str) -> Scenario:
        """The tables (default: every loaded projection's) are as they were before
        :meth:`when`."""
        if not self._when_called:
            raise AssertionError("then_unchanged() compares with the state before when(); call when() first")
        chosen = list(tables) or list(self._before)
        before = {t: self._before[t] for t in chosen if t in self._before}
        missing = [t for t in chosen if t not in self._before]
        if missing:
            raise AssertionError(f"{missing} are not tables of a loaded projection; nothing to compare")
        after = snapshot_tables(self.store, chosen)
        changed = [t for t in chosen if after[t] != before[t]]
        if changed:
            details = "\n".join(f"  {t}: before {before[t]}\n  {' ' * len(t)}  after  {after[t]}" for t in changed)
            raise AssertionError(f"tables changed: {', '.join(changed)}\n{details}")
        return self

    # --- helpers --------------------------------------------------------------------

    def _projection_tables(self) -> list[str]:
        return sorted(
            table
            for registered in self.store.registry.projections.values()
            for table in registered.projection.tables
        )

    def _failing(self) -> dict[str, str]:
        """Loaded projections marked failing, with their errors."""
        loaded = self.store.registry.projections
        return {
            status.name: status.error or "no error recorded"
            for status in self.store.projection_status()
            if status.name in loaded and status.status == "failing"
        }

    def _no_unexpected_failure(self, step: str) -> None:
        unexpected = {name: error for name, error in self._failing().items() if name not in self._expected_failing}
        if unexpected:
            details = "; ".join(f"{name!r}: {error}" for name, error in sorted(unexpected.items()))
            raise AssertionError(
                f"after {step}, projection(s) went failing (a handler raised; the kernel rolled back its rows "
                f"and skips it until a catch-up): {details}. Fix the handler, or call "
                f"expect_failing({', '.join(map(repr, sorted(unexpected)))}) first if the test means it to fail."
            )

    def _no_unexpected_error(self) -> None:
        if self.error is not None:
            raise AssertionError(
                f"the append in when() raised {type(self.error).__name__}: {self.error}"
            ) from self.error

    def _columns_for(self, table: str, expected: Expected) -> list[str]:
        mappings = [row for row in expected if isinstance(row, Mapping)]
        if not mappings:
            return columns_of(self.store, table)
        if len(mappings) != len(expected) or any(set(m) != set(mappings[0]) for m in mappings):
            raise ValueError("expected rows given as dicts must all have the same keys")
        return list(mappings[0])


def _sort_key(row: Row) -> tuple[tuple[bool, str, Any], ...]:
    # SQLite columns may mix types; sort None first, then by type name, then value, so
    # both sides of a comparison sort the same way without comparing str with int.
    return tuple((value is not None, type(value).__name__, value) for value in row)


def _mentions(message: str, match: str | re.Pattern[str]) -> bool:
    if isinstance(match, re.Pattern):
        return match.search(message) is not None
    return match in message
