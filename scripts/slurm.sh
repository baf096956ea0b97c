#!/usr/bin/env bash
# A real single-machine Slurm cluster for the tests (Debian's slurm-wlm: no munge, loopback
# only; accounting on request; see docs/cluster.md).
#   scripts/slurm.sh install [accounting]     install slurm-wlm when sbatch/slurmctld are missing
#                                             (and slurmdbd, mariadb-server for accounting)
#   scripts/slurm.sh start DIR [PORT] [NODES] [accounting]
#                                             write DIR/slurm.conf, start slurmctld and one
#                                             slurmd per node, wait until every node is idle;
#                                             prints `export SLURM_CONF=...`. One node (the
#                                             default) is this host with 2 CPUs; NODES > 1 are
#                                             n1..nN of 1 CPU each, each its own slurmd on
#                                             127.0.0.1 with its own port (PORT+1+i)
#                                             With `accounting`: MariaDB (its database in
#                                             DIR/db, port PORT+NODES+3) and slurmdbd (port
#                                             PORT+NODES+2) first, so that sacct answers
#   scripts/slurm.sh up NODES [DIR] [accounting]  the same, by hand (DIR: /tmp/ddim-slurm)
#   scripts/slurm.sh stop DIR | down [DIR]    stop every daemon it started, and the job
#                                             processes of its nodes (idempotent)
#   scripts/slurm.sh kill-node DIR NODE       a lost node: SIGKILL NODE's slurmd and every
#                                             process of its jobs at once (no signal a run sees)
#   scripts/slurm.sh revive-node DIR NODE     start NODE's slurmd again and wait until it is idle
# Every client (sbatch, squeue, scontrol, scancel) must see SLURM_CONF=DIR/slurm.conf.
set -euo pipefail

install() {
  local want=(sbatch slurmctld slurmd) pkgs=(slurm-wlm) c missing=""
  if [ "${1:-}" = accounting ]; then
    want+=(slurmdbd mariadbd mariadb-install-db)
    pkgs+=(slurmdbd mariadb-server)
  fi
  for c in "${want[@]}"; do
    command -v "$c" >/dev/null || missing="$missing $c"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "slurm.sh:$missing missing; installing them needs root (apt-get install ${pkgs[*]})" >&2
    exit 1
  fi
  echo "slurm.sh: installing ${pkgs[*]} (Debian's) for the cluster tests"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # Debian's policy-rc.d keeps the packages' own services from starting in a container; ours
  # are started below, in DIR, on 127.0.0.1.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

# MariaDB with its database in DIR/db, then slurmdbd, both on 127.0.0.1.
start_accounting() {
  local dir=$1 dbd_port=$2 db_port=$3
  mkdir -p "$dir/db" "$dir/log"
  if [ ! -d "$dir/db/mysql" ]; then
    mariadb-install-db --datadir="$dir/db" --user=root --auth-root-authentication-method=normal \
      --skip-test-db > "$dir/log/db-install.log" 2>&1
  fi
  mariadbd --datadir="$dir/db" --socket="$dir/db.sock" --port="$db_port" --bind-address=127.0.0.1 \
    --pid-file="$dir/db.pid" --user=root --skip-grant-tables --log-error="$dir/log/db.log" \
    > /dev/null 2>&1 &
  for _ in $(seq 100); do [ -S "$dir/db.sock" ] && break; sleep 0.2; done
  cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/none
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=$dir/dbd.pid
LogFile=$dir/log/dbd.log
CONF
  chmod 600 "$dir/slurmdbd.conf"
  # slurmdbd reads slurmdbd.conf beside SLURM_CONF.
  slurmdbd
  for _ in $(seq 100); do
    sacctmgr -i add cluster ddimtest > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "slurm.sh: slurmdbd did not answer within 20 s; logs in $dir/log" >&2
  stop "$dir"
  exit 1
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
  kill_pidfile "$dir/dbd.pid"
  kill_pidfile "$dir/db.pid"
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
  local dir=$1 port=${2:-16817} nodes=${3:-1} accounting=${4:-}
  local host i n storage
  storage="AccountingStorageType=accounting_storage/none"
  if [ "$accounting" = accounting ]; then
    storage="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((port + nodes + 2))"
  fi
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
$storage
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
$node_lines
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  stop "$dir"
  if [ "$accounting" = accounting ]; then
    start_accounting "$dir" $((port + nodes + 2)) $((port + nodes + 3))
  fi
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
  install) install "${2:-}" ;;
  start) install "${5:-}"; start "${2:?DIR}" "${3:-16817}" "${4:-1}" "${5:-}" ;;
  up) install "${4:-}"; start "${3:-/tmp/ddim-slurm}" 16817 "${2:?NODES}" "${4:-}" ;;
  stop) stop "${2:?DIR}" ;;
  down) stop "${2:-/tmp/ddim-slurm}" ;;
  kill-node) kill_node "${2:?DIR}" "${3:?NODE}" ;;
  revive-node) revive_node "${2:?DIR}" "${3:?NODE}" ;;
  *) echo "usage: $0 install | start DIR [PORT] [NODES] [accounting] | up NODES [DIR] [accounting] | stop DIR | down [DIR] | kill-node DIR NODE | revive-node DIR NODE" >&2; exit 2 ;;
esac
