#!/usr/bin/env bash
# The search benchmark (docs/benchmarks.md, "Search"): ddim-sweep's TPE and random search
# (and GP with --gp) against Optuna's TPESampler, side by side in one run, on Branin,
# Hartmann6 and a mixed space; 100 trials x 30 seeds at q = 1 and q = 4 with a simulated
# executor. Optuna (a bench dependency, never a runtime one) is installed into the project's
# environment (.venv) when missing.
# Then ours alone at q = 1 and q = 4 with RATIO_SEEDS seeds (default 1000, about a minute):
# the q = 4 against q = 1 ratio, which 30 seeds cannot resolve.
#   bash bench/search.sh [SEEDS] [TRIALS] [--gp]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$DDIM_ROOT"
SEEDS="${1:-30}"
TRIALS="${2:-100}"
SAMPLERS="tpe,random"
[[ "${3:-}" == "--gp" ]] && SAMPLERS="tpe,random,gp"
PY="$DDIM_VENV/bin/python"
if ! "$PY" -c 'import optuna' 2>/dev/null; then
  echo "bench: installing optuna (5.x) into $DDIM_VENV" >&2
  "$PY" -m pip install --quiet 'optuna>=5,<6'
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores); optuna $("$PY" -c 'import optuna; print(optuna.__version__)')"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
start=$(date +%s)
"$PY" bench/search_optuna.py "$SEEDS" "$TRIALS" > "$OUT/optuna.json"
echo "optuna: $(( $(date +%s) - start )) s"
cargo run --release --quiet --example search_bench -- \
  --optuna "$OUT/optuna.json" --seeds "$SEEDS" --trials "$TRIALS" --samplers "$SAMPLERS"
RATIO_SEEDS="${RATIO_SEEDS:-1000}"
echo
echo "q = 4 against q = 1, ours, $RATIO_SEEDS seeds:"
cargo run --release --quiet --example search_bench -- \
  --seeds "$RATIO_SEEDS" --trials "$TRIALS" --samplers tpe --qs 1,4 | grep -E 'q=[0-9]+ +tpe'
