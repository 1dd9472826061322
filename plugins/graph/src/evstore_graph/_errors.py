"""Errors of the graph plugin. Each is an ``evstore.EvstoreError``; where Python has a
matching category the class inherits it too, so ``except ValueError`` keeps working."""

from __future__ import annotations

from evstore import EvstoreError


class GraphError(EvstoreError):
    """Base class of the errors the graph plugin raises on purpose."""


class GraphDefinitionError(GraphError, ValueError):
    """A graph definition is malformed (unknown node in an edge, a cycle without a loop
    edge, ...); nothing was written."""


class InvalidTransitionError(GraphError, ValueError):
    """The transition is not allowed from the current status of the execution or node
    (completing a node that is not running, any transition of a cancelled execution,
    ...); nothing was written."""


class ExecutionExistsError(InvalidTransitionError):
    """``start_execution`` was given an execution id that is already started."""


class GraphNotFoundError(GraphError, LookupError):
    """No graph with this id was saved."""


class ExecutionNotFoundError(GraphError, LookupError):
    """No execution with this id was started."""


class NodeNotFoundError(GraphError, LookupError):
    """The execution's graph has no node with this id."""


class InvalidStreamError(GraphError, ValueError):
    """A graph event was appended to a stream not named ``graph:<id>`` or
    ``execution:<id>`` as its type requires; nothing was written."""
