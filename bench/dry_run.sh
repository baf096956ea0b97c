#!/usr/bin/env bash
# Planning speed: `run --dry-run` of generated sweeps of 1,000, 10,000 and 100,000 runs (a grid
# of 100 lr values times 10 / 100 / 1,000 seeds), and of the 100,000-run grid with a
# 20,000-rule exclude list (80,000 runs left). Prints the time of each and, for the larger
# ones, the time per run after the process's start (loading libtorch, timed alone) against
# the 10,000-run sweep's: a ratio near 1 (or below) means planning is linear. Peak memory
# (max RSS) of each, and memory per planned run above the process's own baseline. Last, the
# refusal of a 10^7-combination grid (over the 1,000,000-run limit): its time and peak memory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make() { # make FILE SEEDS EXCLUDES
  "$DDIM_VENV/bin/python" - "$@" <<'PY'
import sys
path, seeds, excludes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = "label: big\nflags:\n  dataset_name: shapes\n  device: cpu\ngrid:\n"
s += "  lr: [" + ", ".join(f"{(i + 1) * 1e-5:.6g}" for i in range(100)) + "]\n"
s += "  seed: [" + ", ".join(str(i + 1) for i in range(seeds)) + "]\n"
if excludes:
    s += "exclude:\n" + "".join(
        f"  - {{lr: {(i % 100 + 1) * 1e-5:.6g}, seed: {i // 100 + 1}}}\n" for i in range(excludes))
open(path, "w").write(s)
PY
}
TIMEFORMAT=%R
t() { { time "$@" > /dev/null 2>&1; } 2>&1; }
# Peak resident memory of a command, in MB (its exit status ignored: a refusal exits 2).
peak() {
  "$DDIM_VENV/bin/python" - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
PY
}
# The process's start, the least of three (it is most of a small sweep's time).
start=$(for _ in 1 2 3; do t "$DDIM_BIN" flags; done | sort -n | head -1)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "process start (ddim-sweep flags, least of 3): $start s"
base_mb=$(peak "$DDIM_BIN" flags)
echo "process baseline (ddim-sweep flags): $base_mb MB peak"
base=""
for n in 1000 10000 100000; do
  make "$tmp/s$n.yaml" $((n / 100)) 0
  s=$(t "$DDIM_BIN" run "$tmp/s$n.yaml" --runs-dir "$tmp/runs" --dry-run)
  mb=$(peak "$DDIM_BIN" run "$tmp/s$n.yaml" --runs-dir "$tmp/runs" --dry-run)
  echo "$n runs: peak $mb MB, $(echo "($mb - $base_mb) * 1024 / $n" | bc -l | xargs printf '%.2f') KB per planned run above the baseline"
  per=$(echo "($s - $start) / $n * 1000000" | bc -l)
  if [ "$n" = 1000 ]; then
    printf '%7d runs: %6.2f s\n' "$n" "$s"
    continue
  fi
  [ -z "$base" ] && base=$per
  printf '%7d runs: %6.2f s  (%5.1f us per run after the start, %.2f x the 10000-run sweep'"'"'s)\n' \
    "$n" "$s" "$per" "$(echo "$per / $base" | bc -l)"
done
make "$tmp/x.yaml" 1000 20000
s=$(t "$DDIM_BIN" run "$tmp/x.yaml" --runs-dir "$tmp/runs" --dry-run)
printf ' 100000 runs less 20000 exclude rules: %6.2f s\n' "$s"
# 10^7 combinations (7 flags x 10 values): refused before the plan is built.
"$DDIM_VENV/bin/python" - "$tmp/huge.yaml" <<'PY'
import sys
s = "label: huge\nflags:\n  dataset_name: shapes\n  device: cpu\ngrid:\n"
for f in ["epochs", "seed", "max_images", "checkpoint_every", "sample_every", "eval_every", "log_every"]:
    s += f"  {f}: [" + ", ".join(str(i + 1) for i in range(10)) + "]\n"
open(sys.argv[1], "w").write(s)
PY
s=$(t "$DDIM_BIN" run "$tmp/huge.yaml" --runs-dir "$tmp/runs" --dry-run || true)
mb=$(peak "$DDIM_BIN" run "$tmp/huge.yaml" --runs-dir "$tmp/runs" --dry-run)
msg=$("$DDIM_BIN" run "$tmp/huge.yaml" --runs-dir "$tmp/runs" --dry-run 2>&1 >/dev/null || true)
printf '10^7 combinations refused: %6.2f s, peak %s MB (%s MB above the baseline)\n  %s\n' \
  "$s" "$mb" "$((mb - base_mb))" "$msg"
