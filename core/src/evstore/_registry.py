"""What the loaded plugins contributed, validated, and how an event is checked and
encoded before it may be written."""

from __future__ import annotations

import difflib
import enum
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

import pydantic
from pydantic import BaseModel

from . import _json
from ._declarations import EventType, Projection, Reactor
from ._envelope import NewEvent, RecordedEvent
from ._errors import (
    InvalidArgumentError,
    InvalidEventError,
    PayloadTooLargeError,
    PayloadValidationError,
    PluginError,
    ProjectionConflictError,
    UnknownEventTypeError,
)
from ._plugins import FailureSink, Hooks, PluginInfo, PluginSet, entry_point_info, installed_entry_points

MAX_ID_LENGTH = 512
DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576

# A prepared event: the column values of ``events`` except id and version, which are
# only known inside the write transaction.
#   (workflow_id, event_type, role, step_id, component_id, status,
#    payload_json, timestamp, event_id, metadata_json)
Prepared = tuple[str, str, "str | None", "str | None", "str | None", "str | None", str, str, str, str]
T = TypeVar("T")
U = TypeVar("U")
# Events prepared at a time in a streamed batch: about 64 KB of rows, which psycopg sends
# on (it flushes every 32 KB) while the next are prepared.
STREAM_CHUNK = 256


class Streamed(Sequence[T], Generic[T]):
    """A sequence whose items are made, a chunk at a time, when first read, and kept:
    the first pass over a streamed batch prepares it while the backend sends it, later
    passes (and indexing) read what was kept, making the rest first if need be. Only
    for a batch nothing must see whole before its insert (see ``Registry.stream``).
    Once making a chunk raised, every pass that gets that far raises the same error.

    Chunks, not items, so that the calls per chunk stay out of the per-event cost: made
    this way, streaming 10,000 events costs about 1 ms of CPU more than preparing them
    into a list (26.6 against 25.3 ms, with the rows made of them)."""

    __slots__ = ("_error", "_kept", "_length", "_source")

    def __init__(self, chunks: Iterator[list[T]], length: int) -> None:
        self._source, self._length = chunks, length
        self._kept: list[T] = []
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[T]:
        if len(self._kept) == self._length:
            return iter(self._kept)
        return self._reading()

    def _reading(self) -> Iterator[T]:
        for chunk in self.chunks():
            yield from chunk

    def chunks(self) -> Iterator[list[T]]:
        """The items in chunks, the kept ones first."""
        kept, index = self._kept, 0
        while index < self._length:
            if index == len(kept):
                self._make_next()
            end = len(kept)
            yield kept[index:end]
            index = end

    def map(self, function: Callable[[T], U]) -> Streamed[U]:
        """``function`` of each item, made as they are read."""
        return Streamed(([function(item) for item in chunk] for chunk in self.chunks()), self._length)

    def _make_next(self) -> None:
        if self._error is not None:
            raise self._error
        try:
            self._kept.extend(next(self._source))
        except BaseException as error:
            self._error = error
            raise

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        while len(self._kept) < self._length:
            self._make_next()
        return self._kept[index]


@dataclass
class Registered:
    projection: Projection
    plugin: PluginInfo

    def describe(self) -> str:
        return f"projection {self.projection.name!r} of {self.plugin.describe()}"


