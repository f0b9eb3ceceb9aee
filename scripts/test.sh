#!/usr/bin/env bash
# Install (if needed) and run the test suite. Extra arguments go to pytest,
# e.g. scripts/test.sh -m slow  (the long profiles), scripts/test.sh tests/test_ops.py
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest -n "${CNNSTAT_TEST_WORKERS:-2}" "$@"
