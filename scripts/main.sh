#!/usr/bin/env bash
# Install (if needed) and run the main job: analyze the headline models and write their reports
# under reports/ (index: reports/README.md), with a comparison across the whole zoo. The output is
# byte-for-byte reproducible; tests/test_report_committed.py fails when reports/ is out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/cnnstat report vgg16 googlenet resnet18 resnet50 resnet152 lenet5 alexnet mobilenet_v2 \
  --compare zoo --out reports