class Registry:
    """Event types, projections and reactors of one store, each with its plugin."""

    def __init__(self, *, permissive: bool, max_payload_bytes: int) -> None:
        # permissive: store undeclared event types, events missing their type's required
        # envelope fields and payloads that do not match the declared model.
        self.permissive = permissive
        self.max_payload_bytes = max_payload_bytes
        self.event_types: dict[str, tuple[EventType, PluginInfo]] = {}
        self.projections: dict[str, Registered] = {}
        self.reactors: dict[str, tuple[Reactor, PluginInfo]] = {}
        self.table_owners: dict[str, str] = {}
        # Each projection's lifecycle in this store ("inline" or "async"), once decided.
        self.lifecycles: dict[str, str] = {}

    # --- accepting contributions ------------------------------------------------

    def add_event_type(self, plugin: PluginInfo, declared: Any) -> None:
        if not isinstance(declared, EventType):
            raise PluginError(
                f"{plugin.describe()} registered {declared!r} as an event type; pass "
                "evstore.EventType(name, payload=Model) instead."
            )
        existing = self.event_types.get(declared.name)
        if existing and existing[0] != declared:
            raise ProjectionConflictError(
                f"event type {declared.name!r} is declared differently by "
                f"{existing[1].describe()} and {plugin.describe()}; one of them must "
                f"rename it, or {plugin.how_to_disable()}."
            )
        if not existing:
            self.event_types[declared.name] = (declared, plugin)
            plugin.event_types.append(declared.name)

    def add_projection(self, plugin: PluginInfo, projection: Any) -> None:
        if not isinstance(projection, Projection):
            raise PluginError(
                f"{plugin.describe()} registered {projection!r} as a projection; pass an "
                "evstore.Projection instead."
            )
        if projection.name in self.projections:
            other = self.projections[projection.name]
            raise ProjectionConflictError(
                f"projection name {projection.name!r} is registered by {other.plugin.describe()} "
                f"and by {plugin.describe()}; {plugin.how_to_disable()}."
            )
        for table in projection.tables:
            owner = self.table_owners.get(table.lower())
            if owner is not None:
                raise ProjectionConflictError(
                    f"table {table!r} is claimed by {self.projections[owner].describe()} and "
                    f"by projection {projection.name!r} of {plugin.describe()}; a table has "
                    f"one owner. Rename one, or {plugin.how_to_disable()}."
                )
        for table in projection.tables:
            self.table_owners[table.lower()] = projection.name
        self.projections[projection.name] = Registered(projection, plugin)
        plugin.projections.append(projection.name)

    def add_reactor(self, plugin: PluginInfo, reactor: Any) -> None:
        if not isinstance(reactor, Reactor):
            raise PluginError(
                f"{plugin.describe()} registered {reactor!r} as a reactor; pass an "
                "evstore.Reactor instead."
            )
        if reactor.name in self.reactors:
            raise ProjectionConflictError(
                f"reactor name {reactor.name!r} is registered twice (by "
                f"{self.reactors[reactor.name][1].describe()} and {plugin.describe()})."
            )
        self.reactors[reactor.name] = (reactor, plugin)
        plugin.reactors.append(reactor.name)

    def check_reactor_reads(self) -> None:
        """After every plugin registered: each projection a reactor reads must be loaded."""
        for reactor, plugin in self.reactors.values():
            missing = sorted(reactor.reads - set(self.projections))
            if missing:
                raise PluginError(
                    f"reactor {reactor.name!r} of {plugin.describe()} reads projection "
                    f"{', '.join(map(repr, missing))}, which no loaded plugin provides. Load "
                    f"the plugin that provides it, or {plugin.how_to_disable()}."
                )

    def decide_lifecycles(
        self, async_names: Iterable[str] | None, inline_names: Iterable[str] | None, *, strict: bool,
        reactors_run: bool = True,
    ) -> None:
        """Each projection's lifecycle: the operator's choice (``async_names`` /
        ``inline_names``) over the plugin's default. ``strict``: a name no loaded
        projection has is an error (given to ``EventStore.open``); from the environment
        it is ignored, since the same variables reach processes loading other plugins.
        ``reactors_run``: False for a store opened with ``reactors=False`` (an import), whose
        reactors never decide, so the projections they read may be async there."""
        chosen_async, chosen_inline = set(async_names or ()), set(inline_names or ())
        both = sorted(chosen_async & chosen_inline)
        if both:
            raise InvalidArgumentError(f"projections {both} are named both async and inline; choose one")
        unknown = sorted((chosen_async | chosen_inline) - set(self.projections))
        if unknown and strict:
            raise InvalidArgumentError(
                f"no loaded projection is named {', '.join(map(repr, unknown))} (async_projections/"
                f"inline_projections); loaded: {', '.join(sorted(self.projections)) or 'none'}"
            )
        for name, registered in self.projections.items():
            default = registered.projection.lifecycle
            self.lifecycles[name] = "async" if name in chosen_async else "inline" if name in chosen_inline else default
        for reactor, plugin in self.reactors.values() if reactors_run else ():
            asynchronous = sorted(name for name in reactor.reads if self.lifecycles.get(name) == "async")
            if asynchronous:
                raise PluginError(
                    f"reactor {reactor.name!r} of {plugin.describe()} decides from projection "
                    f"{', '.join(map(repr, asynchronous))}, which is async here: a reactor must see the "
                    "projections it reads updated in the append's own transaction. Keep them inline "
                    f"(EVSTORE_INLINE_PROJECTIONS={','.join(asynchronous)}), or {plugin.how_to_disable()}."
                )

    @property
    def inline(self) -> frozenset[str]:
        return frozenset(name for name, lifecycle in self.lifecycles.items() if lifecycle == "inline")

    def conforms(self, event: RecordedEvent) -> bool:
        """Whether a stored event is what its declared type promises: its required
        envelope fields set and its payload valid for the model. Events of undeclared
        types conform (nothing was promised). Called only when a handler raised, to
        decide between "the projection is broken" and "the event is incomplete"."""
        declared = self.event_types.get(event.event_type)
        if declared is None:
            return True
        event_type = declared[0]
        envelope = {name: getattr(event, name) for name in event_type.requires}
        return event_type.refusal(envelope, event.copy().payload if event_type.payload else None) is None

    # --- checking and encoding an event -------------------------------------------

    def stream(self, events: Sequence[Any]) -> Streamed[Prepared]:
        """``events`` prepared as the insert reads them, for a backend that sends rows to
        the server as it gets them (PostgreSQL's COPY): the server stores the first rows
        while the next are prepared, where preparing the whole batch first left it idle
        for that long (about 25 ms of a 10,000-event append's 300 on a local server). A bad event raises when it is
        reached, with the rows before it sent but not committed; the insert then undoes
        them, so the batch is still all or nothing. Two events with the same id are
        refused after the last event is prepared, as ``EventStore._prepare_batch`` does
        after preparing them all, so the same error wins when a batch has both."""
        return Streamed(self._streaming(events), len(events))

    def _streaming(self, events: Sequence[Any]) -> Iterator[list[Prepared]]:
        prepare, ids, count = self.prepare, set(), len(events)
        for start in range(0, count, STREAM_CHUNK):
            chunk = [prepare(event) for event in events[start:start + STREAM_CHUNK]]
            ids.update([p[8] for p in chunk])
            if start + STREAM_CHUNK >= count and len(ids) != count:
                raise InvalidEventError("two events of this batch have the same event_id")
            yield chunk

    def similar_event_types(self, name: str) -> list[str]:
        """Up to three declared event types spelt like ``name``, for "did you mean"."""
        return difflib.get_close_matches(name, list(self.event_types), n=3)

    def prepare(self, event: Any) -> Prepared:
        """Validate ``event`` and encode it; raises before anything is written."""
        if not isinstance(event, NewEvent):
            raise InvalidEventError(
                f"expected an evstore.NewEvent, got {type(event).__name__}: build events "
                "with NewEvent(workflow_id=..., event_type=..., payload={...})."
            )
        workflow_id, event_type = event.workflow_id, event.event_type
        # The common case (a short plain ASCII string, not blank) is checked inline, as
        # for the fields below; anything else takes the slow path, which converts str
        # enums or raises.
        if (
            type(workflow_id) is not str or not 0 < len(workflow_id) <= MAX_ID_LENGTH or "\x00" in workflow_id
            or not workflow_id.isascii() or workflow_id.isspace()
        ):
            workflow_id = _identifier(workflow_id, "workflow_id", required=True)
        if (
            type(event_type) is not str or not 0 < len(event_type) <= MAX_ID_LENGTH or "\x00" in event_type
            or not event_type.isascii() or event_type.isspace()
        ):
            event_type = _event_type_name(event_type)
        declared = self.event_types.get(event_type)
        if declared is None and not self.permissive:
            raise UnknownEventTypeError(
                event_type, self.similar_event_types(event_type)
            )
        role, step_id, component_id, status = event.role, event.step_id, event.component_id, event.status
        # The same for the optional fields (None, or a short plain string).
        if role is not None and (
            type(role) is not str or len(role) > MAX_ID_LENGTH or "\x00" in role or not role.isascii()
        ):
            role = _identifier(role, "role")
        if step_id is not None and (
            type(step_id) is not str or len(step_id) > MAX_ID_LENGTH or "\x00" in step_id or not step_id.isascii()
        ):
            step_id = _identifier(step_id, "step_id")
        if component_id is not None and (
            type(component_id) is not str or len(component_id) > MAX_ID_LENGTH or "\x00" in component_id
            or not component_id.isascii()
        ):
            component_id = _identifier(component_id, "component_id")
        if status is not None and (
            type(status) is not str or len(status) > MAX_ID_LENGTH or "\x00" in status or not status.isascii()
        ):
            status = _identifier(status, "status")
        # A permissive store keeps what it is given, as the original supervisor did: the
        # log is the source of truth, and a projection copes with an incomplete event.
        enforced = None if declared is None or self.permissive else declared[0]
        if enforced is not None:
            _check_required(enforced, event)
        payload_json = self._payload_json(event, enforced)
        metadata = event.metadata
        metadata_json = "{}" if type(metadata) is dict and not metadata else self._encode(metadata, "metadata")
        return (
            workflow_id,
            event_type,
            role,
            step_id,
            component_id,
            status,
            payload_json,
            _timestamp(event.timestamp),
            _event_id(event.event_id),
            metadata_json,
        )

    def _payload_json(self, event: NewEvent, declared: EventType | None) -> str:
        payload = event.payload
        model = None if declared is None else declared.payload
        if type(payload) is dict:
            if model is None:
                return self._encode(payload, "payload")
        elif isinstance(payload, BaseModel):
            payload = payload.model_dump(mode="json")
        elif not isinstance(payload, Mapping):
            raise InvalidEventError(
                f"payload of {event.event_type!r} must be a dict or a pydantic model, got "
                f"{type(payload).__name__}"
            )
        if model is not None:
            try:
                # What model_validate(payload) runs, without its Python frame and
                # keyword defaults: this is on every append of a declared type.
                model.__pydantic_validator__.validate_python(payload)
            except pydantic.ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
                    for e in error.errors()
                )
                assert declared is not None  # it gave the model
                raise PayloadValidationError(
                    f"payload of {declared.name!r} does not match {model.__name__}: {problems}"
                ) from None
        return self._encode(payload, "payload")

    def _encode(self, value: Any, field: str) -> str:
        if type(value) is not dict and not isinstance(value, Mapping):
            raise InvalidEventError(f"{field} must be a dict, got {type(value).__name__}")
        text = _json.dumps(value, field) if value else "{}"
        # UTF-8 takes at most 4 bytes a character: measure bytes only when it could matter.
        if len(text) * 4 > self.max_payload_bytes:
            size = len(text.encode())
            if size > self.max_payload_bytes:
                raise PayloadTooLargeError(
                    f"{field} is {size} bytes encoded, over the store's limit of "
                    f"{self.max_payload_bytes} bytes. Store large blobs elsewhere and put "
                    "a reference in the event, or open the store with a larger "
                    "max_payload_bytes."
                )
        return text


