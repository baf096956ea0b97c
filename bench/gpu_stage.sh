#!/usr/bin/env bash
# Builds the release binary and copies it to .device/ddim-sweep (git-ignored), for carrying to a
# GPU machine that has Python torch 2.11 but no Rust: see bench/gpu_check.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
bash "$DDIM_ROOT/scripts/setup.sh" > /dev/null
mkdir -p "$DDIM_ROOT/.device"
cp "$DDIM_BIN" "$DDIM_ROOT/.device/ddim-sweep"
echo "staged $DDIM_ROOT/.device/ddim-sweep ($(du -h "$DDIM_ROOT/.device/ddim-sweep" | cut -f1)); carry .device"
