#!/usr/bin/env bash
# Speed of ddim-sweep against the same model in Python PyTorch (bench/torch_ref.py: same
# parameter count, AdamW, normaliser and step), side by side on each device, in one invocation:
#   1. training images/s, default model, 64x64, batch 64: ddim-sweep fp32 / bf16 / channels-last
#      against PyTorch fp32 (and PyTorch bf16 / with ddim-sweep's malloc setting), with ratios;
#   2. sampling samples/s (16 samples, 20 steps) and Inception features/s;
#   3. packed sweeps: 8 runs of one sweep with K = 1, 2, 4, 8 at once (`--jobs K` on the CPU,
#      `--gpus 0 --runs-per-gpu K` on a GPU): images/s summed over the runs, against K = 1.
#
# usage: bench/speed.sh [STEPS] [DEVICES]
#   STEPS    training steps per measurement (default: 20 on cpu, 300 on cuda)
#   DEVICES  "cpu", "cuda" or "cpu cuda" (default: cpu, then cuda when torch sees a GPU)
# environment: PACK_KS (default "1 2 4 8"; empty skips packing), PACK_RUNS (8),
#   PACK_STEPS per run (default 8 on cpu, 200 on cuda), PACK_SIZE (default 32 on cpu, 64 on cuda),
#   DDIM_BIN / DDIM_PYTHON to use another binary / Python with torch (e.g. on a GPU machine).
set -euo pipefail
bin=${DDIM_BIN:-}
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
DDIM_BIN=${bin:-$DDIM_BIN}
PY=${DDIM_PYTHON:-$DDIM_VENV/bin/python}
STEPS=${1:-}
DEVICES=${2:-}
if [ -z "$DEVICES" ]; then
  DEVICES=cpu
  if [ "$("$PY" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null)" = True ]; then
    DEVICES="cpu cuda"
  fi
