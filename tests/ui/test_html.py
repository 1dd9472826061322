"""evstore.ui's builder and components: whatever they are given, they emit no markup
the plugin did not build, and refuse what could run code."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evstore.ui import (
    DiagramEdge,
    DiagramNode,
    Page,
    Panel,
    badge,
    bar_chart,
    graph_diagram,
    json_block,
    key_values,
    line_chart,
    percent,
    render,
    status_badge,
    status_tone,
    table,
    tag,
    tree,
    tree_item,
)

from ui_support import HOSTILE


@given(st.text())
def test_text_never_becomes_markup(text: str) -> None:
    html = render(tag("p", text, title=text))
    assert html.count("<") == 2 and html.count(">") == 2
    assert html.startswith('<p title="') and html.endswith("</p>")


@pytest.mark.parametrize("value", HOSTILE.values())
def test_hostile_values_render_as_text(value: str) -> None:
    html = render(table(["a"], [[value]]))
    assert "<script" not in html and "<svg" not in html and "onload=" not in html.replace("onload=alert", "")
    assert re.sub(r"<[^>]*>", "", html).count("&lt;") == value.count("<")


@pytest.mark.parametrize("name", ["script", "style", "iframe", "object", "embed", "link", "form", "SCRIPT"])
def test_elements_that_run_or_load_things_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        tag(name)


@pytest.mark.parametrize("attribute", ["onclick", "onLoad", "style", "srcdoc"])
def test_handlers_and_inline_styles_are_refused(attribute: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        tag("div", attrs={attribute: "x"})


def test_attribute_names_must_be_names() -> None:
    with pytest.raises(ValueError, match="not an attribute name"):
        tag("div", attrs={'x" onclick="alert(1)': "y"})


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>", "//evil.example/x", "vbscript:x"]
)
def test_urls_that_run_code_or_leave_the_dashboard_become_harmless(url: str) -> None:
    assert render(tag("a", "x", href=url)) == '<a href="#">x</a>'


@pytest.mark.parametrize("url", ["/events/3", "?execution=x", "#top", "https://example.org/docs"])
def test_ordinary_links_are_kept(url: str) -> None:
    assert f'href="{url}"' in render(tag("a", "x", href=url))


def test_keyword_attributes_and_booleans() -> None:
    html = render(tag("details", tag("summary", "s"), open=True, class_="c", data_node="n", hidden=False))
    assert html == '<details open="" class="c" data-node="n"><summary>s</summary></details>'


def test_status_tones() -> None:
    assert [status_tone(s) for s in ("completed", "FAILED", "in progress", "pending", "skipped", "weird", None)] == [
        "ok", "bad", "run", "wait", "off", "neutral", "neutral"]
    assert 'class="badge tone-bad"' in render(status_badge("failed"))
    with pytest.raises(ValueError, match="tone must be one of"):
        badge("x", "purple")


def test_components_render() -> None:
    html = render([key_values({"a": 1}), json_block({"k": "<v>"}), tree(tree_item("root", tree_item("leaf")))])
    assert "<dt>a</dt><dd>1</dd>" in html and "&lt;v&gt;" in html and "<summary>root</summary>" in html
    assert render(table(["x"], [], empty="none here")) == '<p class="empty">none here</p>'


def test_charts_draw_every_point_and_a_legend() -> None:
    chart = render(line_chart("rate", ["d1", "d2", "d3"], {"a": [0.5, None, 1.0], "<b>": [0.1, 0.2, 0.3]},
                               y_format=percent, y_max=1.0))
    assert chart.count("<circle") == 5 and chart.count("<polyline") == 1  # the gap splits series a
    assert "&lt;b&gt; · d2: 20%" in chart and 'class="legend"' in chart
    bars = render(bar_chart("n", [("x", 3.0), ("y", 7.0)]))
    assert bars.count("<rect") == 2 and "<title>y: 7</title>" in bars


def test_diagrams_draw_loops_as_arcs_and_colour_nodes_by_status() -> None:
    nodes = [DiagramNode("a", "a", "completed"), DiagramNode("b", "b", "running"), DiagramNode("c", "c", "failed")]
    edges = [DiagramEdge("a", "b"), DiagramEdge("b", "c", "ok"), DiagramEdge("c", "b", "rework x1", back=True),
             DiagramEdge("c", "a"), DiagramEdge("a", "missing")]
    svg = render(graph_diagram(nodes, edges))
    assert svg.count('class="edge"') == 2 and svg.count('class="edge back"') == 2  # c->a closes a cycle
    assert 'data-node="c"' in svg and "tone-bad" in svg and "tone-run" in svg and "rework x1" in svg
    assert "missing" not in svg


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="slug"):
        Page("Not A Slug", "t", lambda view: None)
    with pytest.raises(ValueError, match="title"):
        Panel("ok", " ", lambda view: None)
    with pytest.raises(ValueError, match="on must be one of"):
        Panel("ok", "t", lambda view: None, on="sidebar")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="render must be"):
        Page("ok", "t", "not callable")  # type: ignore[arg-type]


def test_evstore_ui_imports_without_the_server_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('starlette', 'uvicorn', 'jinja2', 'markupsafe'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import evstore.ui, evstore_workflows, evstore_steps, evstore_features, evstore_checkpoints\n"
        "import evstore_metrics, evstore_graph, evstore_activity_board\n"
        "from evstore.ui import Page, Panel, tag, render\n"
        "print(render(tag('b', 'ok')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "<b>ok</b>"
