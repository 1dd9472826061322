"""Print pip constraints pinning every direct dependency at its declared floor.

Usage: python .ci/oldest.py > constraints.txt

Reads the dependencies (and core's ``testing`` and ``postgresql`` extras) of every
published distribution,
leaves out our own, and pins each at the highest floor any distribution declares: the
oldest version that the whole product allows. ``.ci/packaging`` installs the wheels
with these constraints and runs the smoke tests, so a floor that is not true fails CI.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = [ROOT / "core", *sorted(p.parent for p in ROOT.glob("plugins/[!_]*/pyproject.toml")),
           *sorted(p.parent for p in ROOT.glob("examples/*/pyproject.toml"))]


def main() -> None:
    projects = [tomllib.loads((folder / "pyproject.toml").read_text())["project"] for folder in FOLDERS]
    ours = {project["name"] for project in projects}
    floors: dict[str, Version] = {}
    for project in projects:
        declared = list(project.get("dependencies", []))
        if project["name"] == "evstore":
            declared += project["optional-dependencies"]["testing"] + project["optional-dependencies"]["postgresql"]
        for requirement in map(Requirement, declared):
            if requirement.name in ours:
                continue
            lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "~=", "==")]
            if not lows:
                sys.exit(f"{project['name']}: {requirement} has no floor to test")
            floors[requirement.name] = max(floors.get(requirement.name, lows[0]), *lows)
    for name in sorted(floors):
        print(f"{name}=={floors[name]}")


if __name__ == "__main__":
    main()
