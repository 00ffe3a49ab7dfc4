#!/usr/bin/env bash
# Usage: Tools/run-pytest.sh PYTHON [PYTEST_ARGS...]
#
# Runs `PYTHON -m pytest` from the repository root (testpaths: Tests/) with a
# time limit on the whole run (PYTEST_TIMEOUT seconds, default 1800). At the
# limit pytest gets SIGABRT, so faulthandler prints every thread's traceback.
# Exit status 5 ("no tests collected") counts as success: a suite with no tests
# yet is not a failure. Every other non-zero status is passed on.
set -euo pipefail

python=$1
shift
cd "$(dirname "$0")/.."

echo "== pytest on $("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
status=0
timeout -s ABRT -k 30 "${PYTEST_TIMEOUT:-1800}" "$python" -m pytest "$@" || status=$?
case $status in
    0) ;;
    5) echo "pytest collected no tests (exit 5): not counted as a failure"; status=0 ;;
    124) echo "pytest did not finish within ${PYTEST_TIMEOUT:-1800} s" >&2 ;;
    *) echo "pytest failed (exit $status)" >&2 ;;
esac
exit $status
