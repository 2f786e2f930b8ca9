#!/usr/bin/env bash
# The test command: installs what is missing, then lint, type check, the unit layer at the lowest
# dependency versions pyproject.toml allows, and the test suite against the real local stack
# (started and stopped by the tests' session fixture).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh --run-slow` or `-k applier`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> import contracts (layers point down, no cycles; pyproject.toml [tool.importlinter])"
.venv/bin/lint-imports | sed -n '/^Contracts:/,$p' 
echo "==> floors: every direct dependency at the lowest version pyproject.toml allows, in .venv-floor"
# A floor nobody installs is a guess: install exactly the declared floors (scripts/floors.py reads
# them from both pyproject files) and run what needs no services: ruff, the unit layer, and the
# checks that every module imports and every command and the retry policy work with them.
# uv installs it: its wheel cache makes a fresh venv take seconds (pip's HTTP cache keeps nothing
# here), and a venv without pip skips ensurepip.
floor_start=$SECONDS
"${PYTHON:-python3}" -m venv --without-pip --clear .venv-floor
.venv/bin/pip --python .venv-floor/bin/python install -q uv
.venv/bin/python scripts/floors.py > .venv-floor/floors.txt
echo "floors: $(tr '\n' ' ' < .venv-floor/floors.txt)"
.venv-floor/bin/uv pip install -q --python .venv-floor/bin/python -c .venv-floor/floors.txt -e '.[test]' -e tools/
.venv-floor/bin/ruff check .
.venv-floor/bin/pytest -q -p no:cacheprovider tests/unit tests/deploy/test_dependencies.py
echo "floors: passed in $((SECONDS - floor_start))s"
echo "==> pytest"
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: the selection matched nothing" >&2
  exit 1
fi
exit "$rc"
