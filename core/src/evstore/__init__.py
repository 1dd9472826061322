"""evstore: an event store with plugin projections, for Python workflow and agent systems.

Importing this package opens nothing and loads no plugin; ``EventStore.open`` does.
"""

from ._access import Rows, ScopedConnection
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
    ReactorDepthError,
    ReactorError,
    SchemaVersionError,
    StoreBusyError,
    StoreClosedError,
    StoreConnectionError,
    StoreOpenError,
    StoreReadOnlyError,
    TransactionError,
    UnknownEventTypeError,
    UnknownProjectionError,
)
from ._store import EventStore, ProjectionStatus
from ._transactions import Transaction
from .hookspecs import hookimpl

__version__ = "0.1.0"

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
    "InvalidEventError",
    "Migration",
    "MigrationError",
    "NewEvent",
    "PayloadSerializationError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PluginError",
    "Projection",
    "ProjectionAccessError",
    "ProjectionConflictError",
    "ProjectionError",
    "ProjectionFailedError",
    "ProjectionStatus",
    "Reactor",
    "ReactorDepthError",
    "ReactorError",
    "RecordedEvent",
    "Rows",
    "SchemaVersionError",
    "ScopedConnection",
    "StoreBusyError",
    "StoreClosedError",
    "StoreConnectionError",
    "StoreOpenError",
    "StoreReadOnlyError",
    "Transaction",
    "TransactionError",
    "UnknownEventTypeError",
    "UnknownProjectionError",
    "__version__",
    "hookimpl",
]
