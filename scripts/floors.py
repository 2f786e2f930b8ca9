"""Print pip constraints that pin every direct dependency to its declared floor.

The floors are read from the two pyproject.toml files — [project].dependencies, every
[project.optional-dependencies] extra of the runtime, and the tools' dependencies — so the list of
floors is the one the project declares, never a second hand-kept list. A direct dependency without a
`>=` floor is an error: an untested lower bound is no bound.

    python scripts/floors.py > floors.txt
    pip install -c floors.txt -e '.[test]' -e tools/

Transitive dependencies are left to pip (the newest that fit), which is what a user installing our
lowest allowed versions today gets.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECTS = (ROOT / "pyproject.toml", ROOT / "tools" / "pyproject.toml")


def direct_requirements() -> list[Requirement]:
    """Every direct dependency that both pyproject files declare, ours excepted."""
    ours = set()
    declared: list[str] = []
    for path in PYPROJECTS:
        project = tomllib.loads(path.read_text())["project"]
        ours.add(canonicalize_name(project["name"]))
        declared += project.get("dependencies", [])
        for extra in project.get("optional-dependencies", {}).values():
            declared += extra
    return [r for r in map(Requirement, declared) if canonicalize_name(r.name) not in ours]


def floor(requirement: Requirement) -> str:
    """The version of the requirement's `>=` specifier."""
    lows = [s.version for s in requirement.specifier if s.operator == ">="]
    if len(lows) != 1:
        raise ValueError(f"{requirement}: a direct dependency needs exactly one `>=` floor")
    return lows[0]


def constraints() -> list[str]:
    # Extras (PyMySQL[rsa]) are not allowed in a constraints file: the package is pinned, the
    # requirement itself still brings the extra's dependencies.
    return sorted(f"{canonicalize_name(r.name)}=={floor(r)}" for r in direct_requirements())


def main() -> int:
    try:
        print("\n".join(constraints()))
    except ValueError as exc:
        print(f"scripts/floors.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
