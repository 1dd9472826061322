"""The facade as a plugin: it declares the original's event types that no projection
handles, so that ``append_event`` accepts them. They are stored and read back like any
event; no table changes.

Payloads are free-form dicts, as in the original. The envelope fields are not required
either: the original never checked them for these types, and requiring one now would
reject calls that used to work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from evstore import EventType, hookimpl

GATE_PASSED: Final = "gate_passed"
GATE_FAILED: Final = "gate_failed"
GATE_SKIPPED: Final = "gate_skipped"
APPROVAL_REQUESTED: Final = "approval_requested"
APPROVAL_GRANTED: Final = "approval_granted"
APPROVAL_DENIED: Final = "approval_denied"
APPROVAL_SKIPPED: Final = "approval_skipped"
METADATA_SET: Final = "metadata_set"

SUPERVISOR_EVENT_TYPES: Final = (
    EventType(GATE_PASSED, description="a step passed a gate (payload: free-form)"),
    EventType(GATE_FAILED, description="a step failed a gate (payload: free-form)"),
    EventType(GATE_SKIPPED, description="a gate was skipped (payload: free-form)"),
    EventType(APPROVAL_REQUESTED, description="a human approval was requested"),
    EventType(APPROVAL_GRANTED, description="an approval was granted"),
    EventType(APPROVAL_DENIED, description="an approval was denied"),
    EventType(APPROVAL_SKIPPED, description="an approval was skipped"),
    EventType(METADATA_SET, description="metadata of a workflow was set (payload: free-form)"),
)

# The name explicit registration (plugins=[...]) uses: the entry point's, so an installed
# copy found through the entry point is not registered a second time.
evstore_plugin_name = "supervisor"


@hookimpl
def evstore_register_event_types(register: Callable[[EventType], None]) -> None:
    for event_type in SUPERVISOR_EVENT_TYPES:
        register(event_type)
