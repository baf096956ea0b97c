#!/usr/bin/env bash
# The main job on the embedded default: set up, then run the demo sweep (sweeps/demo.yaml:
# 4 runs on the built-in `shapes` dataset, a few minutes on 2 CPU cores) into runs/demo,
# and list its results. Run it again: completed runs are skipped, interrupted ones resume.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$DDIM_ROOT/scripts/setup.sh"
cd "$DDIM_ROOT"
"$DDIM_BIN" run sweeps/demo.yaml --runs-dir runs "$@"
"$DDIM_BIN" runs --runs-dir runs --label demo
