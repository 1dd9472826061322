"""The event envelope: ``NewEvent`` to append, ``RecordedEvent`` as read back.

The fields are the original supervisor's (``workflow_id``, ``event_type``, ``role``,
``step_id``, ``component_id``, ``status``, ``payload``, ``timestamp``) plus what an
event store needs: ``id`` (global position), ``version`` (1, 2, 3… within the
workflow), ``event_id`` (UUID, the idempotency key) and ``metadata``.
"""

from __future__ import annotations

import enum
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel

from . import _json


def new_event_id() -> str:
    """A new UUID version 7 (RFC 9562) in canonical text form.

    Version 7 starts with the Unix time in milliseconds, so ids made one after another
    sort together. That matters for the unique index on ``event_id``: random (v4) ids
    land on random pages of the index, and once the log holds a million events every
    commit rewrites pages scattered all over it (appends measured 40% slower at 1M
    events than at 10k). The other 74 bits come from ``os.urandom``, so forked
    processes never repeat each other's ids.
    """
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70  # version 7
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True, kw_only=True)
class NewEvent:
    """An event to append. ``event_id`` defaults to a fresh UUID, so resending the same
    object after a lost acknowledgement is recognised as a retry, not stored twice;
    ``timestamp`` defaults to the moment of the append.

    Treat it as immutable once built (``dataclasses.replace`` makes a changed copy). It
    is not frozen only because a frozen dataclass costs a third more to build, and
    appends build one per event.
    """

    workflow_id: str
    event_type: str
    role: str | None = None
    step_id: str | None = None
    component_id: str | None = None
    status: str | None = None
    payload: Mapping[str, Any] | BaseModel = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: uuid.UUID | str = field(default_factory=new_event_id)
    timestamp: datetime | None = None


class RecordedEvent:
    """An event as stored. ``payload``, ``metadata`` and ``timestamp`` are decoded on
    first access, so reading thousands of events only to look at their types is cheap."""

    __slots__ = (
        "_metadata",
        "_payload",
        "component_id",
        "event_id",
        "event_type",
        "id",
        "metadata_json",
        "payload_json",
        "role",
        "status",
        "step_id",
        "timestamp_text",
        "version",
        "workflow_id",
    )

    id: int
    workflow_id: str
    event_type: str
    role: str | None
    step_id: str | None
    component_id: str | None
    status: str | None
    payload_json: str
    timestamp_text: str
    version: int
    event_id: str
    metadata_json: str
    _payload: dict[str, Any] | None
    _metadata: dict[str, Any] | None

    def __init__(self, row: tuple[Any, ...]) -> None:
        # The row's column order is COLUMNS below; one unpack is the cheapest decode.
        (
            self.id,
            self.workflow_id,
            self.event_type,
            self.role,
            self.step_id,
            self.component_id,
            self.status,
            self.payload_json,
            self.timestamp_text,
            self.version,
            self.event_id,
            self.metadata_json,
        ) = row
        self._payload = None
        self._metadata = None

    def copy(self) -> RecordedEvent:
        """The same event with its own payload and metadata: each consumer the kernel
        calls gets one, so one consumer's mutation never reaches another."""
        # One assignment per slot: a third cheaper than packing and unpacking a tuple of
        # them, and every handler and reactor call takes a copy.
        twin = _new_recorded(RecordedEvent)
        twin.id = self.id
        twin.workflow_id = self.workflow_id
        twin.event_type = self.event_type
        twin.role = self.role
        twin.step_id = self.step_id
        twin.component_id = self.component_id
        twin.status = self.status
        twin.payload_json = self.payload_json
        twin.timestamp_text = self.timestamp_text
        twin.version = self.version
        twin.event_id = self.event_id
        twin.metadata_json = self.metadata_json
        twin._payload = twin._metadata = None
        return twin

    @property
    def position(self) -> int:
        """The global position: ``id`` under the name event stores usually give it."""
        return self.id

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            decoded = _json.loads(self.payload_json) if self.payload_json else {}
            self._payload = decoded if isinstance(decoded, dict) else {"value": decoded}
        return self._payload

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            decoded = _json.loads(self.metadata_json) if self.metadata_json else {}
            self._metadata = decoded if isinstance(decoded, dict) else {}
        return self._metadata

    @property
    def timestamp(self) -> datetime:
        return _json.parse_timestamp(self.timestamp_text)

    def row(self) -> tuple[Any, ...]:
        """The stored column values, in ``COLUMNS`` order."""
        return (
            self.id,
            self.workflow_id,
            self.event_type,
            self.role,
            self.step_id,
            self.component_id,
            self.status,
            self.payload_json,
            self.timestamp_text,
            self.version,
            self.event_id,
            self.metadata_json,
        )

    def to_dict(self) -> dict[str, Any]:
        """The full envelope as plain JSON-ready values (used by export)."""
        return {
            "id": self.id,
            "workflow_id": self.workflow_id,
            "event_type": self.event_type,
            "role": self.role,
            "step_id": self.step_id,
            "component_id": self.component_id,
            "status": self.status,
            "payload": self.payload,
            "timestamp": self.timestamp_text,
            "version": self.version,
            "event_id": self.event_id,
            "metadata": self.metadata,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return self.row() == other.row()

    def __hash__(self) -> int:
        return hash((self.id, self.event_id))

    def __repr__(self) -> str:
        return (
            f"RecordedEvent(id={self.id}, workflow_id={self.workflow_id!r}, "
            f"version={self.version}, event_type={self.event_type!r})"
        )


_new_recorded = RecordedEvent.__new__

COLUMNS: Final = (
    "id, workflow_id, event_type, role, step_id, component_id, status, "
    "payload, timestamp, version, event_id, metadata"
)


class ExpectedVersion(enum.Enum):
    """What a writer expects of a workflow before its append.

    ``ANY`` checks nothing; ``NO_STREAM`` requires the workflow to have no events yet;
    ``EXISTS`` requires at least one. An ``int`` requires exactly that version
    (``0`` means the same as ``NO_STREAM``).
    """

    ANY = "any"
    NO_STREAM = "no_stream"
    EXISTS = "exists"

    def __str__(self) -> str:
        return self.value


ANY: Final = ExpectedVersion.ANY
NO_STREAM: Final = ExpectedVersion.NO_STREAM
EXISTS: Final = ExpectedVersion.EXISTS
