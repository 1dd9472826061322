"""A tiny HTML/SVG builder that escapes everything it is given.

Plugins build their panels from ``tag(...)`` nodes instead of writing HTML strings, so a
value read from the log can never become markup: text children and attribute values
are escaped when rendered, URL attributes that would run code (``javascript:``) are
neutralised, and the elements and attributes that run code or load things from outside
(``script``, ``iframe``, ``on*`` handlers, inline ``style``) are refused when the node
is built. The page's Content-Security-Policy is the second line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from html import escape
from typing import Union


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_HTML_TAGS = _words(
    "a abbr b blockquote br caption code col colgroup dd del details div dl dt em figcaption "
    "figure footer h1 h2 h3 h4 h5 h6 header hr i ins kbd li main mark nav ol p pre q s samp "
    "section small span strong sub summary sup table tbody td tfoot th thead time tr u ul var "
    "wbr label meter progress output"
)
_SVG_TAGS = _words(
    "svg g defs marker path rect circle ellipse line polyline polygon text tspan title desc "
    "use symbol clipPath linearGradient stop"
)
_VOID = frozenset({"br", "col", "hr", "wbr"})
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9_:.-]*$")
_URL_ATTRIBUTES = frozenset({"href", "src", "xlink:href", "action", "cite"})
_SAFE_URL = re.compile(r"^(?:https?://|/(?!/)|\?|#|\./)", re.IGNORECASE)
_REFUSED_ATTRIBUTES = frozenset({"style", "srcdoc", "formaction"})

Child = Union["Node", str, int, float, None, Iterable["Child"]]
AttributeValue = str | int | float | bool | None


class Node:
    """One element (or, with ``name=None``, a fragment of several). Build it with
    :func:`tag` or :func:`fragment`; render it with :func:`render`."""

    __slots__ = ("attributes", "children", "name")

    def __init__(self, name: str | None, attributes: dict[str, str], children: list[Node | str]) -> None:
        self.name = name
        self.attributes = attributes
        self.children = children

    def __html__(self) -> str:
        # Jinja2 (markupsafe) treats objects with __html__ as already safe markup.
        return render(self)

    def __str__(self) -> str:
        return render(self)

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {len(self.children)} children)"


def tag(
    name: str, *children: Child, attrs: Mapping[str, AttributeValue] | None = None, **kwattrs: AttributeValue
) -> Node:
    """An element: ``tag("a", "open", href="/events/3", class_="pill")``.

    Keyword attribute names lose a trailing ``_`` and turn other ``_`` into ``-``
    (``class_`` -> ``class``, ``data_id`` -> ``data-id``); pass names Python cannot spell
    in ``attrs``. ``True`` writes a bare attribute, ``None`` and ``False`` leave it out.

    :raises ValueError: an element or attribute that could run code or load something
        from outside (``script``, ``on*``, ``style``...), or a name that is not one.
    """
    if name not in _HTML_TAGS and name not in _SVG_TAGS:
        raise ValueError(
            f"evstore.ui.tag: element {name!r} is not allowed; panels may use plain HTML and SVG "
            "elements, never script, style, iframe, object, form or link"
        )
    attributes: dict[str, str] = {}
    merged: dict[str, AttributeValue] = {_attribute_name(k): v for k, v in kwattrs.items()}
    merged.update(attrs or {})
    for key, value in merged.items():
        _check_attribute(key)
        if value is None or value is False:
            continue
        text = "" if value is True else _number_or_text(value)
        if key.lower() in _URL_ATTRIBUTES and not _SAFE_URL.match(text.strip()):
            text = "#"  # javascript:, data:, //host...: never a link a panel may draw
        attributes[key] = text
    return Node(name, attributes, _flatten(children))


def fragment(*children: Child) -> Node:
    """Several nodes (or strings) side by side, without a wrapping element."""
    return Node(None, {}, _flatten(children))


def render(content: Child) -> str:
    """The markup of ``content``; every string in it is escaped."""
    parts: list[str] = []
    _render_into(parts, content)
    return "".join(parts)


def _render_into(parts: list[str], content: Child) -> None:
    if content is None:
        return
    if isinstance(content, Node):
        if content.name is not None:
            parts.append("<" + content.name)
            for key, value in content.attributes.items():
                parts.append(f' {key}="{escape(value, quote=True)}"')
            parts.append(">")
        for child in content.children:
            _render_into(parts, child)
        if content.name is not None and content.name not in _VOID:
            parts.append(f"</{content.name}>")
        return
    if isinstance(content, (str, int, float)):
        parts.append(escape(_number_or_text(content), quote=False))
        return
    for item in content:
        _render_into(parts, item)


def _flatten(children: Iterable[Child]) -> list[Node | str]:
    flat: list[Node | str] = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, (Node, str)):
            flat.append(child)
        elif isinstance(child, bool):
            flat.append(str(child))
        elif isinstance(child, (int, float)):
            flat.append(_number_or_text(child))
        else:
            flat.extend(_flatten(child))
    return flat


def _attribute_name(keyword: str) -> str:
    return keyword.rstrip("_").replace("_", "-")


def _check_attribute(key: str) -> None:
    if not _ATTRIBUTE.match(key):
        raise ValueError(f"evstore.ui.tag: {key!r} is not an attribute name")
    lowered = key.lower()
    if lowered.startswith("on") or lowered in _REFUSED_ATTRIBUTES:
        raise ValueError(
            f"evstore.ui.tag: attribute {key!r} is not allowed (no event handlers or inline "
            "styles: the page's Content-Security-Policy forbids them); use class_ and the "
            "dashboard's stylesheet, or SVG presentation attributes such as fill"
        )


def _number_or_text(value: str | int | float) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if value == value else "NaN"
    return str(value)
