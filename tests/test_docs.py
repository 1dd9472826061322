"""The documentation cannot drift from the code it shows.

- Every page holds its code itself, readable on GitHub and in an editor (no includes).
  Its Python blocks run, in order, on a scratch store in a scratch folder, and its
  ``evstore`` shell blocks run with this environment's evstore; shown output is compared.
  A block that equals a file the suite runs (the template plugin, the example) is
  compared with that file instead; ``python tests/docs_support.py --sync`` copies a
  changed file into the pages again. ``tests/docs_support.py`` says how a block is marked.
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

import docs_support
import pytest
from docs_support import (
    Block,
    DocsError,
    blocks_of,
    check_files,
    check_names,
    output_matches,
    plan,
    run_page,
    sync_files,
)

from evstore import hookspecs
from evstore.testing import hookdoc

ROOT = docs_support.ROOT
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_reference", DOCS / "reference" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Pages written by docs/reference/generate.py from the code: checked against it below, not run
# (a page it starts to generate is left out here by itself).
GENERATED = {Path(path).relative_to("docs").as_posix() for path in _generator().PAGES}
WRITTEN = [ROOT / "README.md", *(p for p in PAGES if p.relative_to(DOCS).as_posix() not in GENERATED)]


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix() if page.is_relative_to(DOCS) else page.name


def page_summary(page: Path) -> str:
    """The test id: the page and how many of its blocks are only shown, so the count is
    in every run's listing (`pytest -v`)."""
    try:
        shown_only = len(plan(blocks_of(page)).not_run)
    except DocsError:  # the test itself reports it
        return page_id(page)
    return f"{page_id(page)}, {shown_only} not run" if shown_only else page_id(page)


# --- the pages and their code ------------------------------------------------------------


@pytest.mark.parametrize("page", WRITTEN, ids=page_summary)
def test_the_page_code_runs_and_prints_what_it_shows(page: Path, tmp_path: Path) -> None:
    summary = run_page(page, tmp_path)
    for where, reason in summary.not_run:
        print(f"{where}: not run: {reason}")
    counts = f"{summary.ran} blocks run, {len(summary.compared)} compared, {len(summary.not_run)} not run"
    print(f"{page_id(page)}: {counts}")


@pytest.mark.parametrize("page", [*WRITTEN, *(DOCS / p for p in sorted(GENERATED))], ids=page_id)
def test_the_page_holds_its_code_itself(page: Path) -> None:
    # An include (pymdownx.snippets) shows nothing on GitHub or in an editor.
    includes = [line for line in page.read_text().splitlines() if re.match(r'^\s*-+8<-+\s+"', line)]
    assert not includes, f"{page_id(page)} includes code from elsewhere; write it in the page: {includes[0]}"


def test_a_shown_output_that_the_code_no_longer_prints_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1 + 1)\n```\n\n<!-- output -->\n```text\n3\n```\n")
    with pytest.raises(DocsError, match="no longer prints"):
        run_page(page, tmp_path)
    page.write_text(page.read_text().replace("3", "2"))
    assert run_page(page, tmp_path).ran == 1


def test_expected_output_may_elide_with_dots() -> None:
    assert output_matches("id 7 at 2026-01-01\nmore\nend\n", "id ... at ...\n...\nend")
    assert not output_matches("id 7 at 2026-01-01\nend\n", "id ... on ...\nend")
    assert not output_matches("a\nb\n", "a")


def test_a_block_copied_from_a_file_fails_once_the_file_changes(tmp_path: Path) -> None:
    template = "plugins/_template/src/evstore_template/_queries.py"
    source = (ROOT / template).read_text()
    good = Block(tmp_path / "page.md", 1, "python", source, "file", template)
    assert check_files([good]) == [template]
    changed = Block(good.page, 1, "python", source.replace("ORDER BY note", "ORDER BY text"), "file", template)
    with pytest.raises(DocsError, match="not that file"):
        check_files([changed])
    excerpt = Block(good.page, 1, "python", "def list_notes(store, workflow_id):\n", "excerpt", template)
    with pytest.raises(DocsError, match="no longer in"):
        check_files([excerpt])


def test_shown_code_must_say_where_its_names_come_from(tmp_path: Path) -> None:
    queries = "plugins/_template/src/evstore_template/_queries.py"
    body = "class Note(BaseModel):\n    added_at: datetime\n"
    uses = Block(tmp_path / "page.md", 9, "python", body, "excerpt", queries)
    with pytest.raises(DocsError, match="where 'BaseModel' comes from"):
        check_names([uses])
    imports = Block(uses.page, 1, "python", "from datetime import datetime\n\nfrom pydantic import BaseModel\n",
                    "excerpt", queries)
    check_names([imports, uses])  # an earlier block of the page may import them


def test_sync_copies_a_changed_file_into_its_blocks_again(tmp_path: Path) -> None:
    queries = "plugins/_template/src/evstore_template/_queries.py"
    page = tmp_path / "page.md"
    marker = f"<!-- file: {queries} -->"
    # Each later block keeps its first line, where the file is split again.
    later = "def list_notes(store: EventStore, workflow_id: str) -> list[Note]:"
    page.write_text(f"{marker}\n```python\nclass Note:\n    stale: int\n```\n\nThen:\n\n"
                    f"{marker}\n```python\n{later}\n    pass\n```\n")
    with pytest.raises(DocsError, match="not that file"):
        check_files(blocks_of(page))
    assert sync_files(page) == [queries]
    assert check_files(blocks_of(page)) == [queries]
    first, second = blocks_of(page)
    assert "\n\nThen:\n\n" in page.read_text() and second.body.startswith("def list_notes(store: EventStore")
    assert first.body.rstrip().endswith("added_at: datetime")


def test_a_block_not_run_must_say_why_and_other_commands_must_be_marked(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- not run: -->\n```python\nraise SystemExit\n```\n")
    with pytest.raises(DocsError, match="needs its reason"):
        plan(blocks_of(page))
    page.write_text("```sh\npip install evstore\n```\n")
    with pytest.raises(DocsError, match="cannot run"):
        plan(blocks_of(page))
    page.write_text("<!-- not run: installs into your environment -->\n```sh\npip install evstore\n```\n")
    assert plan(blocks_of(page)).not_run == [("page.md:2", "installs into your environment")]


def test_a_shell_block_runs_evstore_and_compares_its_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```console\n$ evstore --db s.db init\nnot what it says\n```\n")
    with pytest.raises(DocsError, match="no longer prints"):
        run_page(page, tmp_path)
    assert (tmp_path / "s.db").exists()


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


@pytest.mark.parametrize(
    "path",
    [
        "docs/reference/api.md", "docs/reference/plugins-api.md", "docs/reference/cli.md",
        "docs/reference/event-types.md", "docs/performance.md",
    ],
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


# Every command and option in docs/reference/cli.md, and their help: tests/test_cli_reference.py.


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
