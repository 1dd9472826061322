"""The dashboard hook: what plugins register reaches the dashboard, attributed, and a
broken plugin costs only its own pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from evstore import EventStore, hookimpl
from evstore._ui._contributions import collect
from evstore.ui import Page, Panel, View, render, tag


def _plugin(name: str, register_ui: Callable[[Callable[[Any], None]], None]) -> object:
    return SimpleNamespace(evstore_plugin_name=name, evstore_register_ui=hookimpl(register_ui))


def test_hook_evstore_register_ui(tmp_path: Path) -> None:
    def board(view: View) -> object:
        return tag("p", f"{view.store.head()} events; workflow {view.workflow_id}")

    def contribute(register: Callable[[Any], None]) -> None:
        register(Page("board", "Board", board))
        register(Panel("summary", "Summary", board, on="workflow"))

    plugin = _plugin("boardy", contribute)
    contributions = collect([plugin], autoload=False)
    assert contributions.problems == []
    page = contributions.pages[("boardy", "board")]
    assert page.plugin.name == "boardy" and page.item.title == "Board"
    [panel] = contributions.panels_on("workflow")
    assert contributions.panels_on("overview") == []
    with EventStore.open(tmp_path / "s.db", autoload=False) as store:
        html = render(panel.item.render(View(store=store, workflow_id="wf-1")))  # type: ignore[arg-type]
    assert html == "<p>0 events; workflow wf-1</p>"


@pytest.mark.parametrize(("contribute", "message"), [
    (lambda register: register("<p>a page</p>"), "pass evstore.ui.Page"),
    (lambda register: [register(Page("a", "A", str)), register(Page("a", "B", str))], "two Pages with the slug 'a'"),
    (lambda register: 1 / 0, "ZeroDivisionError"),
])
def test_a_broken_plugin_contributes_nothing_and_is_named(contribute: Any, message: str) -> None:
    good = _plugin("good", lambda register: register(Page("fine", "Fine", str)))
    bad = _plugin("bad", lambda register: [register(Page("early", "Early", str)), contribute(register)])
    contributions = collect([good, bad], autoload=False)
    assert list(contributions.pages) == [("good", "fine")]  # not even bad's first page
    [problem] = contributions.problems
    assert "plugin 'bad'" in problem and message in problem and "Remove it from the plugins=[...]" in problem


def test_installed_plugins_contribute_through_their_entry_points() -> None:
    contributions = collect()
    names = {plugin for plugin, _ in contributions.pages}
    assert {"workflows", "steps", "features", "checkpoints", "metrics", "graph", "activity_board"} <= names
    assert contributions.problems == []


def test_the_plugin_selection_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "metrics")
    assert {plugin for plugin, _ in collect().pages} == {"metrics"}
