"""Every hook a plugin can implement, with when it is called and in which transaction.

Implement a hook with ``evstore.hookimpl``::

    from evstore import hookimpl, EventType

    @hookimpl
    def evstore_register_event_types(register):
        register(EventType("order_placed"))

Contribution hooks take a ``register`` callable: plugins hand objects to the kernel,
which validates them and remembers which plugin gave what. A plugin usually writes none
of them: a module-level ``evstore_plugin = evstore.Plugin(name, event_types=[...],
projections=[build_projection], reactors=[...], ui=..., commands=...)`` stands for
the five contribution hooks below, and the plugin manager registers the ones it
declares, together with any hook the module still writes with ``@hookimpl`` (the
broadcasts; writing one hook both ways is refused). Broadcast hooks are only for
cross-cutting concerns. The reference documentation is generated from these docstrings,
and ``tests/test_hookspecs.py`` fails when a hook lacks one of the sections below or a
``test_hook_<name>`` test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from ._bench import Workload
    from ._declarations import EventType, Projection, Reactor
    from ._envelope import NewEvent, RecordedEvent
    from ._store import EventStore
    from .ui import Page, Panel

hookspec = pluggy.HookspecMarker("evstore")
hookimpl = pluggy.HookimplMarker("evstore")


# --- contributions: called once per store, while it opens ---------------------------


@hookspec
def evstore_register_event_types(register: Callable[[EventType], None]) -> None:
    """Declare the event types this plugin understands.

    Called once when a store opens (or ``evstore plugins`` runs), before any projection
    is set up, outside any transaction.

    :param register: call it once per :class:`evstore.EventType`; an optional pydantic
        payload model is validated on every append of that type.
    :returns: nothing; the return value is ignored.

    Raising aborts opening the store with a ``PluginError`` naming the plugin, its
    distribution and version. Declaring a type another plugin declared differently is
    a ``ProjectionConflictError``.

    Generated from ``evstore.Plugin(event_types=[...])``.
    """


@hookspec
def evstore_register_projections(register: Callable[[Projection], None]) -> None:
    """Contribute projections: read models kept up to date from the log.

    Called once when a store opens, after event types are registered and before any
    migration runs, outside any transaction.

    :param register: call it once per :class:`evstore.Projection`.
    :returns: nothing; the return value is ignored.

    Raising aborts opening the store with a ``PluginError`` naming the plugin. Two
    projections claiming one table, or one name, is a ``ProjectionConflictError``.

    Generated from ``evstore.Plugin(projections=[build_projection])``, which calls
    each function once per store.
    """


@hookspec
def evstore_register_reactors(register: Callable[[Reactor], None]) -> None:
    """Contribute reactors (policies) that append follow-up events.

    Called once when a store opens, after projections are registered, outside any
    transaction. The reactors themselves run inside the live append's transaction,
    after the projections have applied the event, and never during catch-up or rebuild.

    :param register: call it once per :class:`evstore.Reactor`.
    :returns: nothing; the return value is ignored.

    Raising aborts opening the store with a ``PluginError`` naming the plugin.

    Generated from ``evstore.Plugin(reactors=[...])``.
    """


@hookspec
def evstore_register_commands(cli: click.Group) -> None:
    """Add commands to the ``evstore`` command line.

    Called once when the CLI first lists or resolves its commands, outside any store and
    any transaction.

    :param cli: the root ``click.Group``; add commands with ``cli.add_command`` or
        ``@cli.command()``.
    :returns: nothing; the return value is ignored.

    Raising is reported with the plugin's name and the command line goes on without
    that plugin's commands.

    Generated from ``evstore.Plugin(commands=add_commands)``; ``evstore.cli`` has
    the helpers that make a command behave like the built-in ones (``--db``,
    ``--json``, exit statuses, one-line errors).
    """


@hookspec
def evstore_register_ui(register: Callable[[Page | Panel], None]) -> None:
    """Contribute pages and panels to the ``evstore ui`` dashboard.

    Called once when the dashboard starts (``evstore ui``, or
    ``evstore.ui.create_app``), after the store is opened, outside any transaction; the
    render functions of what is registered run later, once per page request, each
    inside one read-only snapshot of the store (``store.snapshot()``).

    :param register: call it once per :class:`evstore.ui.Page` (a page of its own,
        listed in the navigation) or :class:`evstore.ui.Panel` (a block on the front
        page, ``on="overview"``, or on every workflow's page, ``on="workflow"``).
        Import these from ``evstore.ui``, which needs nothing beyond evstore itself.
    :returns: nothing; the return value is ignored.

    Raising, or registering something that is not a ``Page`` or ``Panel`` (or a slug
    the plugin already used), is reported with the plugin's name on stderr and on the
    dashboard's front page, and the dashboard starts without any of that plugin's pages
    and panels. A render function that raises shows the error in place of its panel;
    the rest of the page still renders.

    Generated from ``evstore.Plugin(ui=register_ui)``.
    """


@hookspec
def evstore_bench_workloads(register: Callable[[Workload], None]) -> None:
    """Contribute rows to ``evstore bench``: workloads measured beside the kernel's.

    Called once per ``evstore bench`` run, before any workload runs, outside any store
    and any transaction. The workloads' ``run`` functions are called after the
    kernel's own workloads, one after the other, in the order they were registered,
    also outside any transaction: each opens, uses and closes its own stores (in
    ``context.workdir``, a temporary folder removed afterwards).

    :param register: call it once per :class:`evstore.bench.Workload`: a name (unique
        in the run, shown in the JSON's ``workload_seconds``) and a ``run(context)``
        function returning its rows (:class:`evstore.bench.Result`). ``context`` holds
        the sizes (``--quick``, ``--scale``), the folder, a progress callback, the
        ``--db`` PostgreSQL URL if one was given and the ``--original`` path, which
        plugins may read (e.g. a checkout of the code they replace). A row a workload
        cannot measure here is returned as ``Result.skip(...)`` with the reason.
    :returns: nothing; the return value is ignored.

    Raising, registering something that is not a ``Workload`` or reusing a name aborts
    the run with a ``PluginError`` naming the plugin; so does a ``run`` that raises.
    """


# --- broadcasts: called on every append ---------------------------------------------


@hookspec
def evstore_before_append(store: EventStore, events: Sequence[NewEvent]) -> None:
    """Called for each live append call, inside its write transaction, after the events
    were validated and before any of them is written.

    :param store: the store being written.
    :param events: the events of this call in append order; never empty. Reactor
        follow-ups get a call of their own.
    :returns: nothing; the return value is ignored.

    Raising rejects the append: the transaction rolls back and the error reaches the
    caller, so use it for policy checks (authorisation, quotas), not for logging.
    """


@hookspec
def evstore_after_commit(store: EventStore, events: Sequence[RecordedEvent]) -> None:
    """Called once per committed transaction, after COMMIT, outside any transaction.

    :param store: the store that committed.
    :param events: every event the transaction committed (reactor follow-ups included),
        in position order; never empty.
    :returns: nothing; the return value is ignored.

    Raising does not undo the append (it is already durable); the error is logged with
    the plugin's name and the remaining implementations still run.
    """
