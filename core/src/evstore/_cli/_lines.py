"""Events as JSON objects, one per line: reading them for ``append`` and ``import``.

Checks here cover what only a JSON reader can get wrong (not an object, unknown or
missing fields, a timestamp that is not ISO-8601); everything else about an event (id
types, payload models, required envelope fields) is left to the kernel, whose messages
already name the field and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, Final

import pydantic_core

from .. import NewEvent

# How deep JSON input may nest: pydantic-core's parser limit (its recursion limit is 200,
# so an array may hold 200 arrays in turn, an object 199 objects).
MAX_DEPTH: Final = 200

# The envelope as RecordedEvent.to_dict() writes it (and export), in that order.
ENVELOPE_FIELDS: Final = (
    "id",
    "workflow_id",
    "event_type",
    "role",
    "step_id",
    "component_id",
    "status",
    "payload",
    "timestamp",
    "version",
    "event_id",
    "metadata",
)
# Assigned by the store on append: accepted (an export has them) but not reused, since
# the position and version come from where the event lands in this store's log.
ASSIGNED_FIELDS: Final = ("id", "version")
OPTIONAL_TEXT_FIELDS: Final = ("role", "step_id", "component_id", "status")


class BadLine(ValueError):
    """A line that is not a valid event; ``str()`` names the line number."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def numbered_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers (blank lines still count)."""
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            yield number, raw


def decode(raw: bytes, line: int) -> Any:
    """One JSON document. pydantic-core's parser refuses nesting past MAX_DEPTH levels
    with a ValueError, where ``json.loads`` would recurse until Python's stack gives out
    (a ``RecursionError``, or worse); the kernel reads payloads back with the same parser,
    so whatever this accepts can be read again."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadLine(line, f"not valid UTF-8 (byte {error.start + 1} of the line)") from None
    try:
        # No string cache: it would keep up to 16k strings of the input alive (memory that
        # grows with the input until the cache is full), for no measurable speed-up here.
        return pydantic_core.from_json(text, allow_inf_nan=False, cache_strings=False)
    except ValueError as error:
        message = str(error)
        if "recursion limit" in message:
            raise BadLine(
                line,
                f"nested deeper than {MAX_DEPTH} levels ({message}); evstore accepts JSON nested at "
                f"most {MAX_DEPTH} levels deep, the envelope included",
            ) from None
        raise BadLine(line, f"not valid JSON: {message}") from None


def iter_events(source: IO[bytes], *, required: tuple[str, ...]) -> Iterator[tuple[int, NewEvent]]:
    """The events of ``source``, each with the line it starts on, read as they come:
    JSON lines, or one (maybe pretty-printed) object. Only the second is read whole, and
    only when its first line is not a complete JSON document on its own."""
    lines = numbered_lines(source)
    first = next(lines, None)
    if first is None:
        return
    number, raw = first
    try:
        value = decode(raw, number)
    except BadLine as error:
        rest = b"".join(raw for _, raw in lines)
        if not rest.strip():
            raise
        try:
            whole = decode(raw + rest, number)
        except BadLine:
            raise error from None
        yield number, event_from_json(whole, number, required=required)
        return
    yield number, event_from_json(value, number, required=required)
    for number, raw in lines:
        yield number, event_from_json(decode(raw, number), number, required=required)


def event_from_json(value: Any, line: int, *, required: tuple[str, ...]) -> NewEvent:
    """Build a ``NewEvent`` from one decoded JSON object. ``required`` lists the fields
    that must be present (import needs ``event_id`` and ``timestamp`` to stay idempotent
    and faithful; append needs only ``workflow_id`` and ``event_type``)."""
    if not isinstance(value, dict):
        raise BadLine(line, f"expected a JSON object (one event), got {_json_kind(value)}")
    unknown = sorted(set(value) - set(ENVELOPE_FIELDS))
    if unknown:
        raise BadLine(
            line,
            f"unknown field(s) {', '.join(map(repr, unknown))}; an event has {', '.join(ENVELOPE_FIELDS)}",
        )
    missing = [name for name in required if value.get(name) is None]
    if missing:
        raise BadLine(line, f"missing field(s) {', '.join(map(repr, missing))}")
    for name in ASSIGNED_FIELDS:
        given = value.get(name)
        if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 1):
            raise BadLine(line, f"{name} must be a positive integer, got {given!r:.60}")
    options: dict[str, Any] = {
        name: value[name] for name in OPTIONAL_TEXT_FIELDS if value.get(name) is not None
    }
    for name in ("payload", "metadata"):
        if name in value:  # null included: the kernel says it must be an object
            options[name] = value[name]
    if value.get("event_id") is not None:
        options["event_id"] = value["event_id"]
    if value.get("timestamp") is not None:
        options["timestamp"] = parse_timestamp(value["timestamp"], line)
    # workflow_id and event_type are passed as found: the kernel names a wrong type.
    workflow_id: Any = value.get("workflow_id")
    event_type: Any = value.get("event_type")
    return NewEvent(workflow_id=workflow_id, event_type=event_type, **options)


def parse_timestamp(text: Any, line: int) -> datetime:
    """ISO-8601 to an aware datetime. A time without a zone is taken as UTC: every time
    evstore stores is UTC, and raw SQL written for the original supervisor may have left
    the zone out."""
    if not isinstance(text, str):
        raise BadLine(line, f"timestamp must be an ISO-8601 string, got {_json_kind(text)}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadLine(line, f"timestamp {text!r:.60} is not ISO-8601 (like 2026-01-31T12:00:00.000000+00:00)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _json_kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