def _identifier(value: Any, field: str, *, required: bool = False) -> Any:
    if value is None and not required:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str):
        raise InvalidEventError(f"{field} must be a string, got {type(value).__name__} {value!r:.60}")
    if required and not value.strip():
        raise InvalidEventError(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise InvalidEventError(
            f"{field} must be at most {MAX_ID_LENGTH} characters without NUL bytes "
            f"(got {len(value)} characters)"
        )
    _check_unicode(value, field)
    return value


def _check_unicode(value: str, field: str) -> None:
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidEventError(
                f"{field} {value!r:.60} has a lone surrogate, which is not valid Unicode and cannot "
                "be stored; decode the text that produced it with errors='replace'"
            ) from None


def _event_type_name(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"event_type must be a non-empty string, got {value!r:.60}")
    _check_unicode(value, "event_type")
    if len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise InvalidEventError(
            f"event_type must be at most {MAX_ID_LENGTH} characters without NUL bytes "
            f"(got {len(value)} characters: {value[:40]!r}...)"
        )
    return value


def _check_required(declared: EventType, event: NewEvent) -> None:
    for field in declared.requires:
        value = getattr(event, field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidEventError(
                f"event type {declared.name!r} requires {field}, but the event has "
                f"{field}={value!r}; set {field} on the event."
            )


def _timestamp(value: Any) -> str:
    if value is None:
        return _json.utc_now()
    if not isinstance(value, datetime):
        raise InvalidEventError(f"timestamp must be a datetime, got {type(value).__name__}")
    try:
        return _json.format_timestamp(value)
    except ValueError as error:
        raise InvalidEventError(str(error)) from None


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _event_id(value: Any) -> str:
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise InvalidEventError(
        f"event_id must be a UUID (or its string form), got {value!r:.60}; leave it out "
        "to get a fresh one."
    )


def contributions(plugins: PluginSet, *, failed: FailureSink | None = None) -> Registry:
    """What ``plugins`` register (event types, projections, reactors), through the same
    hooks and checks a store uses, without opening one: for ``evstore plugins``,
    ``evstore types`` and the kit's entry-point check. ``failed``: see ``Hooks``."""
    registry = Registry(permissive=False, max_payload_bytes=DEFAULT_MAX_PAYLOAD_BYTES)
    hooks = Hooks(plugins, failed=failed)
    hooks.register_event_types(registry.add_event_type)
    hooks.register_projections(registry.add_projection)
    hooks.register_reactors(registry.add_reactor)
    return registry


def installed_table_owners() -> dict[str, str]:
    """Table (lower case) -> the projection declaring it, over every installed plugin,
    loaded in this store or not (EVSTORE_PLUGINS and EVSTORE_DISABLE_PLUGINS do not
    apply). Only for error messages that must say whose a refused table is: a plugin
    that fails to load is passed over, since it cannot be named as an owner anyway."""
    owners: dict[str, str] = {}
    for entry_point in installed_entry_points():
        plugin_set = PluginSet()
        try:
            plugin_set.add(entry_point.load(), entry_point_info(entry_point))
            registry = contributions(plugin_set)
        except Exception:  # a broken plugin names no owner; the message goes on without it
            continue
        for table, name in registry.table_owners.items():
            owners.setdefault(table, registry.projections[name].describe())
    return owners
