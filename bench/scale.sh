#!/usr/bin/env bash
# Readers of a runs folder at scale (issue 37): `runs`, `report --format json` and `report`
# (markdown, --no-images) on 10^3, 10^4 and 10^5 valid run folders with a search record
# (made by examples/make_runs.rs through the library: ids as `run` computes them); their time,
# peak memory and the fit of time against size (the exponent of a power law through the
# sizes: 1 is linear). Then `run --dry-run` of a search of 10^5 and 10^6 trials (random
# sampler, all in flight), and a GP search restarted with 100 and 1,000 trials on disk: the
# time to its first new decision against one suggestion's own cost.
#   bash bench/scale.sh [SIZES]     (default "1000 10000 100000")
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
sizes=${1:-"1000 10000 100000"}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ddim-scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$DDIM_ROOT"
cargo build --release --example make_runs -q
make_runs="$CARGO_TARGET_DIR/release/examples/make_runs"
# Wall seconds and peak resident MB of a command (its exit status ignored), "S MB".
measure() {
  "$DDIM_VENV/bin/python" - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.perf_counter() - t
print(f"{dt:.2f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
PY
}
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(date -u +%F)"
declare -A T
printf '%8s  %-22s  %-22s  %-22s\n' runs "runs (s, MB)" "report json (s, MB)" "report md (s, MB)"
for n in $sizes; do
  d="$tmp/r$n"
  gen=$( { /usr/bin/time -f %e "$make_runs" "$d" "$n" > /dev/null; } 2>&1 )
  read -r a am < <(measure "$DDIM_BIN" runs --runs-dir "$d")
  read -r b bm < <(measure "$DDIM_BIN" report --runs-dir "$d" --out "$tmp/o$n" --format json --no-images)
  read -r c cm < <(measure "$DDIM_BIN" report --runs-dir "$d" --out "$tmp/o$n" --no-images)
  T[$n]="$a $b $c"
  printf '%8d  %8s s %6s MB  %8s s %6s MB  %8s s %6s MB   (generated in %s s)\n' "$n" "$a" "$am" "$b" "$bm" "$c" "$cm" "$gen"
  rm -rf "$d" "$tmp/o$n"
done
# The exponent of time against size between the smallest and the largest size.
set -- $sizes
lo=$1; hi=${!#}
if [ "$lo" != "$hi" ]; then
  read -r l1 l2 l3 <<< "${T[$lo]}"
  read -r h1 h2 h3 <<< "${T[$hi]}"
  "$DDIM_VENV/bin/python" - "$lo" "$hi" "$l1" "$h1" "$l2" "$h2" "$l3" "$h3" <<'PY'
import math, sys
lo, hi = float(sys.argv[1]), float(sys.argv[2])
v = [float(x) for x in sys.argv[3:]]
for name, (a, b) in zip(["runs", "report json", "report md"], [(v[0], v[1]), (v[2], v[3]), (v[4], v[5])]):
    print(f"{name}: time ~ size^{math.log(b / a) / math.log(hi / lo):.2f} from {lo:.0f} to {hi:.0f} runs (the process's start included)")
PY
fi

# Planning a search: --dry-run of N trials, all in flight (the random sampler).
for n in 100000 1000000; do
  cat > "$tmp/plan$n.yaml" <<EOF
label: plan
flags:
  dataset_name: shapes
  device: cpu
search:
  sampler: random
  metric: kid
  trials: $n
  parallel: $n
  space:
    lr: loguniform(1e-5, 1e-2)
    seed: randint(0, 1000000000)
EOF
  read -r s mb < <(measure "$DDIM_BIN" run "$tmp/plan$n.yaml" --runs-dir "$tmp/empty" --dry-run)
  echo "run --dry-run of a search of $n trials: $s s, peak $mb MB"
done

# A GP search restarted: N trials on disk (the last 10 decided by the GP for N = 1000, 90 for
# N = 100), asked again as it is (every decision reused: the cost of resuming) and with one
# trial more (the first new decision: resuming plus one suggestion); for N = 100 also with
# the record's checks removed (every GP decision replayed, as before the checks).
for n in 100 1000; do
  d="$tmp/gp$n"
  startup=$((n - 10))
  [ "$n" = 100 ] && startup=10
  "$make_runs" "$d" "$n" gp "$startup" > /dev/null
  sed "s/trials: $n/trials: $((n + 1))/" "$d/gp.yaml" > "$d/gp_more.yaml"
  said=$("$DDIM_BIN" run "$d/gp.yaml" --runs-dir "$d" --dry-run | grep 'decision(s) reused' || true)
  read -r same _ < <(measure "$DDIM_BIN" run "$d/gp.yaml" --runs-dir "$d" --dry-run)
  read -r more mb < <(measure "$DDIM_BIN" run "$d/gp_more.yaml" --runs-dir "$d" --dry-run)
  echo "GP search with $n trials on disk ($((n - startup)) decided by the GP): resumed as it is in $same s; first new decision in $more s (peak $mb MB), so one suggestion costs about $(echo "$more - $same" | bc -l | xargs printf '%.2f') s"
  echo "  $said"
  if [ "$n" = 100 ]; then
    "$DDIM_VENV/bin/python" - "$d/gp/sweep.json" <<'PY'
import json, sys
p = sys.argv[1]
r = json.load(open(p))
for t in r["search"]["trials"]:
    t.pop("check", None)
json.dump(r, open(p, "w"))
PY
    read -r s0 _ < <(measure "$DDIM_BIN" run "$d/gp.yaml" --runs-dir "$d" --dry-run)
    echo "  without the record's checks (every GP decision replayed, as before): $s0 s"
  fi
done
