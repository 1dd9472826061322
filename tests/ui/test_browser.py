"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

Never `playwright install` (it would download a browser): the tests drive the system
chromium (EVSTORE_UI_CHROMIUM, default /usr/bin/chromium). Without it they skip, except
under CI=true, where a missing browser is a failure: .ci/run installs it.
Screenshots go to $EVSTORE_UI_SCREENSHOTS (default: a temporary folder, printed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evstore import EventStore

from ui_support import Served

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("EVSTORE_UI_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
NAV = ["Overview", "Log", "Workflows", "Projections", "Checkpoints", "Features", "Graph executions", "Metrics",
       "Steps", "Activity board"]


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError:
        return "playwright is not installed (pip install playwright; requirements-dev.txt has it)"
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set EVSTORE_UI_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("EVSTORE_UI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.problems = problems
    yield tab
    context.close()


def test_every_page_through_the_navigation(page: Any, served: Served, shots: Path) -> None:
    page.goto(served.base + "/")
    for label in NAV:
        page.locator("nav.main a", has_text=label).first.click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text().strip()
        assert page.locator(".panel-error").count() == 0, page.url
        slug = label.lower().replace(" ", "-")
        page.screenshot(path=str(shots / f"{slug}.png"), full_page=True)
    # Nothing blocked by the Content-Security-Policy, no script error, no missing asset.
    assert page.problems == []


def test_a_filter_narrows_the_log(page: Any, served: Served, shots: Path) -> None:
    page.goto(served.base + "/log")
    page.fill("input[name=type]", "step_started")
    page.click("form.filters button")
    page.wait_for_url("**/log?*type=step_started*")
    types = page.locator("#log-rows tr td:nth-child(4)").all_inner_texts()
    assert types and set(types) == {"step_started"}
    page.screenshot(path=str(shots / "log-filtered.png"), full_page=True)
    page.fill("input[name=text]", "no-such-text-anywhere")
    page.click("form.filters button")
    assert page.locator("#log-empty").is_visible()


def test_the_live_tail_shows_an_event_another_process_appends(
    page: Any, served: Served, demo_path: Path, demo_store: EventStore, shots: Path
) -> None:
    page.goto(served.base + "/log")
    page.wait_for_selector('#live[data-state="open"]', timeout=15_000)
    code = (
        "import sys\nfrom evstore import EventStore, NewEvent\n"
        "with EventStore.open(sys.argv[1], permissive=True) as s:\n"
        "    print(s.append(NewEvent(workflow_id='live-wf', event_type='live_probe',"
        " payload={'html': '<script>alert(1)</script>'})))\n"
    )
    appended = subprocess.run([sys.executable, "-c", code, str(demo_path)], check=True, capture_output=True,
                              text=True, timeout=60)
    position = int(appended.stdout.strip())
    row = page.wait_for_selector(f'#log-rows tr[data-position="{position}"]', timeout=15_000)
    assert "live_probe" in row.inner_text() and "<script>alert(1)</script>" in row.inner_text()
    assert page.locator("#log-rows tr").first.get_attribute("data-position") == str(position)
    assert "1 new" in page.locator("#live").inner_text()
    page.screenshot(path=str(shots / "log-live.png"), full_page=False)
    assert page.problems == []


def test_plugin_drawings(page: Any, served: Served, shots: Path) -> None:
    page.goto(served.base + "/p/graph/executions")
    page.locator("table.grid a").first.click()
    diagram = page.locator("svg.diagram")
    diagram.wait_for()  # the click navigates; count once the new page is there
    assert diagram.is_visible() and page.locator("svg.diagram g.node").count() == 6
    assert page.locator("svg.diagram path.edge.back").count() == 1  # the review -> integrate loop
    assert "rework x1/2" in (diagram.text_content() or "")
    page.screenshot(path=str(shots / "graph-execution.png"), full_page=True)
    page.goto(served.base + "/p/metrics/metrics?by=cli")
    assert page.locator("svg.chart").count() == 4
    page.goto(served.base + "/p/features/features")
    page.locator("table.grid a").first.click()
    page.locator("ul.tree, .tree").first.wait_for()  # the click navigates; count once the new page is there
    assert page.locator(".cascade").count() == 3  # two phases and the feature, completed by the cascade
    page.screenshot(path=str(shots / "feature-tree.png"), full_page=True)
    assert page.problems == []
