#!/bin/sh
# A program that is not Python: it reads its flags from the environment (DDIM_FLAG_<NAME>)
# and reports JSON lines to $DDIM_RUN_DIR/metrics.jsonl. The "training" is a made-up
# curve: loss falls towards a floor set by `rate` and `noise`.
set -eu
epochs=${DDIM_FLAG_EPOCHS:-10}
e=1
while [ "$e" -le "$epochs" ]; do
  awk -v e="$e" -v r="$DDIM_FLAG_RATE" -v n="$DDIM_FLAG_NOISE" -v s="$DDIM_SEED" 'BEGIN {
    srand(s + e); loss = n + exp(-r * e) + 0.01 * rand()
    printf "{\"epoch\": %d, \"loss\": %.6f}\n", e, loss }' >> "$DDIM_RUN_DIR/metrics.jsonl"
  e=$((e + 1))
  sleep 0.2
done
