"""Charts drawn as inline SVG: no chart library, nothing fetched at run time.

Colours come from the stylesheet (``series-0`` … ``series-7``), so a chart follows the
dashboard's theme; every point carries a ``<title>`` so hovering shows its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from ._html import Node, fragment, tag

SERIES_CLASSES = 8
_WIDTH, _HEIGHT = 640, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 16, 40


def percent(value: float) -> str:
    return f"{value:.0%}"


def seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def plain(value: float) -> str:
    return f"{value:,.6g}"


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_format: Callable[[float], str] = plain,
    y_max: float | None = None,
) -> Node:
    """Lines over ``x_labels`` (one value per label per series; ``None`` is a gap).

    :param y_max: the top of the axis (1.0 for rates); default: the largest value,
        rounded up to a round number.
    """
    values = [v for points in series.values() for v in points if v is not None and math.isfinite(v)]
    top = y_max if y_max is not None else _round_up(max(values, default=0.0))
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    count = max(len(x_labels), 1)

    def x_at(index: int) -> float:
        return _LEFT + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y_at(value: float) -> float:
        return _TOP + plot_h * (1 - (min(value, top) / top if top > 0 else 0))

    lines = []
    for number, (name, points) in enumerate(series.items()):
        css = f"series-{number % SERIES_CLASSES}"
        runs: list[list[tuple[float, float, float, str]]] = [[]]
        for index, value in enumerate(points[:count]):
            if value is None or not math.isfinite(value):
                runs.append([])
                continue
            runs[-1].append((x_at(index), y_at(value), value, x_labels[index] if index < len(x_labels) else ""))
        for run in runs:
            if len(run) > 1:
                lines.append(tag("polyline", points=" ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in run),
                                 class_=f"line {css}"))
            for x, y, value, label in run:
                lines.append(tag("circle", tag("title", f"{name} · {label}: {y_format(value)}"),
                                 cx=f"{x:.1f}", cy=f"{y:.1f}", r=3, class_=f"dot {css}"))
    return _frame(title, _y_axis(top, y_format, plot_w), _x_axis(x_labels, x_at), lines, list(series))


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    y_format: Callable[[float], str] = plain,
    y_max: float | None = None,
) -> Node:
    """Vertical bars, one per ``(label, value)``."""
    top = y_max if y_max is not None else _round_up(max((v for _, v in bars), default=0.0))
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    slot = plot_w / max(len(bars), 1)
    shapes = []
    for index, (label, value) in enumerate(bars):
        height = plot_h * (min(max(value, 0.0), top) / top if top > 0 else 0)
        x = _LEFT + index * slot + slot * 0.15
        shapes.append(tag(
            "rect", tag("title", f"{label}: {y_format(value)}"),
            x=f"{x:.1f}", y=f"{_TOP + plot_h - height:.1f}", width=f"{slot * 0.7:.1f}", height=f"{height:.1f}",
            class_=f"bar series-{index % SERIES_CLASSES}",
        ))
        shapes.append(tag("text", y_format(value), x=f"{x + slot * 0.35:.1f}", y=f"{_TOP + plot_h - height - 4:.1f}",
                          class_="value", text_anchor="middle"))

    def x_at(index: int) -> float:
        return _LEFT + index * slot + slot / 2

    return _frame(title, _y_axis(top, y_format, plot_w), _x_axis([b[0] for b in bars], x_at), shapes, [])


def _frame(title: str, y_axis: Node, x_axis: Node, shapes: list[Node], legend: list[str]) -> Node:
    legend_items = [
        tag("span", tag("i", class_=f"swatch series-{n % SERIES_CLASSES}"), name, class_="legend-item")
        for n, name in enumerate(legend)
    ]
    return tag(
        "figure",
        tag("figcaption", title),
        tag("svg", tag("title", title), y_axis, x_axis, shapes,
            attrs={"viewBox": f"0 0 {_WIDTH} {_HEIGHT}", "role": "img", "class": "chart"}),
        tag("div", legend_items, class_="legend") if legend_items else None,
        class_="chart",
    )


def _y_axis(top: float, y_format: Callable[[float], str], plot_w: float) -> Node:
    plot_h = _HEIGHT - _TOP - _BOTTOM
    ticks = []
    for step in range(5):
        value = top * step / 4
        y = _TOP + plot_h * (1 - step / 4)
        ticks.append(tag("line", x1=_LEFT, x2=_LEFT + plot_w, y1=f"{y:.1f}", y2=f"{y:.1f}", class_="grid-line"))
        ticks.append(tag("text", y_format(value), x=_LEFT - 6, y=f"{y + 4:.1f}", class_="tick", text_anchor="end"))
    return tag("g", ticks, class_="axis")


def _x_axis(labels: Sequence[str], x_at: Callable[[int], float]) -> Node:
    every = max(1, math.ceil(len(labels) / 8))  # at most about eight labels fit
    y = _HEIGHT - _BOTTOM + 16
    return tag("g", fragment(
        tag("text", label, x=f"{x_at(i):.1f}", y=y, class_="tick", text_anchor="middle")
        for i, label in enumerate(labels) if i % every == 0 or i == len(labels) - 1
    ), class_="axis")


def _round_up(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)