fi
# What every figure below was measured on: the machine, its instruction sets, the versions.
"$DDIM_BIN" doctor | sed 's/^/# /'
echo
PACK_KS=${PACK_KS-1 2 4 8}
PACK_RUNS=${PACK_RUNS:-8}
NETWORK=${DDIM_INCEPTION:-$DDIM_VENV/inception/default_1.pt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DDIM_DATA="$tmp/data"
TIMEFORMAT=%R
results="$tmp/results.jsonl"

# The built-in shapes set has 4,000 images (3,200 for training): 50 steps of 64 per epoch.
# Prints "EPOCHS MAX_IMAGES" for S steps.
epochs_for() {
  local s=$1
  if [ "$s" -le 50 ]; then echo "1 $(((s * 64 * 5 + 3) / 4))"; else echo "$(((s + 49) / 50)) 4000"; fi
}

# Training of finished runs, from their scalars.csv (each epoch's images over its seconds):
# prints "RUNS IMAGES IPS STEPS": the runs, their training images, their images/s summed, and
# the last run's steps.
run_stats() {
  "$PY" - "$@" <<'PY'
import csv, sys
runs, images, ips, steps = 0, 0.0, 0.0, 0
for d in sys.argv[1:]:
    rows = [r for r in csv.DictReader(open(d + "/scalars.csv")) if r["images_per_s"]]
    n = sum(float(r["images_per_s"]) * float(r["seconds"]) for r in rows)
    runs, images, ips = runs + 1, images + n, ips + n / sum(float(r["seconds"]) for r in rows)
    steps = rows[-1]["step"]
print(runs, images, ips, steps)
PY
}

# The PyTorch reference; its errors are shown and stop the benchmark.
ref() {
  "$PY" "$DDIM_ROOT/bench/torch_ref.py" "$@" 2> "$tmp/ref.err" || { cat "$tmp/ref.err" >&2; return 1; }
}

record() { # device kind name value...
  "$PY" -c 'import json, sys; print(json.dumps(dict(device=sys.argv[1], kind=sys.argv[2], name=sys.argv[3], value=json.loads(sys.argv[4]))))' "$@" >> "$results"
}

bench_device() {
  local dev=$1 steps=${STEPS:-}
  [ -n "$steps" ] || { [ "$dev" = cpu ] && steps=20 || steps=300; }
  read -r epochs max < <(epochs_for "$steps")
  echo "== $dev: training $steps steps (default model, 64x64, batch 64)" >&2
  local name
  local names="fp32 bf16 channels_last bf16_channels_last"
  [ "$dev" = cpu ] || names="$names fp32_unfused"
  for name in $names; do
    local extra=() env=()
    case $name in
      bf16) extra=(precision=bf16) ;;
      channels_last) extra=(channels_last=true) ;;
      bf16_channels_last) extra=(precision=bf16 channels_last=true) ;;
      fp32_unfused) env=(DDIM_UNFUSED_ADAMW=1) ;;
    esac
    env "${env[@]}" "$DDIM_BIN" train --run-dir "$tmp/$dev-$name" dataset_name=shapes image_size=64 batch_size=64 \
      epochs="$epochs" max_images="$max" eval_every=0 sample_every=0 kid_images=0 device="$dev" \
      "${extra[@]}" > "$tmp/$dev-$name.log"
    read -r _ _ ips done_steps < <(run_stats "$tmp/$dev-$name")
    record "$dev" ours "$name" "$ips"
  done
  local ref_args=(--steps "$done_steps" --batch 64 --size 64 --device "$dev")
  local out
  out=$(ref "${ref_args[@]}")
  record "$dev" torch fp32 "$out"
  out=$(ref "${ref_args[@]}" --precision bf16)
  record "$dev" torch bf16 "$out"
  if [ "$dev" = cpu ]; then
    # PyTorch again with the allocator setting ddim-sweep makes for itself (glibc mmap threshold).
    out=$(MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 ref "${ref_args[@]}")
    record "$dev" torch fp32_malloc "$out"
  fi
  record "$dev" steps n "$done_steps"
  # Per-step overhead (host work per step, what bounds a small model on a GPU): batch 2 of
  # 16x16, 300 steps, where the arithmetic is small; with the fused and the unfused optimizer.
  local tiny=(dataset_name=shapes image_size=16 batch_size=2 epochs=1 max_images=750 eval_every=0
    sample_every=0 kid_images=0 device="$dev")
  "$DDIM_BIN" train --run-dir "$tmp/$dev-tiny" "${tiny[@]}" > /dev/null
  record "$dev" ours tiny "$(run_stats "$tmp/$dev-tiny" | cut -d' ' -f3)"
  DDIM_UNFUSED_ADAMW=1 "$DDIM_BIN" train --run-dir "$tmp/$dev-tiny-unfused" "${tiny[@]}" > /dev/null
  record "$dev" ours tiny_unfused "$(run_stats "$tmp/$dev-tiny-unfused" | cut -d' ' -f3)"
  out=$(ref --steps 300 --batch 2 --size 16 --device "$dev")
  record "$dev" torch tiny "$out"
  local s
  s=$({ time "$DDIM_BIN" sample "$tmp/$dev-fp32" --n 16 --steps 20 --device "$dev" --out "$tmp/g.png" > "$tmp/sample.txt"; } 2>&1)
  record "$dev" ours sample_s "$s"
  # The rate `sample` prints: weights loaded and 16 samples drawn, in the process.
  record "$dev" ours sample_rate "$(sed -n 's/.*s, \([0-9.]*\) samples\/s.*/\1/p' "$tmp/sample.txt")"
  if [ -f "$NETWORK" ]; then
    # Inception features/s: a run's KID on 66 vs 2 generated images (2 diffusion steps; the
    # real features cached by the first call), the difference divided by 64.
    export DDIM_INCEPTION="$NETWORK"
    "$DDIM_BIN" kid "$tmp/$dev-fp32" --n 2 --steps 2 --device "$dev" > /dev/null
    local k2 k66
    k2=$({ time "$DDIM_BIN" kid "$tmp/$dev-fp32" --n 2 --steps 2 --device "$dev" > /dev/null; } 2>&1)
    k66=$({ time "$DDIM_BIN" kid "$tmp/$dev-fp32" --n 66 --steps 2 --device "$dev" > /dev/null; } 2>&1)
    record "$dev" ours features_s "$("$PY" -c "print($k66 - $k2)")"
  fi
  [ -n "$PACK_KS" ] || return 0
  local pack_steps=${PACK_STEPS:-} size=${PACK_SIZE:-}
  [ -n "$pack_steps" ] || { [ "$dev" = cpu ] && pack_steps=8 || pack_steps=200; }
  [ -n "$size" ] || { [ "$dev" = cpu ] && size=32 || size=64; }
  read -r epochs max < <(epochs_for "$pack_steps")
  seeds=$(seq -s, 1 "$PACK_RUNS")
  cat > "$tmp/pack.yaml" <<EOF
label: pack
flags:
  dataset_name: shapes
  image_size: $size
  batch_size: 64
  epochs: $epochs
  max_images: $max
  eval_every: 0
  sample_every: 0
  kid_images: 0
  device: $dev
grid:
  seed: [$seeds]
