#!/usr/bin/env bash
# Install (if needed) and run the test suite: first in parallel (pytest-xdist, two workers), then
# the timing comparisons marked `serial`, alone, so the other worker does not compete for the
# cores. Extra arguments go to pytest, e.g. scripts/test.sh -m slow (the long profiles),
# scripts/test.sh tests/test_ops.py
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The browser tests of `cnnstat view` drive Debian's chromium (headless): install it when it is
# missing and can be (root with apt-get), as CI does, so that this command runs the same tests
# there and here. Without it those tests skip, saying why; the rest still runs.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser tests (apt-get) ..." >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "note: could not install chromium; the browser tests will skip" >&2
fi
.venv/bin/python -m pytest -n "${CNNSTAT_TEST_WORKERS:-2}" "$@"
status=0
.venv/bin/python -m pytest "$@" -m serial -q || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ]    # 5: the selection holds no serial test
