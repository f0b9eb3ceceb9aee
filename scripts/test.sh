#!/usr/bin/env bash
# Install (if needed) and run the test suite: first in parallel (pytest-xdist, two workers), then
# the timing comparisons marked `serial`, alone, so the other worker does not compete for the
# cores. Extra arguments go to pytest, e.g. scripts/test.sh -m slow (the long profiles),
# scripts/test.sh tests/test_ops.py
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pytest -n "${CNNSTAT_TEST_WORKERS:-2}" "$@"
status=0
.venv/bin/python -m pytest "$@" -m serial -q || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ]    # 5: the selection holds no serial test