EOF
  "$DDIM_BIN" data prepare dataset_name=shapes image_size="$size" max_images="$max" > /dev/null
  local k
  for k in $PACK_KS; do
    echo "== $dev: packed sweep, $PACK_RUNS runs of $pack_steps steps at ${size}x${size}, K=$k" >&2
    local slots=(--jobs "$k")
    [ "$dev" = cpu ] || slots=(--gpus 0 --runs-per-gpu "$k")
    local wall
    wall=$({ time "$DDIM_BIN" run "$tmp/pack.yaml" --runs-dir "$tmp/pack-$dev-$k" "${slots[@]}" > "$tmp/pack-$dev-$k.log" 2>&1; } 2>&1) ||
      { cat "$tmp/pack-$dev-$k.log" >&2; exit 1; }
    local n images summed
    read -r n images summed _ < <(run_stats "$tmp/pack-$dev-$k"/pack/*/)
    record "$dev" pack "$k" "{\"wall_s\": $wall, \"images\": $images, \"summed_ips\": $summed, \"runs\": $n, \"size\": $size, \"steps\": $pack_steps}"
  done
}

for dev in $DEVICES; do
  bench_device "$dev"
done

"$PY" - "$results" "$PACK_RUNS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = int(sys.argv[2])
for dev in dict.fromkeys(r["device"] for r in rows):
    get = lambda kind, name: next((r["value"] for r in rows if r["device"] == dev and r["kind"] == kind and r["name"] == name), None)
    ref = get("torch", "fp32")
    base = ref["images_per_s"]
    print(f"\ndevice {dev}: {ref['threads']} threads, default model ({ref['parameters']:,} parameters in both), "
          f"batch 64, 64x64, {get('steps', 'n')} steps")
    print(f"  training images/s   PyTorch fp32                    {base:9.1f}   ratio 1.00")
    for name, label in [("fp32", "fp32"), ("bf16", "precision=bf16"), ("channels_last", "channels_last=true"),
                        ("bf16_channels_last", "bf16 + channels_last"), ("fp32_unfused", "fp32 AdamW unfused")]:
        v = get("ours", name)
        if v is None:
            continue
        print(f"  training images/s   ddim-sweep {label:21s}{v:9.1f}   ratio {v / base:.2f}")
    bf = get("torch", "bf16")["images_per_s"]
    print(f"  training images/s   PyTorch bf16 autocast           {bf:9.1f}   ratio {bf / base:.2f}")
    tuned = get("torch", "fp32_malloc")
    if tuned:
        t = tuned["images_per_s"]
        print(f"  training images/s   PyTorch fp32, ddim-sweep's malloc setting {t:9.1f}   ddim-sweep fp32 / this {get('ours', 'fp32') / t:.2f}")
    tt = get("torch", "tiny")["images_per_s"] / 2
    tf, tu = get("ours", "tiny") / 2, get("ours", "tiny_unfused") / 2
    print(f"  per-step overhead   steps/s at batch 2, 16x16: PyTorch {tt:.1f}   ddim-sweep {tf:.1f} (ratio {tf / tt:.2f})"
          f"   ddim-sweep, AdamW unfused {tu:.1f} (ratio {tu / tt:.2f})")
    inproc = get("ours", "sample_rate")
    print(f"  sampling samples/s  16 samples, 20 steps: PyTorch {ref['samples_per_s']:.2f} (loop only, warm)   "
          f"ddim-sweep {inproc:.2f} (weights loaded and sampled, cold; ratio {inproc / ref['samples_per_s']:.2f})   "
          f"{16 / float(get('ours', 'sample_s')):.2f} (whole process)")
    f = get("ours", "features_s")
    if f is not None:
        print(f"  Inception features/s ddim-sweep {64 / float(f):8.2f} (299x299; includes sampling 64 images in 2 steps)")
    else:
        print("  Inception features/s: skipped, no network file (scripts/setup.sh fetches it)")
    packs = [r["value"] | {"k": int(r["name"])} for r in rows if r["device"] == dev and r["kind"] == "pack"]
    if packs:
        p0 = packs[0]
        how = "--jobs K" if dev == "cpu" else "--gpus 0 --runs-per-gpu K"
        print(f"  packed sweep: {runs} runs x {p0['steps']} steps at {p0['size']}x{p0['size']}, batch 64, {how}")
        k1 = next((p for p in packs if p["k"] == 1), p0)
        for p in packs:
            wall_ips = p["images"] / p["wall_s"]
            per_run = p["summed_ips"] / p["runs"]
            print(f"    K={p['k']}: wall {p['wall_s']:7.1f} s   sweep images/s {wall_ips:8.1f} (all images / wall, start-up included)"
                  f"   vs K={k1['k']} {wall_ips / (k1['images'] / k1['wall_s']):.2f}"
                  f"   training images/s per run {per_run:7.1f}, x K at once {per_run * p['k']:8.1f}")
        best = max(packs, key=lambda p: p["images"] / p["wall_s"])
        print(f"    fastest here: K={best['k']}")
PY
