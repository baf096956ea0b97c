#!/usr/bin/env bash
# All the GPU checks in one run, for a machine with a CUDA GPU and Python torch 2.11 but no Rust
# toolchain (build here, carry the binary): `bash bench/gpu_stage.sh` copies the release binary to
# .device/ddim-sweep (git-ignored); on the GPU machine `bash bench/gpu_check.sh [OUT]` then
#   0. prints `ddim-sweep doctor` (the GPU's name, compute capability and memory from the driver),
#   1. checks that the binary's libtorch sees the GPU (device=auto trains on cuda:0) and that
#      precision=auto resolves to bf16 on a GPU of compute capability >= 8.0 (run.json),
#   2. trains the same short run in fp32, bf16 and channels-last on the GPU and compares quality,
#   3. runs the benchmark's GPU rows (bench/speed.sh on cuda: PyTorch fp32/bf16 vs ddim-sweep
#      fp32/bf16/channels-last, sampling, and packed sweeps for K = 1, 2, 4, 8).
# Everything it prints is also written under OUT (default $OUT, else /tmp/gpu-check).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-${OUT:-/tmp/gpu-check}}
mkdir -p "$out"
export DDIM_BIN=${DDIM_BIN:-$PWD/.device/ddim-sweep}
export DDIM_PYTHON=${DDIM_PYTHON:-python3}
torch_lib=$("$DDIM_PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
DDIM_DATA=$(mktemp -d)
export DDIM_DATA
exec > >(tee "$out/gpu_check.txt") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$DDIM_PYTHON" -c 'import torch; print("python torch", torch.__version__, "cuda", torch.cuda.is_available())'

echo "== 0. doctor"
"$DDIM_BIN" doctor

echo "== 1. device=auto, precision=auto"
"$DDIM_BIN" train --run-dir "$out/auto" dataset_name=shapes image_size=32 epochs=1 max_images=640 \
  kid_images=0 sample_every=0 device=auto precision=auto | tail -3
grep -o '"device": *"[^"]*"' "$out/auto/run.json"
grep -q '"device": *"cuda:0"' "$out/auto/run.json" || { echo "FAIL: device=auto did not train on cuda:0"; exit 1; }
grep -o '"precision": *"[^"]*"' "$out/auto/run.json"
doctor=$("$DDIM_BIN" doctor)
if grep -q 'compute capability \(8\|9\|1[0-9]\)\.' <<< "$doctor"; then
  grep -q '"precision": *"bf16"' "$out/auto/run.json" || { echo "FAIL: precision=auto is not bf16 on a GPU of capability >= 8.0"; exit 1; }
fi

echo "== 2. quality on the GPU: 32 px, 3 epochs, 960 images"
for p in precision=fp32 precision=bf16 channels_last=true "precision=bf16 channels_last=true"; do
  d="$out/q-${p// /-}"
  # shellcheck disable=SC2086
  "$DDIM_BIN" train --run-dir "$d" dataset_name=shapes image_size=32 unet_widths=[32,64,96] epochs=3 \
    max_images=1200 lr=3e-3 kid_images=0 sample_every=0 device=cuda $p > "$d.log"
  "$DDIM_PYTHON" - "$d/run.json" "$p" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print(f"{sys.argv[2]:34s} val noise_loss {m['noise_loss']:.4f} val image_loss {m['image_loss']:.4f}")
PY
done

echo "== 3. benchmark"
bash bench/speed.sh "${STEPS:-}" cuda
