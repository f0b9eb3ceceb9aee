#!/usr/bin/env bash
# Install (if needed) and run the main job: analyze the headline models and write their reports
# under reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
for model in vgg16 resnet50; do
  .venv/bin/cnnstat summary "$model" --format md --out "reports/$model.md"
done
