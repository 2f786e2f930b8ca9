"""Jars from Maven Central: a small pom kept in the package, resolved once into a cache dir."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from binlog_pipeline.core.errors import StackError

JAVA_HINT = "install a Java 17+ runtime and Maven, e.g. `apt-get install -y openjdk-17-jre-headless maven`"


# What Maven prints when it cannot reach a repository at all (as opposed to a bad pom or a
# missing artifact, which are our bugs and must not be mistaken for "offline").
_UNREACHABLE = re.compile(
    r"Could not transfer|transfer failed|Connection refused|UnknownHost|Unknown host|"
    r"Network is unreachable|No route to host|timed out|Connect to .* failed|offline mode|"
    # an empty local repository and no repository to fetch the dependency plugin from
    r"No plugin found for prefix",
    re.IGNORECASE,
)


class MavenUnreachable(StackError):
    """Maven Central (or the configured mirror) could not be reached."""


def cache_dir(name: str) -> Path:
    """Jars are shared by every stack on the machine; ``stack down --purge`` keeps them."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "binlog-pipeline" / name / "lib"


def resolve(package: str, pom: str, lib: Path, what: str) -> Path:
    """``mvn dependency:copy-dependencies`` of ``package``'s ``pom`` into ``lib``, unless a
    previous run completed there."""
    if (lib / ".complete").exists():
        return lib
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise StackError(f"`{tool}` is not on PATH: {JAVA_HINT}")
    with resources.as_file(resources.files(package).joinpath(pom)) as pom_path:
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom_path),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={lib}",
            ],
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        error = MavenUnreachable if _UNREACHABLE.search(output) else StackError
        raise error(f"Maven could not resolve {what} from Maven Central:\n{output}")
    (lib / ".complete").write_text(pom)
    return lib
