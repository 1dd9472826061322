"""The activity board's dashboard panel: the model docs/ui.md shows plugin authors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import evstore_activity_board
import evstore_metrics
import evstore_steps
from evstore import EventStore, NewEvent
from evstore.ui import Page, Panel, View, render


def test_the_board_as_a_panel_and_a_page(tmp_path: Path) -> None:
    items: list[Any] = []
    evstore_activity_board.evstore_register_ui(items.append)
    assert [type(i) for i in items] == [Panel, Page]
    plugins = [evstore_activity_board, evstore_steps, evstore_metrics]
    with EventStore.open(tmp_path / "s.db", plugins=plugins, autoload=False) as store:
        store.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="s1", role="<reviewer>"))
        evstore_metrics.record_metric(store, "<reviewer>", "claude", "wf", True, 3.0)
        html = render(items[0].render(View(store)))
    assert "&lt;reviewer&gt;" in html and "<reviewer>" not in html
    assert 'href="/log?text=%3Creviewer%3E"' in html and "100%" in html
    assert '<span class="badge tone-run">1</span>' in html  # one open step
