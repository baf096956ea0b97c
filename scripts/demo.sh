#!/usr/bin/env bash
# The main job on the embedded default: set up, then train a DDIM on the built-in `shapes`
# dataset on the CPU (a few minutes on 2 cores) into runs/demo, with sample grids per epoch.
# Run it again and it continues an unfinished run, or says the run is complete.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$DDIM_ROOT/scripts/setup.sh"
cd "$DDIM_ROOT"
"$DDIM_BIN" train --run-dir runs/demo \
  dataset_name=shapes image_size=32 unet_widths=[32,64,96] epochs=8 max_images=2000 device=cpu "$@"
"$DDIM_BIN" sample runs/demo --n 36 --steps 20 --out runs/demo/samples/final.png
echo "demo: see runs/demo (run.json, scalars.csv, samples/*.png)"
