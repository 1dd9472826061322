"""The facade as a plugin: it declares the original's event types that no projection
handles, so that ``append_event`` accepts them. They are stored and read back like any
event; no table changes. It also adds the supervisor's commands to the ``evstore``
command line: ``evstore demo`` and ``evstore import-seed``.

Payloads are free-form dicts, as in the original. The envelope fields are not required
either: the original never checked them for these types, and requiring one now would
reject calls that used to work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from evstore import EventType, Plugin

if TYPE_CHECKING:
    import click

    from evstore.bench import Workload


GATE_PASSED: Final = "gate_passed"
GATE_FAILED: Final = "gate_failed"
GATE_SKIPPED: Final = "gate_skipped"
APPROVAL_REQUESTED: Final = "approval_requested"
APPROVAL_GRANTED: Final = "approval_granted"
APPROVAL_DENIED: Final = "approval_denied"
APPROVAL_SKIPPED: Final = "approval_skipped"
METADATA_SET: Final = "metadata_set"
# Written by `evstore import-seed` only: an event of an original supervisor log that
# cannot be stored as itself (refused by a plugin's checks, or of a type whose evstore
# projection would change a table the original never changed from its log). The log
# still holds it, word for word, and no projection reads it.
LEGACY_EVENT: Final = "legacy_event"

SUPERVISOR_EVENT_TYPES: Final = (
    EventType(GATE_PASSED, description="a step passed a gate (payload: free-form)"),
    EventType(GATE_FAILED, description="a step failed a gate (payload: free-form)"),
    EventType(GATE_SKIPPED, description="a gate was skipped (payload: free-form)"),
    EventType(APPROVAL_REQUESTED, description="a human approval was requested"),
    EventType(APPROVAL_GRANTED, description="an approval was granted"),
    EventType(APPROVAL_DENIED, description="an approval was denied"),
    EventType(APPROVAL_SKIPPED, description="an approval was skipped"),
    EventType(METADATA_SET, description="metadata of a workflow was set (payload: free-form)"),
    EventType(
        LEGACY_EVENT,
        description="an original supervisor event kept verbatim by import-seed (payload: its fields and the reason)",
    ),
)


def _add_commands(cli: click.Group) -> None:
    """``evstore demo`` and ``evstore import-seed``: supervisor commands, so they live
    here and not in the kernel, which never imports a plugin. Imported only when the
    command line asks for its commands."""
    from ._cli_demo import demo_command
    from ._cli_import_seed import import_seed_command

    cli.add_command(demo_command)
    cli.add_command(import_seed_command)


def _add_bench_workloads(register: Callable[[Workload], None]) -> None:
    """The supervisor and facade rows of ``evstore bench`` (see ``_bench``), imported only then."""
    from ._bench import bench_workloads

    for workload in bench_workloads():
        register(workload)


evstore_plugin = Plugin(
    "supervisor", event_types=SUPERVISOR_EVENT_TYPES, commands=_add_commands, bench=_add_bench_workloads
)
