"""evstore: an event store with plugin projections, for Python workflow and agent systems.

Importing this package opens nothing and loads no plugin; ``EventStore.open`` does.
"""

import importlib_metadata as _metadata

from ._access import Rows, ScopedConnection, in_list
from ._declarations import EventType, Migration, Projection, Reactor
from ._envelope import ANY, EXISTS, NO_STREAM, ExpectedVersion, NewEvent, RecordedEvent
from ._errors import (
    ConcurrencyError,
    DuplicateEventError,
    EvstoreError,
    InvalidArgumentError,
    InvalidEventError,
    MigrationError,
    PayloadSerializationError,
    PayloadTooLargeError,
    PayloadValidationError,
    PluginError,
    ProjectionAccessError,
    ProjectionConflictError,
    ProjectionError,
    ProjectionFailedError,
    ProjectionNotLoadedError,
    ReactorDepthError,
    ReactorError,
    SchemaVersionError,
    StorageError,
    StoreBusyError,
    StoreClosedError,
    StoreConnectionError,
    StoreOpenError,
    StoreReadOnlyError,
    TransactionError,
    UnknownEventTypeError,
    UnknownProjectionError,
    WaitTimeoutError,
)
from ._json import MAX_DEPTH as MAX_PAYLOAD_DEPTH
from ._json import dumps as encode_json
from ._json import loads as decode_json
from ._plugin_spec import Plugin
from ._replay import collection_paused
from ._required import require_projection
from ._store import EventStore
from ._store_parts import ProjectionStatus
from ._subscriptions import Subscription
from ._transactions import Transaction
from ._worker import Worker
from .hookspecs import hookimpl

# The repository's VERSION file is the one place the version is written (core/pyproject.toml).
__version__: str = _metadata.version("evstore")

__all__ = [
    "ANY",
    "EXISTS",
    "NO_STREAM",
    "ConcurrencyError",
    "DuplicateEventError",
    "EventStore",
    "EventType",
    "EvstoreError",
    "ExpectedVersion",
    "InvalidArgumentError",
    "MAX_PAYLOAD_DEPTH",
    "InvalidEventError",
    "Migration",
    "MigrationError",
    "NewEvent",
    "PayloadSerializationError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "Plugin",
    "PluginError",
    "Projection",
    "ProjectionAccessError",
    "ProjectionConflictError",
    "ProjectionError",
    "ProjectionFailedError",
    "ProjectionNotLoadedError",
    "ProjectionStatus",
    "Reactor",
    "ReactorDepthError",
    "ReactorError",
    "RecordedEvent",
    "Rows",
    "SchemaVersionError",
    "StorageError",
    "ScopedConnection",
    "StoreBusyError",
    "StoreClosedError",
    "StoreConnectionError",
    "StoreOpenError",
    "StoreReadOnlyError",
    "Subscription",
    "Transaction",
    "TransactionError",
    "UnknownEventTypeError",
    "UnknownProjectionError",
    "WaitTimeoutError",
    "Worker",
    "__version__",
    "collection_paused",
    "decode_json",
    "encode_json",
    "hookimpl",
    "in_list",
    "require_projection",
]
