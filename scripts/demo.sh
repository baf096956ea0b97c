#!/usr/bin/env bash
# The main job on the embedded default: set up, run the demo sweep (sweeps/demo.yaml: 4 runs
# on the built-in `icons` dataset, CPU-friendly) into runs/demo, then write its report to
# reports/demo/README.md (tables, sample grids, plots). Run it again: completed runs are
# skipped, interrupted ones resume, and the report reuses its pictures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$DDIM_ROOT/scripts/setup.sh"
cd "$DDIM_ROOT"
# The demo trains in bf16 where this machine computes it natively (precision: auto), else in
# fp32, about half as fast on a CPU: there it trains 1,600 steps instead of 2,000, so that it
# still takes under 7 minutes on 2 cores. `ddim-sweep doctor` says which; docs/demo.md has the
# figures.
length=()
# (Captured first: `doctor | grep -q` could end doctor early with a broken pipe under pipefail.)
doctor=$("$DDIM_BIN" doctor)
if grep -q '^precision=auto -> bf16' <<< "$doctor"; then
  echo "demo: bf16 is native here: 2,000 steps per run"
else
  echo "demo: no native bf16 here (fp32 is about half as fast): 1,600 steps per run instead of 2,000 (--set epochs=16)"
  length=(--set epochs=16)
fi
"$DDIM_BIN" run sweeps/demo.yaml --runs-dir runs --jobs 2 "${length[@]}" "$@"
"$DDIM_BIN" report --runs-dir runs --label demo --out reports
echo "demo: see reports/demo/README.md"
