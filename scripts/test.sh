#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (idempotently), builds,
# then runs every test (unit tests beside the code, integration tests in tests/ that run the
# real binary on tiny CPU configurations).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$DDIM_ROOT/scripts/setup.sh"
cd "$DDIM_ROOT"
cargo test --release "$@"
