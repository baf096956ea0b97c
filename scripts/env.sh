# Environment for building ddim-sweep against the project-local libtorch.
# Sourced by scripts/setup.sh, scripts/test.sh and scripts/demo.sh; source it yourself
# to call cargo by hand: `source scripts/env.sh && cargo build --release`.
DDIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DDIM_ROOT
export DDIM_VENV="${DDIM_VENV:-$DDIM_ROOT/.venv}"
export LIBTORCH="$DDIM_VENV/libtorch"
export LIBTORCH_CXX11_ABI=1
# Build outputs live outside the clone so that a fresh clone builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ddim-sweep/target}"
export DDIM_BIN="$CARGO_TARGET_DIR/release/ddim-sweep"
