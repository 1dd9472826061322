"""The dashboard's pages over HTTP, on a store with a supervisor run and hostile events."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from evstore import EventStore, NewEvent

from ui_support import HOSTILE_TYPE, HOSTILE_WORKFLOW, Served

PAGES = [
    "/", "/log", "/log?type=step_started", "/events/1", "/workflows", "/workflows/demo-1", "/projections",
    "/p/workflows/workflows", "/p/steps/steps", "/p/features/features", "/p/checkpoints/checkpoints",
    "/p/metrics/metrics", "/p/graph/executions", "/p/activity_board/board",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers(served: Served, path: str) -> None:
    answer = served.get(path)
    assert answer.status == 200, answer.text[:500]
    assert "<h1>" in answer.text and "panel-error" not in answer.text


def _hostile_position(store: EventStore) -> int:
    return store.read(HOSTILE_WORKFLOW)[0].id


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("where", ["log", "event", "workflow", "filtered", "workflows", "overview"])
def test_values_from_the_log_render_as_text(served: Served, demo_store: EventStore, where: str) -> None:
    position = _hostile_position(demo_store)
    path = {
        "log": "/log",
        "event": f"/events/{position}",
        "workflow": f"/workflows/{quote(HOSTILE_WORKFLOW, safe='')}",
        "filtered": f"/log?text={quote('<script>')}&type={quote(HOSTILE_TYPE)}",
        "workflows": "/workflows?q=script",
        "overview": "/",
    }[where]
    html = served.get(path).text
    found = elements(html)
    # The only script is the dashboard's own file; no element the log brought, no handler.
    assert [attrs for tag, attrs in found if tag == "script"] == [[("src", "/static/ui.js"), ("defer", None)]]
    assert not [tag for tag, _ in found if tag in ("img", "svg", "iframe")]
    assert not [(tag, name) for tag, attrs in found for name, _ in attrs if name.startswith("on")]
    assert "&lt;script&gt;alert(" in html or "&lt;img src=x onerror=" in html


def test_template_syntax_in_the_log_is_not_evaluated(served: Served, demo_store: EventStore) -> None:
    html = served.get(f"/events/{_hostile_position(demo_store)}").text
    assert "{{ 7*7 }}" in html and "{% raw %}" in html


def test_the_event_page_shows_the_full_payload_pretty_printed(served: Served, demo_store: EventStore) -> None:
    html = served.get(f"/events/{_hostile_position(demo_store)}").text
    payload = re.search(r'<pre class="json" id="payload">(.*?)</pre>', html, re.DOTALL)
    assert payload is not None
    assert "&lt;/pre&gt;&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;" in payload.group(1)
    assert '\n  &#34;sql&#34;: ' in payload.group(1) or '\n  "sql": ' in payload.group(1)
    assert "{{ 7*7 }}" in payload.group(1)  # a template string, shown, not evaluated


def test_every_response_forbids_scripts_it_did_not_ship(served: Served) -> None:
    for path in ("/", "/log", "/nowhere", "/events/live?after=999999999"):
        answer = served.get(path) if "live" not in path else None
        if answer is None:
            continue
        policy = answer.header("content-security-policy") or ""
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert answer.header("x-content-type-options") == "nosniff"


def _positions(html: str) -> list[int]:
    return [int(p) for p in re.findall(r'<tr class="event" data-position="(\d+)"', html)]


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.mark.parametrize("query", ["", "type=metric_recorded", "text=CLAUDE", "workflow=demo-1"])
def test_walking_older_pages_visits_every_match_once_newest_first(served: Served, demo_store: EventStore,
                                                                   query: str) -> None:
    from evstore._ui import _log

    _log_page_size = _log.PAGE_SIZE
    seen: list[int] = []
    path: str | None = f"/log?{query}"
    pages = 0
    while path is not None:
        html = served.get(path).text
        seen.extend(_positions(html))
        path = _link(html, "next")
        pages += 1
        assert pages < 50
    expected = [e.id for e in reversed(demo_store.read_all())
                if _matches(e, query)]
    assert seen == expected
    assert len(seen) <= _log_page_size or pages > 1


def _matches(event: object, query: str) -> bool:
    if not query:
        return True
    name, _, value = query.partition("=")
    if name == "type":
        return event.event_type == value  # type: ignore[attr-defined]
    if name == "workflow":
        return event.workflow_id == value  # type: ignore[attr-defined]
    return value.lower() in event.payload_json.lower()  # type: ignore[attr-defined]


def test_newer_pages_walk_back_up(served: Served, demo_store: EventStore) -> None:
    first = served.get("/log").text
    second = served.get(_link(first, "next") or "").text
    back = served.get(_link(second, "prev") or "").text
    assert _positions(back) == _positions(first)


def test_pages_never_use_offset() -> None:
    """Keyset pages only, and SQL that every backend runs: no SQLite-only functions."""
    root = Path(__file__).resolve().parents[2]
    sources = [*sorted((root / "core/src/evstore/_ui").glob("*.py")), *sorted(root.glob("plugins/*/src/*/_ui.py")),
               *sorted(root.glob("examples/*/src/*/_ui.py"))]
    assert len(sources) >= 10
    for source in sources:
        text = source.read_text()
        for forbidden in (" OFFSET ", "sqlite_master", "PRAGMA", "json_each", " GLOB ", "rowid"):
            assert forbidden not in text, f"{source.name} uses {forbidden.strip()}"


def test_windowed_search_says_how_far_it_looked(served: Served, demo_store: EventStore,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from evstore._ui import _log

    monkeypatch.setattr(_log, "SCAN_WINDOW", 10)
    monkeypatch.setattr(_log, "SCAN_BUDGET", 0.0)  # one window per page
    html = served.get("/log?type=no_such_type").text
    assert "Searched back to position" in html
    older = _link(html, "next")
    assert older is not None and "before=" in older
    head = demo_store.head()
    assert f"before={head + 1 - 10}" in older


@pytest.mark.parametrize(("query", "message"), [
    ("since=yesterday", "since must be a date"),
    ("before=-3", "before must be a position"),
    ("before=1e9", "before must be a position"),
    ("text=" + "x" * 300, "longer than 200"),
])
def test_bad_filters_are_a_clear_400(served: Served, query: str, message: str) -> None:
    answer = served.get(f"/log?{query}")
    assert answer.status == 400 and message in answer.text


def test_time_filters_keep_the_range(served: Served, demo_store: EventStore) -> None:
    events = demo_store.read_all()
    middle = events[len(events) // 2].timestamp_text
    html = served.get(f"/log?since={quote(middle[:19])}").text
    shown = _positions(html)
    assert shown and all(demo_store.read_all(after=p - 1, limit=1)[0].timestamp_text >= middle[:19] for p in shown)


def test_the_event_page_links_the_cascade_chain(served: Served, demo_store: EventStore) -> None:
    feature_completed = next(e for e in demo_store.read_all() if e.event_type == "feature_completed")
    html = served.get(f"/events/{feature_completed.id}").text
    cause = next(e for e in demo_store.read_all() if e.event_id == feature_completed.metadata["causation_id"])
    assert "Caused by" in html and f'href="/events/{cause.id}"' in html
    cause_page = served.get(f"/events/{cause.id}").text
    follow_ups = cause_page.split("Follow-ups", 1)[1]
    assert f'href="/events/{feature_completed.id}"' in follow_ups


def test_the_workflow_timeline_marks_long_pauses(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from evstore.ui import create_app

    from ui_support import serve

    start = datetime(2025, 1, 1, tzinfo=UTC)
    with EventStore.open(tmp_path / "s.db", permissive=True, autoload=False) as store:
        for n, offset in enumerate([0, 1, 2, 3, 7200, 7201]):
            store.append(NewEvent(workflow_id="wf", event_type=f"e{n}", timestamp=start + timedelta(seconds=offset)))
        with serve(create_app(store, autoload=False)) as running:
            html = running.get("/workflows/wf").text
    assert html.count('class="gap"') == 1 and "2.0 h pause" in html


def test_missing_things_are_404s_that_say_so(served: Served) -> None:
    assert "No event at position 99999" in served.get("/events/99999").text
    assert served.get("/events/99999").status == 404
    assert served.get("/p/nobody/nothing").status == 404
    assert served.get("/no/such/page").status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_nothing_but_reads_is_accepted(served: Served, method: str) -> None:
    answer = served.get("/log", method=method)
    assert answer.status == 405 and answer.header("allow") == "GET, HEAD"


def test_other_host_names_are_refused(served: Served) -> None:
    """A page whose DNS name is rebound to 127.0.0.1 sends its own name as Host."""
    assert served.get("/", headers={"Host": "attacker.example"}).status == 421
    assert served.get("/", headers={"Host": f"localhost:{served.port}"}).status == 200
