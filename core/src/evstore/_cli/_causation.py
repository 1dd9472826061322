"""Cutting an import into transactions without splitting what the source committed together.

An export records no transaction boundaries, but it records causation: a reactor's
follow-up carries ``metadata.causation_id`` (the event that caused it) and
``correlation_id`` (the root of the chain), and it was committed in the same transaction
as its cause, after it. ``component_completed`` → ``phase_completed`` →
``feature_completed`` is one such chain. Committing the cause in one batch and the
follow-ups in the next would let a kill between the two leave a store the source never
was: a component done and its phase not.

So a batch is cut only where no later event refers back across the cut. Follow-ups of
one source transaction sit close together (its positions are contiguous), so it is
enough to look ahead a bounded number of events past the intended cut: the cut moves
past the last event in that window that refers to something before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .. import NewEvent

REFERENCE_KEYS = ("causation_id", "correlation_id")


@dataclass
class Item:
    line: int
    event: NewEvent
    event_id: str
    refers_to: frozenset[str]


def item(line: int, event: NewEvent) -> Item:
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    refers = frozenset(
        str(metadata[key]).lower() for key in REFERENCE_KEYS if isinstance(metadata.get(key), str)
    )
    own = str(event.event_id).lower()
    return Item(line, event, own, refers - {own})


@dataclass
class Batch:
    """Events to commit together, in source order, with their causal groups: events
    linked by causation (directly or through others) share a group."""

    items: list[Item] = field(default_factory=list)
    _parent: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def ids(self) -> set[str]:
        return set(self._parent)

    def add(self, entry: Item) -> None:
        self.items.append(entry)
        self._parent.setdefault(entry.event_id, entry.event_id)
        for other in entry.refers_to:
            if other in self._parent:
                self._union(entry.event_id, other)

    def group_of(self, entry: Item) -> str:
        return self._root(entry.event_id)

    def without_group(self, root: str) -> tuple[Batch, list[Item]]:
        """This batch without one causal group, and the group's events."""
        kept, dropped = Batch(), []
        for entry in self.items:
            if self._root(entry.event_id) == root:
                dropped.append(entry)
            else:
                kept.add(entry)
        return kept, dropped

    def _root(self, key: str) -> str:
        parent = self._parent
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def _union(self, a: str, b: str) -> None:
        self._parent[self._root(a)] = self._root(b)


def batches(items: Iterable[Item], size: int, lookahead: int) -> Iterator[Batch]:
    """Batches of about ``size`` events, never cut between an event and a later one that
    refers to it, as long as each link in a chain is at most ``lookahead`` events after
    the previous one."""
    source = iter(items)
    batch = Batch()
    window: deque[Item] = deque()
    while True:
        if not window:
            entry = next(source, None)
            if entry is None:
                break
            window.append(entry)
        if len(batch) < size:
            batch.add(window.popleft())
            continue
        for _ in range(_cut(batch.ids(), window, source, lookahead)):
            batch.add(window.popleft())
        yield batch
        batch = Batch()
    if batch.items:
        yield batch


def _cut(closed: set[str], window: deque[Item], source: Iterator[Item], lookahead: int) -> int:
    """How many events of ``window`` must join the batch: up to the last one that refers
    (directly, or through the events pulled in before it) to the batch. The window is
    read on from ``source`` until ``lookahead`` events past that point were examined."""
    cut = index = 0
    while index - cut < lookahead:
        if index == len(window):
            entry = next(source, None)
            if entry is None:
                break
            window.append(entry)
        entry = window[index]
        index += 1
        if entry.refers_to & closed:
            closed.update(window[position].event_id for position in range(cut, index))
            cut = index
    return cut
