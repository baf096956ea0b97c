#!/usr/bin/env bash
# The main job on the embedded default: set up, run the demo sweep (sweeps/demo.yaml: 4 runs
# on the built-in `shapes` dataset, CPU-friendly) into runs/demo, then write its report to
# reports/demo/README.md (tables, sample grids, plots). Run it again: completed runs are
# skipped, interrupted ones resume, and the report reuses its pictures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$DDIM_ROOT/scripts/setup.sh"
cd "$DDIM_ROOT"
"$DDIM_BIN" run sweeps/demo.yaml --runs-dir runs --jobs 2 "$@"
"$DDIM_BIN" report --runs-dir runs --label demo --out reports
echo "demo: see reports/demo/README.md"
