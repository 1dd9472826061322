"""Generate the hook reference (``docs/hooks.md``) from ``evstore/hookspecs.py``.

Run ``python -m evstore.testing.hookdoc > docs/hooks.md``. ``tests/test_docs.py``
regenerates it and fails when the committed page differs, so the reference cannot
drift from the docstrings it is made from.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from dataclasses import dataclass
from types import ModuleType

_BANNER = re.compile(r"^# --- (?P<title>.+?) -+$")
_FIELD = re.compile(r"^:(?P<kind>param|returns)(?: (?P<name>\w+))?:\s*(?P<text>.*)$")


@dataclass
class Hook:
    name: str
    signature: str
    docstring: str
    group: str


def hooks_of(module: ModuleType) -> list[Hook]:
    """The hook specifications of ``module`` in source order, each with the banner
    comment (``# --- title ---``) it appears under."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    found = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("evstore_"):
            continue
        if not any(_decorator_name(d) == "hookspec" for d in node.decorator_list):
            continue
        group = next(
            (match["title"] for line in reversed(lines[: node.lineno - 1]) if (match := _BANNER.match(line))), ""
        )
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        signature = f"def {node.name}({ast.unparse(node.args)}){returns}"
        found.append(Hook(node.name, signature, inspect.cleandoc(ast.get_docstring(node) or ""), group))
    return found


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""


def markdown_text(text: str) -> str:
    """reStructuredText inline markup as Markdown: ``x`` and :role:`x` become `x`."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def render_docstring(docstring: str) -> str:
    """A hook docstring as Markdown: prose paragraphs, a parameter list, the return
    value, and ``::`` literal blocks as Python code."""
    out: list[str] = []
    params: list[str] = []
    returns = ""
    lines = docstring.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        field = _FIELD.match(line)
        if field:
            text = [field["text"]]
            while i + 1 < len(lines) and lines[i + 1].startswith("    "):
                i += 1
                text.append(lines[i].strip())
            joined = markdown_text(" ".join(text))
            if field["kind"] == "param":
                params.append(f"- `{field['name']}`: {joined}")
            else:
                returns = joined
        elif line.rstrip().endswith("::"):
            out.append(markdown_text(line.rstrip()[:-1]))
            block: list[str] = []
            while i + 1 < len(lines) and (not lines[i + 1].strip() or lines[i + 1].startswith("    ")):
                i += 1
                block.append(lines[i][4:])
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            out += ["", "```python", *block, "```", ""]
        else:
            out.append(markdown_text(line))
        i += 1
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    sections = [body.split("\n\n", 1)[0]]
    rest = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    if params:
        sections.append("**Parameters**\n\n" + "\n".join(params))
    if returns:
        sections.append(f"**Returns:** {returns}")
    if rest:
        sections.append(rest)
    return "\n\n".join(s.strip() for s in sections if s.strip())


def generate(module: ModuleType | None = None) -> str:
    """The whole reference page."""
    if module is None:
        from .. import hookspecs as module
    assert module is not None
    parts = [
        "# Hook reference",
        "",
        "<!-- Generated from core/src/evstore/hookspecs.py by `python -m evstore.testing.hookdoc > docs/hooks.md`;",
        "     do not edit by hand: tests/test_docs.py fails when this page and the docstrings differ. -->",
        "",
        render_docstring(inspect.cleandoc(module.__doc__ or "")),
    ]
    group = None
    for hook in hooks_of(module):
        if hook.group != group:
            group = hook.group
            parts += ["", f"## {group[:1].upper()}{group[1:]}"]
        parts += ["", f"### `{hook.name}`", "", "```python", hook.signature, "```", ""]
        parts.append(render_docstring(hook.docstring))
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
