"""The documentation cannot drift from the code it shows.

- Code in the pages is either included from a file the suite or CI runs
  (``--8<-- "path:section"``, pymdownx.snippets) or appears verbatim in one; the
  examples the pages show that live nowhere else live here, as tests.
- ``docs/hooks.md`` is generated from ``hookspecs.py``, and the reference pages in
  ``docs/reference/`` (Python API, plugin API, command line) from the code by
  ``docs/reference/generate.py``; all must be up to date.
- Every page is in the mkdocs nav, and ``mkdocs build --strict`` passes when mkdocs is
  installed (requirements-dev.txt installs it).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evstore import hookspecs
from evstore.testing import hookdoc

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
GENERATED = {"hooks.md", "reference/api.md", "reference/plugins-api.md", "reference/cli.md"}
# Files whose code the test suite or CI runs, so a snippet taken from them cannot rot.
TESTED = [
    *sorted((ROOT / "tests").glob("*.py")),
    *sorted((ROOT / "examples").rglob("*.py")),
    *sorted((ROOT / "plugins" / "_template").rglob("*.py")),
    ROOT / "plugins" / "_template" / "pyproject.toml",
]
INCLUDE = re.compile(r'^\s*-+8<-+\s+"(?P<path>[^":]+)(?::(?P<section>[a-z][-_0-9a-z]*))?"\s*$')
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def code_blocks(page: Path) -> list[tuple[str, str]]:
    return [(m["lang"], m["body"]) for m in FENCE.finditer(page.read_text())]


def section_lines(path: Path, section: str) -> list[str]:
    """The lines between ``--8<-- [start:section]`` and ``--8<-- [end:section]``."""
    lines = path.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if re.search(rf"-+8<-+ \[start:{section}\]", line)]
    ends = [i for i, line in enumerate(lines) if re.search(rf"-+8<-+ \[end:{section}\]", line)]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], (
        f"{path.relative_to(ROOT)} needs exactly one [start:{section}] before one [end:{section}]"
    )
    return lines[starts[0] + 1 : ends[0]]


# --- the examples the pages show --------------------------------------------------------


def test_getting_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVSTORE_PLUGINS", "steps")
    # --8<-- [start:getting-started]
    from evstore import NO_STREAM, EventStore, NewEvent

    store = EventStore.open("state.db")  # loads the installed plugins (here: evstore-steps)
    position = store.append(
        NewEvent(workflow_id="wf-1", event_type="step_started", step_id="plan", role="planner"),
        expected_version=NO_STREAM,  # this workflow must be new
    )
    with store.transaction():  # both events commit together, or neither does
        store.append(NewEvent(workflow_id="wf-1", event_type="step_completed", step_id="plan",
                              payload={"output": {"tasks": 3}}))
        store.append(NewEvent(workflow_id="wf-2", event_type="step_started", step_id="review", role="reviewer"))

    for event in store.read("wf-1"):
        print(event.id, event.version, event.event_type, event.payload)
    print(store.reader.fetchall("SELECT id, role, status FROM steps ORDER BY id"))
    store.close()
    # --8<-- [end:getting-started]
    assert position == 1


def test_transactions_example(tmp_path: Path) -> None:
    from evstore import EventStore, NewEvent

    store = EventStore.open(tmp_path / "s.db", permissive=True, autoload=False)
    a, b, c, d = (NewEvent(workflow_id="wf-1", event_type=f"e{n}") for n in range(4))
    # --8<-- [start:transaction]
    with store.transaction() as tx:
        tx.append(a)
        tx.append_many([b, c], expected_version=1)
        store.append(d)  # joins the open transaction on this thread
    # --8<-- [end:transaction]
    assert [e.event_type for e in store.read("wf-1")] == ["e0", "e1", "e2", "e3"]
    store.close()


def test_supervisor_facade_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    supervisor = pytest.importorskip("evstore_supervisor")
    monkeypatch.chdir(tmp_path)
    # --8<-- [start:supervisor]
    from evstore_supervisor import Database, Event, EventType  # was: from supervisor.core.state import ...

    db = Database(".supervisor/state.db")
    db.append_event(Event(workflow_id="wf-1", event_type=EventType.WORKFLOW_STARTED,
                          payload={"initial_step": "plan"}))
    db.append_event(Event(workflow_id="wf-1", event_type=EventType.STEP_STARTED, step_id="plan", role="planner"))
    print(db.get_step("plan"))
    with db.transaction() as conn:  # a sqlite3.Connection, as before
        db.create_feature("F1", "Login")  # joins the transaction
        print(conn.execute("SELECT COUNT(*) FROM features").fetchone()[0])
    db.rebuild_projections()  # every table again, from the log, identical
    db.close()
    # --8<-- [end:supervisor]
    assert isinstance(supervisor.Database, type)


# --- the pages and their code ------------------------------------------------------------


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_include_points_at_an_existing_section_of_a_tested_file(page: Path) -> None:
    for line in page.read_text().splitlines():
        include = INCLUDE.match(line)
        if not include:
            continue
        path = ROOT / include["path"]
        assert path.is_file(), f"{page.name} includes {include['path']}, which does not exist"
        assert path in TESTED, f"{page.name} includes {include['path']}, which no test or CI step runs"
        if include["section"]:
            assert any(s.strip() for s in section_lines(path, include["section"])), (
                f"{page.name}: section {include['section']!r} of {include['path']} is empty"
            )


@pytest.mark.parametrize("page", [p for p in PAGES if page_id(p) not in GENERATED], ids=page_id)
def test_literal_python_appears_verbatim_in_a_tested_file(page: Path) -> None:
    sources = [path.read_text() for path in TESTED]
    for lang, body in code_blocks(page):
        if lang != "python" or all(INCLUDE.match(line) for line in body.strip().splitlines()):
            continue
        lines = [line for line in body.strip().splitlines() if line.strip()]
        for source in sources:
            source_lines = [line.strip() for line in source.splitlines()]
            if _contains(source_lines, [line.strip() for line in lines]):
                break
        else:
            raise AssertionError(
                f"{page.name} shows Python that no tested file contains; include it from one instead:\n{body}"
            )


def _contains(haystack: list[str], needle: list[str]) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as consecutive non-blank lines."""
    hay = [line for line in haystack if line]
    return any(hay[i : i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    text = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s*([\w/-]+\.md)\s*$", text, re.MULTILINE))
    assert listed == {page_id(p) for p in PAGES}


# --- the hook reference ----------------------------------------------------------------


def test_the_hook_reference_is_generated_from_the_hookspecs() -> None:
    committed = (DOCS / "hooks.md").read_text()
    assert committed == hookdoc.generate(), (
        "docs/hooks.md is out of date: run `python -m evstore.testing.hookdoc > docs/hooks.md`"
    )


@pytest.mark.parametrize(
    "name", sorted(n for n, v in vars(hookspecs).items() if n.startswith("evstore_") and inspect.isfunction(v))
)
def test_every_hook_is_in_the_reference(name: str) -> None:
    page = (DOCS / "hooks.md").read_text()
    assert f"### `{name}`" in page, f"docs/hooks.md has no section for {name}"
    documented = {hook.name for hook in hookdoc.hooks_of(hookspecs)}
    assert name in documented


def test_the_reference_renders_parameters_returns_and_raising() -> None:
    [hook] = [h for h in hookdoc.hooks_of(hookspecs) if h.name == "evstore_after_commit"]
    text = hookdoc.render_docstring(hook.docstring)
    assert "- `store`: the store that committed." in text
    assert "**Returns:** nothing" in text and "Raising does not undo the append" in text
    assert hook.group.startswith("broadcasts")


# --- the reference pages generated from the code ------------------------------------------


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_reference", DOCS / "reference" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "path", ["docs/reference/api.md", "docs/reference/plugins-api.md", "docs/reference/cli.md", "docs/performance.md"]
)
def test_the_reference_pages_are_generated_from_the_code(path: str) -> None:
    generator = _generator()
    assert (ROOT / path).read_text() == generator.PAGES[path](), (
        f"{path} is out of date: run `python docs/reference/generate.py`"
    )


def test_the_api_reference_documents_every_public_name() -> None:
    import evstore
    import evstore.testing
    import evstore.testing.strategies

    page = (DOCS / "reference" / "api.md").read_text()
    for module in (evstore, evstore.testing, evstore.testing.strategies):
        for name in module.__all__:
            if name != "__version__" and not inspect.ismodule(getattr(module, name)):
                assert re.search(rf"^#+ `{re.escape(name)}(\(\))?`$", page, re.MULTILINE), (
                    f"docs/reference/api.md has no section for {module.__name__}.{name}"
                )
    assert "##### `EventStore.append()`" in page and "append(event: NewEvent, *," in page


def test_the_cli_reference_documents_every_command_and_option() -> None:
    import click

    from evstore._cli import cli

    page = (DOCS / "reference" / "cli.md").read_text()
    ctx = click.Context(cli, info_name="evstore")
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        assert f"## `evstore {name}`" in page, f"docs/reference/cli.md has no section for `evstore {name}`"
        section = page.split(f"## `evstore {name}`", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            if isinstance(param, click.Option):
                assert all(f"`{opt}`" in section for opt in param.opts), (name, param.opts)
    assert "Added by the `evstore-supervisor` plugin." in page.split("## `evstore demo`", 1)[1]


@pytest.mark.parametrize("page", ["reference/api.md", "reference/plugins-api.md", "reference/cli.md", "hooks.md",
                                  "performance.md"])
def test_reference_pages_read_without_building_the_site(page: str) -> None:
    # They hold their text and code themselves, so they read in Markdown as they are.
    assert not any(INCLUDE.match(line) for line in (DOCS / page).read_text().splitlines())


def test_the_generator_check_mode_names_stale_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _generator()
    for path in [*generator.PAGES, generator.BENCH_RUN]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((ROOT / path).read_text())
    (tmp_path / "docs" / "reference" / "cli.md").write_text("# stale\n")
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.stale_pages() == ["docs/reference/cli.md"]
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0 and generator.main(["--check"]) == 0


# --- the site builds ---------------------------------------------------------------------


def test_mkdocs_builds_the_site_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("pymdownx")
    env: dict[str, Any] = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )
    assert built.returncode == 0, built.stderr
    tutorial = (tmp_path / "site" / "tutorial" / "index.html").read_text()
    assert "evstore_plugin" in tutorial and "--8&lt;--" not in tutorial  # the declaration is included
