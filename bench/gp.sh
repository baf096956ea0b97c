#!/usr/bin/env bash
# Our GP against Optuna 5's GPSampler (docs/benchmarks.md, "Search"), side by side in one run:
# Branin and Hartmann6, q = 1, TRIALS trials (default 100) x SEEDS seeds (default 30); regret
# and time per suggestion. Optuna, with greenlet for its parallel L-BFGS-B (a bench dependency,
# never a runtime one), is installed into the project's environment when missing.
#   bash bench/gp.sh [SEEDS] [TRIALS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$DDIM_ROOT"
SEEDS="${1:-30}"
TRIALS="${2:-100}"
PY="$DDIM_VENV/bin/python"
if ! "$PY" -c 'import optuna, greenlet, torch' 2>/dev/null; then
  echo "bench: installing optuna 5 and greenlet into $DDIM_VENV" >&2
  "$PY" -m pip install --quiet 'optuna>=5,<6' greenlet
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores); optuna $("$PY" -c 'import optuna; print(optuna.__version__)'), torch $("$PY" -c 'import torch; print(torch.__version__)') (threads as installed)"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
start=$(date +%s)
"$PY" bench/gp_optuna.py "$SEEDS" "$TRIALS" > "$OUT/optuna_gp.json" 2>/dev/null
echo "optuna gp: $(( $(date +%s) - start )) s"
start=$(date +%s)
cargo run --release --quiet --example search_bench -- --gp-peer "$OUT/optuna_gp.json" --seeds "$SEEDS" --trials "$TRIALS"
echo "ours: $(( $(date +%s) - start )) s"
