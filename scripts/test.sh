#!/usr/bin/env bash
# The test command: installs what is missing, then lint, type check and the test suite against
# the real local stack (started and stopped by the tests' session fixture).
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
