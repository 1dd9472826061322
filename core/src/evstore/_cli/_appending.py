"""Appending numbered events from the command line's input inside an open transaction:
fast in batches, and when a batch fails, event by event to name the line at fault."""

from __future__ import annotations

from collections.abc import Sequence

from .. import ANY, EventStore, EvstoreError, ExpectedVersion, NewEvent, Transaction

Numbered = tuple[int, NewEvent]


class LineFailed(Exception):
    """The event starting on ``line`` was refused; the savepoint of its batch is rolled
    back and the enclosing transaction is still usable."""

    def __init__(self, line: int, error: EvstoreError) -> None:
        super().__init__(f"line {line}: {error}")
        self.line = line
        self.error = error


def append_numbered(
    store: EventStore, tx: Transaction, batch: Sequence[Numbered], guard: ExpectedVersion | int = ANY
) -> list[int]:
    """Append ``batch`` in ``tx``, all or nothing, ``guard`` checked before the first
    event; returns the positions in order. Raises ``LineFailed`` naming the first event
    refused, with nothing of the batch left in the transaction."""
    events = [event for _, event in batch]
    try:
        with store.transaction():  # a savepoint: a failure undoes this batch only
            return tx.append_many(events, expected_version=guard)
    except EvstoreError:
        pass
    # append_many refuses a batch that repeats an event_id or mixes stored and new ids,
    # which event-by-event appends accept (each is an idempotent retry); otherwise this
    # finds the culprit. All in one savepoint, so a failure still leaves nothing.
    with store.transaction():
        positions = []
        for index, (line, event) in enumerate(batch):
            try:
                with store.transaction():
                    positions.append(tx.append(event, expected_version=guard if index == 0 else ANY))
            except EvstoreError as error:
                raise LineFailed(line, error) from error
        return positions
