#!/usr/bin/env bash
# The program benchmark (docs/benchmarks.md, "Programs"), in one script on one machine:
# 1. orchestration cost per run: N runs (default 1000) of a Python program that prints one
#    value and exits, at --jobs 1 with TensorBoard files and the sources copy on; wall time
#    per run beyond the program's own (the same program started N times by a shell loop),
#    ours against GuildAI 0.9.0 running the same script over the same grid (GUILD_N runs,
#    default 50: GuildAI takes about a second a run). GuildAI is installed into its own
#    environment under .bench/ (a bench dependency, never a runtime one).
# 2. scalar intake: a program printing LINES (default 10^6) `name: value` lines with a stop
#    rule active: lines per second, and the peak memory and CPU time of `run` (its own; the
#    supervisors are its children), for 100 rows (epochs) and for 10^5 rows.
#   bash bench/programs.sh [N] [GUILD_N] [LINES]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$DDIM_ROOT"
N="${1:-1000}"
GUILD_N="${2:-50}"
LINES="${3:-1000000}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/ddim-sweep"
PY="$DDIM_VENV/bin/python"
GV="$DDIM_ROOT/.bench/guild"
if [[ ! -x "$GV/bin/guild" ]]; then
  echo "bench: installing guildai 0.9.0 into $GV" >&2
  "$PY" -m venv "$GV"
  "$GV/bin/python" -m pip install --quiet 'guildai==0.9.0'
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores); $("$GV/bin/guild" --version 2>/dev/null | head -1)"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
cat > "$W/prog.py" <<'PY'
import argparse
p = argparse.ArgumentParser()
p.add_argument("--x", type=int, default=0)
a = p.parse_args()
print(f"loss: {a.x / 1000}")
PY
ms() { python3 -c "import sys; print(f'{float(sys.argv[1]) * 1000:.1f}')" "$1"; }
now() { date +%s.%N; }

# The program alone, N times.
t0=$(now)
for i in $(seq 1 "$N"); do "$PY" "$W/prog.py" --x="$i" > /dev/null; done
alone=$(python3 -c "print(($(now) - $t0) / $N)")

# Ours: a grid of N values.
{
  echo "label: cost"
  echo "command: [$PY, prog.py]"
  echo "metrics: {loss: lower}"
  echo "grid:"
  echo "  x: [$(seq -s, 1 "$N")]"
} > "$W/cost.yaml"
t0=$(now)
"$BIN" run "$W/cost.yaml" --runs-dir "$W/runs" --jobs 1 --max-runs "$N" > "$W/ours.log"
ours=$(python3 -c "print(($(now) - $t0) / $N)")
done_runs=$("$BIN" runs --runs-dir "$W/runs" --status completed | tail -n +2 | wc -l)

# GuildAI: the same script over GUILD_N values.
# In a folder of its own: GuildAI copies the project folder's source files into each run.
export GUILD_HOME="$W/guild-home"
mkdir -p "$GUILD_HOME" "$W/guild-project"
cp "$W/prog.py" "$W/guild-project/"
cd "$W/guild-project"
t0=$(now)
"$GV/bin/guild" run prog.py "x=[$(seq -s, 1 "$GUILD_N")]" -y > "$W/guild.log" 2>&1 < /dev/null \
  || { echo "guild run failed:"; tail -20 "$W/guild.log"; exit 1; }
guild=$(python3 -c "print(($(now) - $t0) / $GUILD_N)")
guild_runs=$("$GV/bin/guild" runs -a 2>/dev/null | grep -c completed || true)
cd "$DDIM_ROOT"
echo
echo "1. Orchestration cost per run (--jobs 1):"
echo "   the program alone:     $(ms "$alone") ms a run ($N starts)"
echo "   ddim-sweep run:        $(ms "$ours") ms a run ($done_runs of $N completed): $(ms "$(python3 -c "print($ours - $alone)")") ms beyond the program"
echo "   guild run (0.9.0):     $(ms "$guild") ms a run ($guild_runs of $GUILD_N completed): $(ms "$(python3 -c "print($guild - $alone)")") ms beyond the program"
python3 -c "print(f'   GuildAI / ddim-sweep, beyond the program: {($guild - $alone) / ($ours - $alone):.1f}x')"

# 2. Scalar intake.
intake() { # ROWS: lines grouped into ROWS epochs
  local rows=$1
  cat > "$W/lines.py" <<PY
import sys
per = $LINES // $rows
out = sys.stdout
for e in range(1, $rows + 1):
    out.write(f"epoch: {e}\n")
    for i in range(per):
        out.write(f"loss: {1.0 / (e + i / per):.6f}\n")
PY
  cat > "$W/intake.yaml" <<YAML
label: intake$rows
command: [$PY, lines.py]
metrics: {loss: lower}
grid:
  k: [1, 2]
stop: {metric: loss, rule: median, after_epochs: 1000000, min_runs: 1}
YAML
  local t0 rt
  t0=$(now)
  /usr/bin/time -f "%M %U %S" -o "$W/time.txt" "$BIN" run "$W/intake.yaml" --runs-dir "$W/runs" --jobs 1 > /dev/null
  rt=$(python3 -c "print($(now) - $t0)")
  read -r rss user sys < "$W/time.txt"


  python3 -c "print(f'   {$rows:>7} rows: {2 * $LINES / $rt:,.0f} lines/s over 2 runs ({$rt:.1f} s); run: peak {int($rss) / 1024:.0f} MB, CPU {float($user) + float($sys):.1f} s')"
}
echo
echo "2. Scalar intake: $LINES lines per run, a median stop rule active:"
/usr/bin/time -f "%M" -o "$W/time.txt" "$BIN" run "$W/cost.yaml" --runs-dir "$W/runs" > /dev/null
echo "   baseline: \`run\` peak $(( $(cat "$W/time.txt") / 1024 )) MB (the sweep of part 1, all completed: libtorch mapped, nothing read)"
intake 100
intake 100000
