"""Reading the code blocks of a Markdown page, and running or comparing them.

The pages hold their code themselves, so it reads on GitHub and in an editor; this
module is how tests/test_docs.py keeps that code true. What happens to a block is
said by an HTML comment on the line before its fence (blank lines may separate them):

- ``<!-- not run: REASON -->``: shown only; the reason says why (needs a server, ...).
- ``<!-- file: PATH -->``: the block is the file PATH of the repository, whole; several
  blocks of one page naming the same PATH are that file in order, split by prose.
- ``<!-- excerpt: PATH -->``: the block appears in PATH, line for line, after imports
  of names PATH imports (so that an excerpt, too, says where its names come from).
- ``<!-- env: NAME=VALUE -->``: sets NAME for this block and the page's later ones
  (``PYTHONPATH`` entries are relative to the repository: a page's stand-in for
  installing the package it has the reader write).
- ``<!-- output -->`` before a ``text`` block: what the run block before it prints.

Every other ``python`` block runs, in page order, in one namespace per page, in a
scratch folder. ``sh`` blocks run too, with this environment's evstore, and must hold
only ``evstore ...`` commands (anything else needs ``not run``); ``console`` blocks are
``$ evstore ...`` lines each followed by the output it must print. ``toml``, ``json``
and ``yaml`` blocks must parse. In expected output, ``...`` matches any text within a
line, and a line of only ``...`` any lines.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!--\s*(?P<kind>not run|file|excerpt|env|output)\s*(?::\s*(?P<value>.*?))?\s*-->\s*\Z")
RUNNABLE = {"python", "sh", "console"}
IMPORT = re.compile(r"^(from \S+ import |import )")
# Where a snippet that lives in a file keeps the markers of the pymdownx.snippets
# sections it was once included by; they are not part of the code a reader copies.
SECTION_MARK = re.compile(r"^\s*#\s*-+8<-+\s*\[(start|end):[-\w]+\]\s*$")


class DocsError(AssertionError):
    """A block of a page that does not hold: the message names the page and line."""


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    kind: str | None = None  # the marker before it, if any
    value: str = ""
    span: tuple[int, int] = (0, 0)  # of the body in the page's text

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT).as_posix() if self.page.is_relative_to(ROOT) else self.page.name
        return f"{page}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text()
    found: list[Block] = []
    previous_end = 0
    for match in FENCE.finditer(text):
        before = text[previous_end : match.start()].rstrip()
        marker = MARKER.search(before.splitlines()[-1]) if before else None
        line = text.count("\n", 0, match.start()) + 1
        kind, value = (marker["kind"], (marker["value"] or "").strip()) if marker else (None, "")
        found.append(Block(page, line, match["lang"], match["body"], kind, value, match.span("body")))
        previous_end = match.end()
    return found


# --- blocks that must equal a file the suite runs ---------------------------------------


def code_lines(text: str) -> list[str]:
    """The lines that count when code is compared: not blank, not a section marker."""
    return [line.rstrip() for line in text.splitlines() if line.strip() and not SECTION_MARK.match(line)]


def check_files(blocks: list[Block]) -> list[str]:
    """Every ``file:`` group equals its file and every ``excerpt:`` is in its file; the
    repository paths checked, for the caller to report."""
    groups: dict[str, list[Block]] = {}
    for block in blocks:
        if block.kind in ("file", "excerpt"):
            path = ROOT / block.value
            if not path.is_file():
                raise DocsError(f"{block.where}: {block.kind} {block.value!r} does not exist in the repository")
        if block.kind == "file":
            groups.setdefault(block.value, []).append(block)
        elif block.kind == "excerpt":
            _check_excerpt(block)
    for name, group in groups.items():
        shown = code_lines("\n".join(b.body for b in group))
        actual = code_lines((ROOT / name).read_text())
        if shown != actual:
            raise DocsError(
                f"{group[0].where}: the page's blocks for {name} are not that file; copy it into the "
                "page again (`python tests/docs_support.py --sync` does) "
                f"(first difference at shown line {_first_difference(shown, actual) + 1}):\n"
                + "\n".join(f"  page: {a!r}\n  file: {b!r}" for a, b in _around_difference(shown, actual))
            )
    return [*groups, *(b.value for b in blocks if b.kind == "excerpt")]


def sync_files(page: Path) -> list[str]:
    """Copy each file a page shows whole (``file:`` groups) into its blocks again, after
    the file changed; a group split by prose is split again before each later block's
    first line. The paths rewritten (an excerpt is the writer's to copy again)."""
    blocks = blocks_of(page)
    text = page.read_text()
    rewritten: list[str] = []
    bodies: dict[tuple[int, int], str] = {}
    for name in dict.fromkeys(b.value for b in blocks if b.kind == "file"):
        group = [b for b in blocks if b.kind == "file" and b.value == name]
        lines = [line for line in (ROOT / name).read_text().splitlines() if not SECTION_MARK.match(line)]
        starts = [0]
        for block in group[1:]:
            first = code_lines(block.body)[0]
            later = [i for i, line in enumerate(lines) if line.rstrip() == first and i > starts[-1]]
            if not later:
                raise DocsError(f"{block.where}: {name} no longer has the line this block starts at: {first!r}")
            starts.append(later[0])
        for block, start, end in zip(group, starts, [*starts[1:], len(lines)], strict=True):
            bodies[block.span] = "\n".join(lines[start:end]).strip("\n") + "\n"
        if code_lines("\n".join(b.body for b in group)) != code_lines("\n".join(lines)):
            rewritten.append(name)
    for (start, end), body in sorted(bodies.items(), reverse=True):
        text = text[:start] + body + text[end:]
    page.write_text(text)
    return rewritten


def check_names(blocks: list[Block]) -> None:
    """Every name the page's shown Python uses is a builtin or bound by one of its blocks
    (an import, an assignment, a def), so a reader finds where each comes from."""
    shown = [b for b in blocks if b.lang == "python" and b.kind in ("file", "excerpt")]
    trees = [(block, ast.parse(textwrap.dedent(block.body), block.where)) for block in shown]
    bound = set(dir(builtins)) | {"__name__", "__file__"}
    for _, tree in trees:
        bound |= _bound_names(tree)
    for block, tree in trees:
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if used - bound:
            raise DocsError(
                f"{block.where}: the page never says where {sorted(used - bound)[0]!r} comes from; "
                "start the block with the import (an excerpt may), or show the block that defines it"
            )


def _bound_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _check_excerpt(block: Block) -> None:
    """The block's leading imports are imports of the file (so an excerpt can say where
    its names come from); the rest appears in the file as consecutive lines."""
    shown = code_lines(block.body)
    leading = next((i for i, line in enumerate(shown) if not IMPORT.match(line)), len(shown))
    if block.lang != "python":
        leading = 0
    imports, needle = shown[:leading], textwrap.dedent("\n".join(shown[leading:]))
    file_text = (ROOT / block.value).read_text()
    missing = _imported_names("\n".join(imports)) - _imported_names(file_text) if imports else set()
    if missing:
        module, name = sorted(missing)[0]
        raise DocsError(f"{block.where}: {block.value} does not import {name} from {module}, as the block shows")
    hay = code_lines(file_text)
    size = len(needle.splitlines())
    for start in range(len(hay) - size + 1):
        if textwrap.dedent("\n".join(hay[start : start + size])) == needle:
            return
    raise DocsError(f"{block.where}: this block is no longer in {block.value}; copy it again from there:\n{block.body}")


def _imported_names(source: str) -> set[tuple[str, str]]:
    names: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names.update((("." * node.level) + (node.module or ""), alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((alias.name, alias.name) for alias in node.names)
    return names


def _first_difference(shown: list[str], actual: list[str]) -> int:
    pairs = enumerate(zip(shown, actual, strict=False))
    return next((i for i, (a, b) in pairs if a != b), min(len(shown), len(actual)))


def _around_difference(shown: list[str], actual: list[str]) -> list[tuple[str, str]]:
    at = _first_difference(shown, actual)
    return [(shown[i] if i < len(shown) else "<end>", actual[i] if i < len(actual) else "<end>") for i in (at,)]


# --- running a page ---------------------------------------------------------------------


@dataclass
class PageRun:
    """What running one page did: how many blocks ran, which were only shown and why."""

    ran: int = 0
    not_run: list[tuple[str, str]] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)
    parsed: int = 0


def plan(blocks: list[Block]) -> PageRun:
    """The blocks a page leaves unrun, checked to say why, without running anything."""
    summary = PageRun()
    for index, block in enumerate(blocks):
        if block.kind == "output" and (index == 0 or not _runs(blocks[index - 1])):
            raise DocsError(f"{block.where}: `<!-- output -->` must follow a block that runs")
        if block.kind == "not run":
            if not block.value:
                raise DocsError(f"{block.where}: `<!-- not run: REASON -->` needs its reason")
            summary.not_run.append((block.where, block.value))
        elif block.lang in ("sh", "console") and block.kind not in ("file", "excerpt"):
            others = [c for c in _commands(block) if c[0] != "evstore"]
            if others:
                raise DocsError(
                    f"{block.where}: runs {shlex.join(others[0])!r}, which the docs test cannot run; "
                    "mark the block `<!-- not run: REASON -->` or show only evstore commands"
                )
    return summary


def check_data(blocks: list[Block]) -> int:
    """TOML, JSON and YAML blocks parse (a shown pyproject or CI file is at least valid);
    how many were checked."""
    parsers: dict[str, Callable[[str], object]] = {"toml": tomllib.loads, "json": json.loads, "yaml": _load_yaml}
    checked = 0
    for block in blocks:
        if block.lang in parsers:
            try:
                parsers[block.lang](block.body)
            except Exception as error:
                raise DocsError(f"{block.where}: this {block.lang} block does not parse: {error}") from error
            checked += 1
    return checked


def _load_yaml(text: str) -> object:
    import yaml  # type: ignore[import-untyped]  # mkdocs needs it, so it is where the docs are built

    return yaml.safe_load(text)


def run_page(page: Path, workdir: Path) -> PageRun:
    """Check the page's file blocks and data, then run its runnable blocks in order in
    ``workdir``."""
    blocks = blocks_of(page)
    summary = plan(blocks)
    summary.compared = check_files(blocks)
    check_names(blocks)
    summary.parsed = check_data(blocks)
    # The reader's shell has no EVSTORE_* settings the page does not show: one left in the
    # test's environment (EVSTORE_DB, EVSTORE_PLUGINS) would change what the code does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVSTORE_")} | {"NO_COLOR": "1", "COLUMNS": "120"}
    # A real module, so that classes the page defines (dataclasses, pydantic models) can
    # find the module they were defined in.
    module = types.ModuleType(f"docs_page_{page.stem}")
    sys.modules[module.__name__] = module
    try:
        _run_blocks(blocks, module.__dict__, workdir, env, summary)
    finally:
        del sys.modules[module.__name__]
    return summary


def _run_blocks(
    blocks: list[Block], namespace: dict[str, object], workdir: Path, env: dict[str, str], summary: PageRun
) -> None:
    for index, block in enumerate(blocks):
        if block.kind == "env":
            name, _, value = (part.strip() for part in block.value.partition("="))
            if name == "PYTHONPATH":  # relative to the repository, wherever the test runs
                value = os.pathsep.join(str(ROOT / entry) for entry in value.split(os.pathsep))
            env[name] = value
        if not _runs(block):
            continue
        expected = _declared_output(blocks, index)
        if block.lang == "python":
            printed = _run_python(block, namespace, workdir, env)
            if expected is not None:
                compare_output(block, printed, expected)
        else:
            _run_shell(block, workdir, env, expected)
        summary.ran += 1


def _runs(block: Block) -> bool:
    return block.lang in RUNNABLE and block.kind not in ("not run", "file", "excerpt", "output")


def _declared_output(blocks: list[Block], index: int) -> str | None:
    following = blocks[index + 1] if index + 1 < len(blocks) else None
    if following is not None and following.kind == "output":
        return following.body
    return None


def _run_python(block: Block, namespace: dict[str, object], workdir: Path, env: dict[str, str]) -> str:
    printed = io.StringIO()
    saved_env, saved_cwd, saved_path = dict(os.environ), Path.cwd(), list(sys.path)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(workdir)
    # What PYTHONPATH would give a new interpreter (the page's stand-in for installing a
    # package it wrote), this one gets on sys.path.
    sys.path[:0] = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(block.body, block.where, "exec"), namespace)
    except Exception as error:
        detail = "".join(traceback.format_exception(error)[-3:])
        raise DocsError(f"{block.where}: the block raised\n{block.body}\n{detail}") from error
    finally:
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return printed.getvalue()


def _commands(block: Block) -> list[list[str]]:
    lines = block.body.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    return [words for words in (shlex.split(line, comments=True) for line in lines) if words]


def _run_shell(block: Block, workdir: Path, env: dict[str, str], expected: str | None) -> None:
    evstore = str(Path(sys.executable).parent / "evstore")
    outputs = _console_outputs(block) if block.lang == "console" else {}
    for number, words in enumerate(_commands(block)):
        done = subprocess.run(
            [evstore, *words[1:]], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise DocsError(
                f"{block.where}: `{shlex.join(words)}` exited with {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        if number in outputs:
            compare_output(block, done.stdout + done.stderr, outputs[number])
    if expected is not None:
        raise DocsError(f"{block.where}: show a shell command's output in a `console` block, after its `$ ` line")


def _console_outputs(block: Block) -> dict[int, str]:
    """The expected output of each ``$ `` command of a console block, by its index."""
    outputs: dict[int, list[str]] = {}
    number = -1
    for line in block.body.splitlines():
        if line.startswith("$ "):
            number += 1
            outputs[number] = []
        elif number >= 0:
            outputs[number].append(line)
    return {n: "\n".join(lines) for n, lines in outputs.items() if any(s.strip() for s in lines)}


def compare_output(block: Block, actual: str, expected: str) -> None:
    if not output_matches(actual, expected):
        raise DocsError(
            f"{block.where}: the page shows output the code no longer prints.\n"
            f"shown:\n{textwrap.indent(expected.rstrip(), '  ')}\nprinted:\n{textwrap.indent(actual.rstrip(), '  ')}"
        )


def output_matches(actual: str, expected: str) -> bool:
    """Whether ``actual`` is ``expected``, line for line (trailing spaces aside), where
    ``...`` stands for any text in a line and a line of ``...`` for any lines."""
    pattern = []
    for line in expected.strip("\n").splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*?".join(re.escape(part) for part in line.rstrip().split("...")) + r"[ \t]*\n")
    text = "\n".join(line.rstrip() for line in actual.strip("\n").splitlines()) + "\n"
    return re.fullmatch("".join(pattern), text) is not None


def main(argv: list[str]) -> int:
    """``python tests/docs_support.py --sync [PAGE...]``: copy the files the pages show
    whole into them again (every page holding such blocks when none is named)."""
    if not argv or argv[0] != "--sync":
        print("usage: python tests/docs_support.py --sync [PAGE...]", file=sys.stderr)
        return 2
    pages = [Path(p).resolve() for p in argv[1:]] or sorted((ROOT / "docs").rglob("*.md"))
    for page in pages:
        for name in sync_files(page):
            print(f"{page.relative_to(ROOT)}: copied {name} again")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
