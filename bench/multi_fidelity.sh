#!/usr/bin/env bash
# The multi-fidelity benchmark (docs/benchmarks.md, "Multi-fidelity search"): ddim-sweep's
# TPE + Hyperband and GP + Hyperband (fitted on rungs), random + Hyperband, random + ASHA,
# plain TPE and GP
# (examples/mf_bench.rs) against Optuna 5's TPE + HyperbandPruner and + SuccessiveHalvingPruner
# and DEHB 0.1.2 (bench/mf_peers.py), side by side in one run, on mf-prior-bench 1.10's
# MFHartmann functions and a multi-fidelity Branin (BOCA's), sequentially (q = 1), each until
# BUDGET epochs are spent; the GP rows over GP_SEEDS seeds (their suggestions cost more). The peers
# (bench dependencies, never runtime ones) are installed into the project's environment when
# missing. First a check that our MFHartmann equals mf-prior-bench's without noise.
#   [PEERS_JSON=FILE] bash bench/multi_fidelity.sh [SEEDS] [BUDGET] [FUNCTIONS] [GP_SEEDS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$DDIM_ROOT"
SEEDS="${1:-20}"
BUDGET="${2:-3000}"
FUNCTIONS="${3:-mfh6_good,mfh6_bad,mfh3_good,mfbranin}"
GP_SEEDS="${4:-10}"
PY="$DDIM_VENV/bin/python"
if ! "$PY" -c 'import optuna, mfpbench, dehb' 2>/dev/null; then
  echo "bench: installing optuna 5, mf-prior-bench 1.10, dehb 0.1.2 into $DDIM_VENV" >&2
  "$PY" -m pip install --quiet 'optuna>=5,<6' 'mf-prior-bench==1.10.0' 'dehb==0.1.2'
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores); optuna $("$PY" -c 'import optuna; print(optuna.__version__)'), dehb 0.1.2, mf-prior-bench 1.10.0"
cargo build --release --quiet --example mf_bench
BIN="$CARGO_TARGET_DIR/release/examples/mf_bench"
# Our functions against mf-prior-bench's with the noise off, at random points and fidelities.
"$BIN" --check | "$PY" -c '
import json, sys, warnings
warnings.filterwarnings("ignore")
import mfpbench
worst = 0.0
for line in sys.stdin:
    name, bias, z, x, ours = json.loads(line)
    cfg = {f"X_{i}": v for i, v in enumerate(x)}
    if name == "mfbranin":
        sys.path.insert(0, "bench")
        from mf_peers import MFBranin
        theirs = MFBranin.value(x[0], x[1], z)
    else:
        b = mfpbench.get(name.split("_")[0], bias=bias, noise=0.0, seed=1)
        theirs = b.query(cfg, at=z).error
    worst = max(worst, abs(theirs - ours))
print(f"check: our MFHartmann against mf-prior-bench (noise off), our MF Branin against the copy in bench/mf_peers.py, largest difference {worst:.2e}")
assert worst < 1e-9
'
# PEERS_JSON: the peers' results are kept there, and read from there when it exists (the peers
# take minutes; their runs are reproducible: seeded, studies named).
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
PEERS="${PEERS_JSON:-$OUT/peers.json}"
if [[ -s "$PEERS" ]]; then
  echo "peers: read from $PEERS"
else
  start=$(date +%s)
  "$PY" bench/mf_peers.py "$SEEDS" "$BUDGET" "$FUNCTIONS" "$PEERS" 2>/dev/null
  echo "peers: $(( $(date +%s) - start )) s"
fi
echo "== q = 1"
"$BIN" --peers "$PEERS" --seeds "$SEEDS" --gp-seeds "$GP_SEEDS" --budget "$BUDGET" --functions "$FUNCTIONS"
# q = 4: ours only (the peers' parallel runs are not simulated), with the fraction of
# worker time idle under the search's contract; the GP rows left out (their cost).
echo "== q = 4 (ours)"
"$BIN" --q 4 --seeds "$SEEDS" --gp-seeds 0 --budget "$BUDGET" --functions "$FUNCTIONS"
