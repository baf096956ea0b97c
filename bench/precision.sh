#!/usr/bin/env bash
# Training speed by precision and memory format on this CPU as it is (native) and with oneDNN's
# instruction set limited (ONEDNN_MAX_CPU_ISA, default AVX512_CORE: no AVX512-BF16/AMX), so one
# machine shows both kinds of CPU a user may have. Each cell: training images/s of one run on
# one thread (a `--jobs 2` sweep on 2 cores gives each run one), and its ratio to fp32 on the
# same ISA. Prints `doctor`'s header first.
#
# usage: bench/precision.sh [STEPS] [SIZE] [WIDTHS] [BATCH]
#   defaults: 300 steps of the demo's model (16 px, widths [32,64], batch 16, the `icons` set)
# environment: LIMITS (default "AVX512_CORE"; e.g. "AVX512_CORE AVX2"), THREADS (default 1)
set -euo pipefail
bin=${DDIM_BIN:-}
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
DDIM_BIN=${bin:-$DDIM_BIN}
PY=${DDIM_PYTHON:-$DDIM_VENV/bin/python}
STEPS=${1:-300}
SIZE=${2:-16}
WIDTHS=${3:-[32,64]}
BATCH=${4:-16}
LIMITS=${LIMITS:-AVX512_CORE}
THREADS=${THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DDIM_DATA="$tmp/data"

"$DDIM_BIN" doctor | sed 's/^/# /'
echo
# icons has 3,200 training images: STEPS steps of BATCH in one epoch.
max=$(( (STEPS * BATCH * 5 + 3) / 4 ))
ips() { # run dir -> training images/s over its epoch
  "$PY" -c 'import csv, sys; r = [x for x in csv.DictReader(open(sys.argv[1] + "/scalars.csv")) if x["images_per_s"]]; print(r[-1]["images_per_s"])' "$1"
}
echo "training images/s, $STEPS steps, ${SIZE} px, unet_widths=$WIDTHS, batch $BATCH, $THREADS thread(s)"
printf '%-22s %-16s %10s %10s\n' isa config images/s vs_fp32
for isa in native $LIMITS; do
  base=
  for cfg in fp32 fp32+cl bf16 bf16+cl auto auto+cl; do
    p=${cfg%+cl}; cl=false; [ "$cfg" != "$p" ] && cl=true
    env=(-u ONEDNN_MAX_CPU_ISA -u DNNL_MAX_CPU_ISA OMP_NUM_THREADS="$THREADS")
    [ "$isa" = native ] || env+=(ONEDNN_MAX_CPU_ISA="$isa")
    d="$tmp/$isa-$cfg"
    env "${env[@]}" "$DDIM_BIN" train --run-dir "$d" dataset_name=icons image_size="$SIZE" \
      unet_widths="$WIDTHS" batch_size="$BATCH" epochs=1 max_images="$max" eval_every=0 \
      sample_every=0 kid_images=0 device=cpu precision="$p" channels_last="$cl" > "$d.log"
    v=$(ips "$d")
    [ -n "$base" ] || base=$v
    resolved=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1] + "/run.json"))["precision"])' "$d")
    printf '%-22s %-16s %10.1f %9.2fx\n' "$isa" "$cfg ($resolved)" "$v" "$("$PY" -c "print($v / $base)")"
  done
done
