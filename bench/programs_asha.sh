#!/usr/bin/env bash
# ASHA on the PyTorch example (docs/benchmarks.md, "Programs"): examples/command/search.yaml
# (a TPE search of 16 trials, up to 27 epochs, --jobs 2) run twice in one script, with its
# ASHA stop rule and without it: the program-seconds spent (the sum of the runs' `seconds`)
# and the best val_loss reached by a trial that ran all its epochs.
#   bash bench/programs_asha.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$DDIM_ROOT"
cargo build --release --workspace --quiet
BIN="$CARGO_TARGET_DIR/release/ddim-sweep"
export PATH="$DDIM_VENV/bin:$PATH"   # python3 with torch
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
cp examples/command/train.py "$W/"
cp examples/command/search.yaml "$W/asha.yaml"
# The same search without its stop: block.
python3 - "$W/asha.yaml" "$W/full.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, _, tail = text.partition("stop:\n")
rest = "".join(l + "\n" for l in tail.splitlines() if not l.startswith("  "))
open(sys.argv[2], "w").write(head + rest)
PY
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores)"
for kind in asha full; do
  start=$(date +%s)
  "$BIN" run "$W/$kind.yaml" --runs-dir "$W/runs-$kind" --jobs 2 > "$W/$kind.log"
  wall=$(( $(date +%s) - start ))
  python3 - "$W/runs-$kind" "$kind" "$wall" <<'PY'
import glob, json, sys
runs = [json.load(open(p)) for p in glob.glob(f"{sys.argv[1]}/*/*/run.json")]
secs = sum(r.get("seconds", 0) for r in runs)
done = [r["metrics"]["val_loss"] for r in runs if r["status"] == "completed" and "val_loss" in r.get("metrics", {})]
stopped = sum(r["status"] == "stopped" for r in runs)
print(f"{sys.argv[2]:>5}: {len(runs)} trials, {stopped} stopped; program-seconds {secs:.0f}; wall {sys.argv[3]} s; "
      f"best val_loss of a completed trial {min(done):.4f}")
PY
done
