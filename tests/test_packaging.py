"""What a release publishes: one version, true bounds, complete metadata, long
descriptions that work on a package index.

The built artefacts themselves (wheels and sdists, ``twine check``, installing them into
fresh environments at the oldest and the newest allowed dependencies) are checked by
``.ci/packaging``, which CI runs; these tests read the sources and the installed metadata.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import evstore

ROOT = Path(__file__).resolve().parent.parent
VERSION = (ROOT / "VERSION").read_text().strip()
REPOSITORY = "https://github.com/evstore/evstore"
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml") if not p.parent.name.startswith("_"))
# The product: released together, at one version.
PRODUCT = [ROOT / "core", *PLUGINS]
# Released on their own schedule, as a third party's plugin would be.
OTHERS = [ROOT / "plugins" / "_template", *sorted(p.parent for p in (ROOT / "examples").glob("*/pyproject.toml"))]
PUBLISHED = [*PRODUCT, *OTHERS[1:]]
SETUPTOOLS_FLOOR = Version("77.0.3")
# Modules that a distribution imports under another distribution's name.
PROVIDED_BY = {"pydantic_core": "pydantic"}  # pydantic pins the pydantic-core it is built with


def project(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "pyproject.toml").read_text())


def name_of(folder: Path) -> str:
    return str(project(folder)["project"]["name"])


def requirements(folder: Path) -> list[Requirement]:
    meta = project(folder)["project"]
    found = [Requirement(r) for r in meta.get("dependencies", [])]
    for extra in meta.get("optional-dependencies", {}).values():
        found += [Requirement(r) for r in extra]
    return found


def ids(folder: Path) -> str:
    return str(folder.relative_to(ROOT))


# --- one version ---------------------------------------------------------------------


def test_the_version_file_holds_one_release_version() -> None:
    assert (ROOT / "VERSION").read_text() == f"{VERSION}\n"
    assert str(Version(VERSION)) == VERSION, "VERSION must be a normalised PEP 440 version"


@pytest.mark.parametrize("folder", PRODUCT, ids=ids)
def test_every_product_distribution_takes_its_version_from_the_one_file(folder: Path) -> None:
    meta = project(folder)
    assert "version" not in meta["project"], f"{ids(folder)}/pyproject.toml writes a version; use VERSION"
    assert "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"file": "VERSION"}
    link = folder / "VERSION"
    assert link.is_symlink() and link.resolve() == (ROOT / "VERSION").resolve(), (
        f"{ids(folder)}/VERSION must be a symbolic link to the repository's VERSION"
    )


@pytest.mark.parametrize("folder", PRODUCT, ids=ids)
def test_every_installed_product_distribution_has_the_version(folder: Path) -> None:
    installed = importlib_metadata.version(name_of(folder))
    assert installed == VERSION, (
        f"{name_of(folder)} is installed as {installed} but VERSION says {VERSION}: "
        "reinstall (`rm .venv/.installed && make install`)"
    )


def test_the_kernel_reports_the_version() -> None:
    assert evstore.__version__ == VERSION


def test_the_changelog_starts_with_this_version() -> None:
    headings = re.findall(r"^## \[?([^\]\s]+)\]?", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings and headings[0] == VERSION, f"CHANGELOG.md needs a section for {VERSION} first"


# --- dependencies --------------------------------------------------------------------


@pytest.mark.parametrize("folder", [*PRODUCT, *OTHERS], ids=ids)
def test_requirements_on_our_distributions_admit_this_release_and_bound_its_series(folder: Path) -> None:
    ours = {name_of(f) for f in PRODUCT}
    version = Version(VERSION)
    next_series = Version(f"{version.major}.{version.minor + 1}") if version.major == 0 else Version(
        f"{version.major + 1}"
    )
    for requirement in requirements(folder):
        if requirement.name not in ours:
            continue
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{ids(folder)}: {requirement} does not admit this release, {VERSION}"
        )
        assert not requirement.specifier.contains(next_series, prereleases=True), (
            f"{ids(folder)}: {requirement} has no upper bound below {next_series}, an incompatible series"
        )


@pytest.mark.parametrize("folder", [*PRODUCT, *OTHERS], ids=ids)
def test_every_requirement_has_a_floor(folder: Path) -> None:
    for requirement in requirements(folder):
        assert any(s.operator in (">=", "==", "~=") for s in requirement.specifier), (
            f"{ids(folder)}: {requirement} has no lower bound"
        )


@pytest.mark.parametrize("folder", [*PRODUCT, *OTHERS], ids=ids)
def test_every_imported_distribution_is_a_declared_dependency(folder: Path) -> None:
    # A dependency, or in an extra for the modules only that extra needs (the PostgreSQL backend).
    declared = {r.name.lower().replace("_", "-") for r in requirements(folder)}
    own = {p.name for p in (folder / "src").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for source in (folder / "src").rglob("*.py"):
        if "testing" in source.relative_to(folder / "src").parts:
            continue  # evstore.testing needs the `testing` extra (checked below)
        for module in _imported_top_level_modules(source):
            if module in sys.stdlib_module_names or module in own or module == "__future__":
                continue
            distribution = PROVIDED_BY.get(module, module).lower().replace("_", "-")
            assert distribution in declared, (
                f"{source.relative_to(ROOT)} imports {module} but {name_of(folder)} does not depend on {distribution}"
            )


def test_the_test_kit_needs_only_what_the_testing_extra_installs() -> None:
    extras = project(ROOT / "core")["project"]["optional-dependencies"]
    # Its PostgreSQL targets need the postgresql extra, and say so when it is missing.
    extra = {Requirement(r).name for r in [*extras["testing"], *extras["postgresql"]]}
    declared = {Requirement(r).name.replace("-", "_") for r in project(ROOT / "core")["project"]["dependencies"]}
    for source in (ROOT / "core" / "src" / "evstore" / "testing").rglob("*.py"):
        for module in _imported_top_level_modules(source):
            if module in sys.stdlib_module_names or module in ("evstore", "__future__"):
                continue
            assert module in extra or PROVIDED_BY.get(module, module) in declared, (
                f"{source.relative_to(ROOT)} imports {module}, which evstore[testing] does not install"
            )


def _imported_top_level_modules(source: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_the_all_extra_is_the_whole_product() -> None:
    extra = {Requirement(r).name for r in project(ROOT / "core")["project"]["optional-dependencies"]["all"]}
    assert extra == {name_of(f) for f in PLUGINS}, "evstore[all] must install every plugin of the product"


# --- metadata ------------------------------------------------------------------------


@pytest.mark.parametrize("folder", [*PRODUCT, *OTHERS], ids=ids)
def test_the_build_backend_floor_reads_a_license_expression(folder: Path) -> None:
    meta = project(folder)
    [setuptools] = [Requirement(r) for r in meta["build-system"]["requires"] if Requirement(r).name == "setuptools"]
    floors = [Version(s.version) for s in setuptools.specifier if s.operator == ">="]
    assert floors and min(floors) >= SETUPTOOLS_FLOOR, (
        f"{ids(folder)}: `license = \"MIT\"` (a PEP 639 expression) needs setuptools>={SETUPTOOLS_FLOOR}"
    )
    assert meta["project"]["license"] == "MIT"


@pytest.mark.parametrize("folder", PUBLISHED, ids=ids)
def test_every_published_distribution_carries_the_license(folder: Path) -> None:
    meta = project(folder)["project"]
    assert meta["license-files"] == ["LICENSE"]
    assert (folder / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "evstore developers" in (ROOT / "LICENSE").read_text()
    # PEP 639: a license expression replaces the license classifiers (setuptools refuses both).
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")]


@pytest.mark.parametrize("folder", PUBLISHED, ids=ids)
def test_every_published_distribution_has_complete_metadata(folder: Path) -> None:
    meta = project(folder)["project"]
    assert meta["readme"] == "README.md" and (folder / "README.md").is_file()
    assert meta["requires-python"] == ">=3.11"
    assert "Programming Language :: Python :: 3.11" in meta["classifiers"]
    assert "Typing :: Typed" in meta["classifiers"]
    assert meta["authors"] == [{"name": "evstore developers"}]
    assert all(url.startswith(REPOSITORY) for url in meta["urls"].values())
    assert "Source" in meta["urls"] and "Issues" in meta["urls"]


@pytest.mark.parametrize("folder", PRODUCT, ids=ids)
def test_every_product_distribution_links_its_changelog_and_docs(folder: Path) -> None:
    urls = project(folder)["project"]["urls"]
    assert {"Homepage", "Documentation", "Source", "Changelog", "Issues"} <= set(urls)
    for url in urls.values():
        _assert_repository_link_exists(url, f"{ids(folder)}/pyproject.toml")


# --- long descriptions ---------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize("folder", PUBLISHED, ids=ids)
def test_long_description_links_work_outside_the_repository(folder: Path) -> None:
    text = (folder / "README.md").read_text()
    published = {name_of(f) for f in PUBLISHED}
    for match in LINK.finditer(text):
        target = match["target"]
        assert target.startswith("https://"), (
            f"{ids(folder)}/README.md links to {target!r}, which breaks on a package index: use an absolute URL"
        )
        if target.startswith("https://pypi.org/project/"):
            assert target.removeprefix("https://pypi.org/project/").strip("/") in published, target
        else:
            _assert_repository_link_exists(target, f"{ids(folder)}/README.md")


def _assert_repository_link_exists(url: str, where: str) -> None:
    """A link into the repository's main branch must name a path that exists."""
    assert url.startswith((REPOSITORY, "https://pypi.org/")), f"{where}: {url} is neither the repository nor PyPI"
    match = re.match(rf"{re.escape(REPOSITORY)}/(?:blob|tree)/main/(?P<path>[^#?]+)", url)
    if match:
        assert (ROOT / match["path"]).exists(), f"{where} links to {match['path']}, which does not exist"


# The long descriptions' Python examples that stand on their own; they run as written.
RUNNABLE = ["core", "plugins/checkpoints", "plugins/metrics", "plugins/graph", "plugins/features",
            "plugins/supervisor"]


@pytest.mark.parametrize("folder", RUNNABLE)
def test_long_description_examples_run(folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = (ROOT / folder / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, f"{folder}/README.md", "exec"), {})


def test_the_graph_definition_example_is_valid() -> None:
    evstore_graph = pytest.importorskip("evstore_graph")
    text = (ROOT / "plugins" / "graph" / "README.md").read_text()
    [block] = re.findall(r"^```json\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    evstore_graph.GraphDefinition.model_validate(json.loads(block))


def test_the_ci_packaging_check_knows_every_distribution() -> None:
    script = (ROOT / ".ci" / "packaging").read_text()
    for folder in PUBLISHED:
        assert ids(folder) in script, f".ci/packaging does not build {ids(folder)}"
    assert os.access(ROOT / ".ci" / "packaging", os.X_OK)
