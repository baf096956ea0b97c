#!/usr/bin/env bash
# A real single-machine Slurm cluster for the tests (Debian's slurm-wlm: no munge, no
# accounting, loopback only; see docs/cluster.md).
#   scripts/slurm.sh install                  install slurm-wlm when sbatch/slurmctld are missing
#   scripts/slurm.sh start DIR [PORT] [NODES] write DIR/slurm.conf, start slurmctld and one
#                                             slurmd per node, wait until every node is idle;
#                                             prints `export SLURM_CONF=...`. One node (the
#                                             default) is this host with 2 CPUs; NODES > 1 are
#                                             n1..nN of 1 CPU each, each its own slurmd on
#                                             127.0.0.1 with its own port (PORT+1+i)
#   scripts/slurm.sh up NODES [DIR]           the same, by hand (DIR: /tmp/ddim-slurm)
#   scripts/slurm.sh stop DIR | down [DIR]    stop every daemon it started, and the job
#                                             processes of its nodes (idempotent)
#   scripts/slurm.sh kill-node DIR NODE       a lost node: SIGKILL NODE's slurmd and every
#                                             process of its jobs at once (no signal a run sees)
#   scripts/slurm.sh revive-node DIR NODE     start NODE's slurmd again and wait until it is idle
# Every client (sbatch, squeue, scontrol, scancel) must see SLURM_CONF=DIR/slurm.conf.
set -euo pipefail

install() {
  if command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "slurm.sh: slurm-wlm is missing and installing it needs root (apt-get install slurm-wlm)" >&2
    exit 1
  fi
  echo "slurm.sh: installing slurm-wlm (Debian's Slurm) for the cluster tests"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null
}

# The processes of NODE's jobs (their environment says SLURMD_NODENAME=NODE) and the
# slurmstepd above each.
node_processes() {
  local node=$1 p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qx "SLURMD_NODENAME=$node"; then
      echo "$pid"
      local parent
      parent=$(awk '/^PPid:/ {print $2}' "$p/status" 2>/dev/null || true)
      if [ -n "$parent" ] && [ "$(cat "/proc/$parent/comm" 2>/dev/null)" = slurmstepd ]; then
        echo "$parent"
      fi
    fi
  done | sort -u
}

kill_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop() {
  local dir=$1 f node
  kill_pidfile "$dir/ctld.pid"
  for f in "$dir"/d*.pid; do
    [ -e "$f" ] || continue
    node=$(basename "$f" .pid)
    node=${node#d}
    kill_pidfile "$f"
    if [ -n "$node" ]; then
      node_processes "$node" | xargs -r kill -9 2>/dev/null || true
    fi
  done
}

kill_node() {
  local dir=$1 node=$2 pids
  pids="$(cat "$dir/d$node.pid" 2>/dev/null || true) $(node_processes "$node" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -9 $pids 2>/dev/null || true
  rm -f "$dir/d$node.pid"
  echo "slurm.sh: node $node lost (killed: $pids)"
}

revive_node() {
  local dir=$1 node=$2
  export SLURM_CONF="$dir/slurm.conf"
  [ -f "$dir/d$node.pid" ] && kill -0 "$(cat "$dir/d$node.pid")" 2>/dev/null || slurmd -N "$node"
  for _ in $(seq 300); do
    if [ "$(sinfo -h -n "$node" -o '%T' 2>/dev/null)" = idle ]; then
      return 0
    fi
    sleep 0.2
  done
  echo "slurm.sh: node $node did not come back within 60 s; logs in $dir/log" >&2
  exit 1
}

start() {
  local dir=$1 port=${2:-16817} nodes=${3:-1}
  local host i n
  host=$(hostname)
  mkdir -p "$dir/state" "$dir/log"
  local node_lines="" names=()
  if [ "$nodes" = 1 ]; then
    names=("$host")
    node_lines="NodeName=$host NodeAddr=127.0.0.1 Port=$((port + 1)) CPUs=2 RealMemory=8000 State=UNKNOWN"
  else
    for i in $(seq "$nodes"); do
      names+=("n$i")
      node_lines+="NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((port + 1 + i)) CPUs=1 RealMemory=4000 State=UNKNOWN"$'\n'
    done
  fi
  for n in "${names[@]}"; do mkdir -p "$dir/spool$n"; done
  cat > "$dir/slurm.conf" <<CONF
ClusterName=ddimtest
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool%n
SlurmctldPidFile=$dir/ctld.pid
SlurmdPidFile=$dir/d%n.pid
SlurmctldLogFile=$dir/log/ctld.log
SlurmdLogFile=$dir/log/d%n.log
SlurmdTimeout=10
SlurmUser=root
ReturnToService=2
MpiDefault=none
KillWait=10
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
$node_lines
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  stop "$dir"
  slurmctld -c
  for n in "${names[@]}"; do slurmd -N "$n"; done
  for _ in $(seq 150); do
    if [ "$(sinfo -h -N -o '%T' 2>/dev/null | grep -cx idle)" = "$nodes" ]; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm.sh: the nodes did not become idle within 30 s; logs in $dir/log" >&2
  stop "$dir"
  exit 1
}

case "${1:-}" in
  install) install ;;
  start) install; start "${2:?DIR}" "${3:-16817}" "${4:-1}" ;;
  up) install; start "${3:-/tmp/ddim-slurm}" 16817 "${2:?NODES}" ;;
  stop) stop "${2:?DIR}" ;;
  down) stop "${2:-/tmp/ddim-slurm}" ;;
  kill-node) kill_node "${2:?DIR}" "${3:?NODE}" ;;
  revive-node) revive_node "${2:?DIR}" "${3:?NODE}" ;;
  *) echo "usage: $0 install | start DIR [PORT] [NODES] | up NODES [DIR] | stop DIR | down [DIR] | kill-node DIR NODE | revive-node DIR NODE" >&2; exit 2 ;;
esac
