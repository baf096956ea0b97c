#!/usr/bin/env bash
# A real single-machine Slurm cluster for the tests (Debian's slurm-wlm: no munge, no
# accounting, loopback only; see the README's "On a cluster").
#   scripts/slurm.sh install          install slurm-wlm when sbatch/slurmctld are missing
#   scripts/slurm.sh start DIR [PORT] write DIR/slurm.conf, start slurmctld and slurmd, wait
#                                     until the node is idle; prints `export SLURM_CONF=...`
#   scripts/slurm.sh stop DIR         stop both daemons by their pid files (idempotent)
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

stop() {
  local dir=$1
  for f in "$dir/ctld.pid" "$dir/d.pid"; do
    [ -f "$f" ] || continue
    local pid
    pid=$(cat "$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

start() {
  local dir=$1 port=${2:-16817}
  local host
  host=$(hostname)
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  cat > "$dir/slurm.conf" <<EOF
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
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/ctld.pid
SlurmdPidFile=$dir/d.pid
SlurmctldLogFile=$dir/log/ctld.log
SlurmdLogFile=$dir/log/d.log
SlurmUser=root
ReturnToService=2
MpiDefault=none
KillWait=10
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  stop "$dir"
  slurmctld -c
  slurmd
  for _ in $(seq 150); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm.sh: the node did not become idle within 30 s; logs in $dir/log" >&2
  stop "$dir"
  exit 1
}

case "${1:-}" in
  install) install ;;
  start) install; start "${2:?DIR}" "${3:-16817}" ;;
  stop) stop "${2:?DIR}" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
