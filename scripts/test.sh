#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (idempotently), builds,
# then runs every test (unit tests beside the code, integration tests in tests/ that run the
# real binary on tiny CPU configurations).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$DDIM_ROOT/scripts/setup.sh"
# The cluster tests start their own Slurm (tests/slurm.rs): install it when it is missing.
bash "$DDIM_ROOT/scripts/slurm.sh" install
cd "$DDIM_ROOT"
cargo test --release "$@"
