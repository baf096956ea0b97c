#!/usr/bin/env bash
# Training speed, ddim-sweep against the same model in Python PyTorch (bench/torch_ref.py,
# same parameter count, AdamW, normaliser and step), side by side on the same device and
# threads: the default 64x64 model, batch 64, STEPS steps each. Also sampling (20 steps) and
# Inception features per second. usage: bench/speed.sh [STEPS] [DEVICE]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
STEPS=${1:-20}
DEVICE=${2:-cpu}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DDIM_DATA="$tmp/data"
max=$(( (STEPS * 64 * 5 + 3) / 4 ))
"$DDIM_BIN" train --run-dir "$tmp/run" dataset_name=shapes image_size=64 batch_size=64 epochs=1 \
  max_images=$max eval_every=0 sample_every=0 kid_images=0 device=$DEVICE > "$tmp/train.log"
ours=$(tail -1 "$tmp/run/scalars.csv" | awk -F, '{print $10}')
"$DDIM_BIN" train --run-dir "$tmp/run_bf16" dataset_name=shapes image_size=64 batch_size=64 epochs=1 \
  max_images=$max eval_every=0 sample_every=0 kid_images=0 device=$DEVICE precision=bf16 > "$tmp/train_bf16.log"
ours_bf16=$(tail -1 "$tmp/run_bf16/scalars.csv" | awk -F, '{print $10}')
steps=$(tail -1 "$tmp/run/scalars.csv" | awk -F, '{print $2}')
ref=$("$DDIM_VENV/bin/python" "$DDIM_ROOT/bench/torch_ref.py" --steps "$steps" --batch 64 --size 64 --device "$DEVICE" 2>/dev/null)
# PyTorch again with the allocator setting ddim-sweep makes for itself (glibc mmap threshold).
ref_tuned=$(MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 "$DDIM_VENV/bin/python" "$DDIM_ROOT/bench/torch_ref.py" --steps "$steps" --batch 64 --size 64 --device "$DEVICE" 2>/dev/null)
TIMEFORMAT=%R
sample_s=$({ time "$DDIM_BIN" sample "$tmp/run" --n 16 --steps 20 --device "$DEVICE" --out "$tmp/g.png" > /dev/null; } 2>&1)
# Inception features/s: a run's KID on 66 vs 2 generated images (2 diffusion steps; the real
# features cached by the first call), the difference divided by 64.
"$DDIM_BIN" kid "$tmp/run" --n 2 --steps 2 --device "$DEVICE" > /dev/null
k2=$({ time "$DDIM_BIN" kid "$tmp/run" --n 2 --steps 2 --device "$DEVICE" > /dev/null; } 2>&1)
k66=$({ time "$DDIM_BIN" kid "$tmp/run" --n 66 --steps 2 --device "$DEVICE" > /dev/null; } 2>&1)
feat_s=$("$DDIM_VENV/bin/python" -c "print($k66 - $k2)")
"$DDIM_VENV/bin/python" - "$ours" "$ref" "$sample_s" "$feat_s" "$steps" "$DEVICE" "$ref_tuned" "$ours_bf16" <<'PY'
import json, sys
ours, ref, sample_s, feat_s, steps, dev = float(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
tuned = json.loads(sys.argv[7])
bf16 = float(sys.argv[8])
print(f"device {dev}, {ref['threads']} threads, default model ({ref['parameters']:,} parameters in both), batch 64, 64x64, {steps} steps")
print(f"training images/s   ddim-sweep {ours:8.1f}   PyTorch {ref['images_per_s']:8.1f}   ratio {ours / ref['images_per_s']:.2f}")
print(f"training images/s   ddim-sweep {ours:8.1f}   PyTorch with the same malloc setting {tuned['images_per_s']:8.1f}   ratio {ours / tuned['images_per_s']:.2f}")
print(f"training images/s   ddim-sweep precision=bf16 {bf16:8.1f}   ratio to PyTorch fp32 {bf16 / ref['images_per_s']:.2f}")
print(f"sampling samples/s  ddim-sweep {16 / sample_s:8.2f} (16 samples, 20 steps, process start included)   PyTorch {ref['samples_per_s']:8.2f}")
print(f"Inception features/s ddim-sweep {64 / feat_s:8.2f} (299x299, batch 128; includes sampling 64 images in 2 steps)")
PY
