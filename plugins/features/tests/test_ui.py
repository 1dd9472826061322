"""The features plugin's dashboard: the feature -> phase -> component tree with the
cascade's events and their causes."""

from __future__ import annotations

from typing import Any

import evstore_features as features
from evstore import EventStore
from evstore.ui import View, render
from evstore_features._ui import register_ui


def _contributions() -> dict[str, Any]:
    items: list[Any] = []
    register_ui(items.append)
    return {f"{type(item).__name__}:{item.slug}": item for item in items}


def test_the_tree_shows_the_cascade_and_its_causes(evstore_store: EventStore) -> None:
    features.create_feature(evstore_store, "F1", "Log <in>")
    features.create_phase(evstore_store, "P1", "F1", "Backend", 1)
    features.create_component(evstore_store, "C1", "P1", "API", feature_id="F1")
    features.create_component(evstore_store, "C2", "P1", "Store", feature_id="F1")
    for component in ("C1", "C2"):
        features.start_component(evstore_store, component)
        features.complete_component(evstore_store, component, {"ok": True})
    events = {e.event_type: e for e in evstore_store.read("F1")}
    html = render(_contributions()["Panel:tree"].render(View(evstore_store, workflow_id="F1")))
    assert "Log &lt;in&gt;" in html and html.index("Backend") < html.index("API") < html.index("Store")
    phase, feature = events["phase_completed"], events["feature_completed"]
    assert f'href="/events/{phase.id}">phase_completed #{phase.id}' in html
    assert f'href="/events/{feature.id}">feature_completed #{feature.id}' in html
    cause = next(e for e in evstore_store.read("F1") if e.event_id == phase.metadata["causation_id"])
    assert f"component_completed C2 #{cause.id}" in html
    assert html.count("tone-ok") == 4  # feature, phase and both components completed
    assert _contributions()["Panel:tree"].render(View(evstore_store, workflow_id="not-a-feature")) is None


def test_the_page_lists_features_then_shows_one(evstore_store: EventStore) -> None:
    features.create_feature(evstore_store, "F1", "One")
    features.create_feature(evstore_store, "F2", "Two")
    page = _contributions()["Page:features"]
    listing = render(page.render(View(evstore_store, path="/p/features/features")))
    assert listing.index("F2") < listing.index("F1") and "?feature=F1" in listing
    assert "<strong>One</strong>" in render(page.render(View(evstore_store, {"feature": "F1"})))
    assert "No feature" in render(page.render(View(evstore_store, {"feature": "F9"})))
