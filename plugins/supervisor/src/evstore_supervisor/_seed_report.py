"""What ``evstore import-seed`` reports: what was imported, what was made up for state
the original never logged, what could not be carried over, and how the imported store's
answers compare with the original's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """A row (or part of one) of the original that the import could not carry over."""

    table: str
    source_id: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "id": self.source_id, "reason": self.reason}

    def line(self) -> str:
        return f"{self.table} {self.source_id}: {self.reason}"


@dataclass(frozen=True)
class Difference:
    """A query the imported store answers differently from the original."""

    table: str
    key: str
    field: str
    original: Any
    imported: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "key": self.key, "field": self.field,
            "original": self.original, "imported": self.imported,
        }

    def line(self) -> str:
        return f"{self.table} {self.key}: {self.field} is {self.imported!r} here, {self.original!r} in the original"


@dataclass
class ImportReport:
    source: str
    target: str
    fingerprint: str
    original_events: int = 0
    """Events of the original's log appended as themselves."""
    legacy_events: int = 0
    """Events of the original's log kept as ``legacy_event`` (the reason is in each)."""
    unknown_types: Counter[str] = field(default_factory=Counter)
    """Event types no loaded plugin declares, appended as they are (permissive)."""
    synthesized: Counter[str] = field(default_factory=Counter)
    """Events made up for state the original wrote without logging it, by source table."""
    not_carried: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things the user should know that lose nothing (naive times read as UTC, ...)."""
    differences: list[Difference] = field(default_factory=list)
    extra_rows: Counter[str] = field(default_factory=Counter)
    """Rows the imported store has and the original's tables lack, by table: the log
    implies them but the original lost them (for example steps dropped by defect 5)."""
    compared: list[str] = field(default_factory=list)
    naive_times: int = 0
    events_appended: int = 0
    seconds: float = 0.0
    already_imported: bool = False

    @property
    def complete(self) -> bool:
        """Everything was carried over and every compared query answers the same."""
        return not self.not_carried and not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "already_imported": self.already_imported,
            "complete": self.complete,
            "events_appended": self.events_appended,
            "original_events": self.original_events,
            "legacy_events": self.legacy_events,
            "unknown_event_types": dict(sorted(self.unknown_types.items())),
            "synthesized": dict(sorted(self.synthesized.items())),
            "not_carried": [problem.to_json() for problem in self.not_carried],
            "compared": self.compared,
            "differences": [difference.to_json() for difference in self.differences],
            "extra_rows": dict(sorted(self.extra_rows.items())),
            "naive_timestamps_read_as_utc": self.naive_times,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }
