"""The checkpoints plugin's dashboard page and panel (evstore.ui; no server needed)."""

from __future__ import annotations

from typing import Any

import evstore_checkpoints
from evstore import EventStore
from evstore.ui import View, render
from evstore_checkpoints._ui import register_ui


def _contributions() -> dict[str, Any]:
    items: list[Any] = []
    register_ui(items.append)
    return {f"{type(item).__name__}:{item.slug}": item for item in items}


def test_checkpoints_per_workflow(evstore_store: EventStore) -> None:
    first = evstore_checkpoints.create_checkpoint(evstore_store, "wf-1", "plan", "abc123", {"k": "<v>"})
    evstore_checkpoints.create_checkpoint(evstore_store, "wf-2", "build", "def456", {})
    panel = render(_contributions()["Panel:checkpoints"].render(View(evstore_store, workflow_id="wf-1")))
    assert "abc123" in panel and "def456" not in panel and f'href="/events/{first}"' in panel
    assert "&lt;v&gt;" in panel and "tone-run" in panel  # active
    page = render(_contributions()["Page:checkpoints"].render(View(evstore_store)))
    assert page.index("def456") < page.index("abc123")  # newest first
    only = render(_contributions()["Page:checkpoints"].render(View(evstore_store, {"workflow": "wf-2"})))
    assert "def456" in only and "abc123" not in only
