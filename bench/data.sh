#!/usr/bin/env bash
# Dataset cache speed on a folder of real images (default: ../shared/data/emoji-google-64):
# cache build (parallel decode + resize) in images/s, cache load time, and how much faster an
# epoch's images come from the cache than from decoding them again.
# usage: bench/data.sh [FOLDER] [IMAGE_SIZE]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
FOLDER=${1:-$DDIM_ROOT/../shared/data/emoji-google-64}
SIZE=${2:-64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DDIM_DATA="$tmp/data"
args=(dataset_name=folder "data_dir=$FOLDER" image_size=$SIZE)
TIMEFORMAT=%R
build=$({ time "$DDIM_BIN" data prepare "${args[@]}" > "$tmp/build.txt"; } 2>&1)
load=$({ time "$DDIM_BIN" data prepare "${args[@]}" > "$tmp/load.txt"; } 2>&1)
startup=$({ time "$DDIM_BIN" flags > /dev/null; } 2>&1)
n=$(grep -o '[0-9]* train / [0-9]* validation' "$tmp/build.txt" | awk '{print $1 + $4}')
grep -q "decoded" "$tmp/build.txt"
grep -q "read from the cache" "$tmp/load.txt"
"$DDIM_VENV/bin/python" - "$n" "$build" "$load" "$startup" "$FOLDER" "$SIZE" <<'PY'
import sys
n, build, load, start = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
b, l = build - start, max(load - start, 1e-3)
print(f"{n} images of {sys.argv[5]} at {sys.argv[6]}x{sys.argv[6]} (process start {start:.2f} s taken off)")
print(f"cache build (decode + crop + resize, all cores): {b:.2f} s, {n / b:.0f} images/s")
print(f"cache load: {l:.3f} s")
print(f"an epoch's images from the cache instead of decoding: {b / l:.0f}x faster")
PY
