"""The exception hierarchy: every error evstore raises on purpose is an ``EvstoreError``.

Each message names the thing that was wrong, the value, what was expected and how to fix
it. Where Python has a matching built-in category (``ValueError``, ``TypeError``) the
class inherits it too, so callers that already catch those keep working.
"""

from __future__ import annotations

from typing import Any


class EvstoreError(Exception):
    """Base class of every error evstore raises deliberately."""


def describe(error: BaseException) -> str:
    """``Type: message`` without a final period, to end a sentence of our own."""
    text = str(error).strip().rstrip(".")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --- bad input -------------------------------------------------------------------


class InvalidArgumentError(EvstoreError, ValueError):
    """An argument of a public call has the wrong type or value; nothing was written."""


class InvalidEventError(EvstoreError, ValueError):
    """An event envelope is malformed (missing ids, wrong field types); nothing was written."""


class UnknownEventTypeError(InvalidEventError):
    """The event type is declared by no loaded plugin and the store is not permissive."""

    PERMISSIVE_IN_PYTHON = "open the store with permissive=True"

    def __init__(self, event_type: str, close_matches: list[str]) -> None:
        self.event_type = event_type
        self.close_matches = close_matches
        super().__init__(self.explained(self.PERMISSIVE_IN_PYTHON))

    def explained(self, permissive: str) -> str:
        """The message, with ``permissive`` as the way to accept any type: the Python
        spelling by default; the command line passes its own (``pass --permissive``)."""
        hint = f" Did you mean {', '.join(repr(m) for m in self.close_matches)}?" if self.close_matches else ""
        return (
            f"event type {self.event_type!r} is not declared by any loaded plugin.{hint} "
            "Declare it with the evstore_register_event_types hook, load the plugin that "
            f"declares it, or {permissive} to accept any type."
        )


class PayloadValidationError(InvalidEventError):
    """The payload does not match the pydantic model its event type declares."""


class PayloadTooLargeError(InvalidEventError):
    """The encoded payload (or metadata) exceeds the store's ``max_payload_bytes``."""


class PayloadSerializationError(EvstoreError, TypeError):
    """A payload or metadata value cannot be encoded as JSON; names the field path."""

    def __init__(self, field: str, value: Any, *, too_deep: int | None = None, nul: bool = False) -> None:
        self.field = field
        self.value = value
        if nul:
            super().__init__(
                f"{field} has a NUL character (\\x00) in {value!r:.60}, which is not stored: "
                "PostgreSQL text cannot hold it, and a store must be movable between backends. "
                "Remove it, or encode binary data (base64) before appending."
            )
            return
        if too_deep is not None:
            super().__init__(
                f"{field} nests deeper than {too_deep} levels (or contains itself) and is not "
                "stored: every reader of the log must be able to read it back. Flatten it, or "
                "store it elsewhere and put a reference in the event."
            )
            return
        if isinstance(value, float):
            problem = f"the float {value!r}, which JSON cannot represent (no NaN or infinity)"
        elif isinstance(value, str):
            problem = f"a string with a lone surrogate ({value!r:.60}), which is not valid Unicode"
        elif " key " in field:
            problem = f"a key of type {type(value).__name__} ({value!r:.40}); JSON keys are strings"
        else:
            problem = f"a value of type {type(value).__name__} ({value!r:.80})"
        super().__init__(
            f"{field} has {problem}, so it cannot be stored as JSON. Supported: str, int, "
            "finite float, bool, None, list, tuple, dict with str keys, datetime, date, UUID, "
            "Path and pydantic models. Convert it (for a set, use a sorted list) before appending."
        )


# --- concurrency -----------------------------------------------------------------


class ConcurrencyError(EvstoreError):
    """The workflow's version is not the one the caller expected; nothing was written."""

    def __init__(self, workflow_id: str, expected: object, actual: int) -> None:
        self.workflow_id = workflow_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"workflow {workflow_id!r}: expected version {expected}, but it is at "
            f"version {actual}. Another writer appended first: re-read the workflow, "
            "decide again, and retry with the new version."
        )


class DuplicateEventError(EvstoreError):
    """An ``event_id`` already stored is appended again with different content."""

    def __init__(self, event_id: str, position: int, differences: list[str]) -> None:
        self.event_id = event_id
        self.position = position
        self.differences = differences
        super().__init__(
            f"event_id {event_id} is already stored at position {position} with "
            f"different content ({', '.join(differences)}). A retry must resend the "
            "identical event; a new event needs a new event_id."
        )


class WaitTimeoutError(EvstoreError, TimeoutError):
    """``store.wait_for`` gave up: a projection did not reach the position in time."""


class StoreBusyError(EvstoreError):
    """The write lock could not be taken within the busy timeout and its retries."""


# --- the store file ----------------------------------------------------------------


class StoreOpenError(EvstoreError):
    """The store cannot be opened: a path that is a directory, unwritable or not a
    SQLite file; a PostgreSQL server that cannot be reached or a bad URL."""


class SchemaVersionError(StoreOpenError):
    """The database was written by a newer evstore whose schema this one does not know."""


class StorageError(EvstoreError):
    """The database itself failed: the disk is full, the file is damaged or unreadable,
    a kernel table was dropped outside evstore. Nothing of the failed call was written."""


class StoreConnectionError(StorageError):
    """The connection to the database server was lost or could not be made mid-use;
    the message says whether anything in flight may have been stored."""


class StoreReadOnlyError(EvstoreError):
    """A write was attempted on a store opened with ``read_only=True``."""


class StoreClosedError(EvstoreError):
    """The store was closed; open it again to use it."""


class TransactionError(EvstoreError):
    """A transaction was used wrongly (after it ended, or from another thread)."""


# --- plugins, projections, reactors --------------------------------------------------


class PluginError(EvstoreError):
    """A plugin failed to load, validate or declare its contributions."""


class ProjectionError(PluginError):
    """A projection's declaration, migration or handler failed."""


class ProjectionConflictError(ProjectionError):
    """Two projections claim one table, or two plugins declare one name differently."""


class ProjectionAccessError(ProjectionError):
    """A projection tried to write a table it does not declare."""


class ProjectionFailedError(ProjectionError):
    """A strict projection's handler raised, so the whole append was rejected."""


class MigrationError(ProjectionError):
    """A projection's migration failed; its tables are as they were before."""


class UnknownProjectionError(EvstoreError, KeyError):
    """A projection name given to catch-up or rebuild is not loaded."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class ProjectionNotLoadedError(UnknownProjectionError):
    """A plugin's query or command ran on a store where its projection is not loaded
    (``evstore.require_projection``): its tables are missing, or left over and stale.

    :ivar projection: the projection's name.
    :ivar package: the plugin's import name (what ``plugins=[...]`` takes).
    """

    def __init__(self, message: str, *, projection: str, package: str) -> None:
        super().__init__(message)
        self.projection = projection
        self.package = package


class ReactorError(PluginError):
    """A reactor raised or returned something that is not a list of events."""


class ReactorDepthError(ReactorError):
    """Reactors kept appending follow-ups past the store's ``max_reactor_depth``."""
