#!/usr/bin/env bash
# Report speed: 1,000 generated run directories (50 epochs of scalars each); the first report
# makes the pictures, the next ones reuse them and must take well under a second.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$DDIM_VENV/bin/python" "$DDIM_ROOT/bench/make_runs.py" "$tmp/runs" 1000
TIMEFORMAT=%R
t() { { time "$@" > /dev/null; } 2>&1; }
echo "report of 1000 runs, tables only:        $(t "$DDIM_BIN" report --runs-dir "$tmp/runs" --out "$tmp/reports" --no-images) s"
echo "report of 1000 runs, making the pictures: $(t "$DDIM_BIN" report --runs-dir "$tmp/runs" --out "$tmp/reports" --device cpu) s"
for i in 1 2 3; do
  echo "report of 1000 runs, pictures reused:    $(t "$DDIM_BIN" report --runs-dir "$tmp/runs" --out "$tmp/reports" --device cpu) s"
done
