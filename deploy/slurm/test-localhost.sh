#!/usr/bin/env bash
# Runs submit.sh for real on a one-node Slurm cluster started here on localhost (Debian's
# slurmctld and slurmd, installed by scripts/setup.sh; authentication off, which is for
# tests only), then checks the joined video against its source: every frame once, the
# same timestamps, the audio packet for packet. Needs root (slurmd starts the jobs).
#
#   deploy/slurm/test-localhost.sh [FASTSTYLE_BINARY]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=$(realpath "${1:-$root/target/release/faststyle}")
work=$(mktemp -d)
host=$(hostname -s)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])'; }
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<CONF
ClusterName=faststyle-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
SlurmctldPort=$(port)
SlurmdPort=$(port)
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
cleanup() {
  kill "$(cat "$work/slurmd.pid" 2>/dev/null)" "$(cat "$work/slurmctld.pid" 2>/dev/null)" 2>/dev/null || true
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAILED: $*" >&2
  tail -n 20 "$work"/slurmctld.log "$work"/slurmd.log "$work"/film.mp4.chunks/*.log 2>/dev/null >&2 || true
  exit 1
}
slurmctld -i
slurmd
for _ in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 0.2
done
sinfo -h -o %T | grep -qx idle || fail "the node did not come up"

# A clip with B-frames and AAC audio; three chunks on the CPU (no GPU on this node).
ffmpeg -v error -f lavfi -i testsrc2=size=96x64:rate=25 -f lavfi -i sine=frequency=440 \
  -t 3 -c:v libx264 -bf 3 -g 12 -c:a aac "$work/film.mp4"
started=$(date +%s)
submitted=$(FASTSTYLE="$binary" GPUS_PER_TASK=0 FASTSTYLE_ARGS="--device cpu" \
  "$root/deploy/slurm/submit.sh" "$work/film.mp4" starry-night "$work/painted.mp4" 3)
echo "$submitted"
join_job=$(sed -n 's/.*join: job \([0-9]*\).*/\1/p' <<<"$submitted")
state=
for _ in $(seq 600); do
  state=$(scontrol show job "$join_job" -o | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL) break ;; esac
  sleep 0.5
done
[ "$state" = COMPLETED ] || fail "the join job ended $state"
echo "array and join done in $(($(date +%s) - started)) s"

frames() { ffprobe -v error -select_streams v -show_entries frame=pts_time -of csv=p=0 "$1" | tr -d , | grep -v '^$'; }
audio() { ffmpeg -v error -i "$1" -map 0:a -c copy -f md5 -; }
[ "$(frames "$work/painted.mp4" | wc -l)" = 75 ] || fail "the output does not have the 75 frames"
[ "$(frames "$work/painted.mp4")" = "$(frames "$work/film.mp4")" ] || fail "timestamps differ"
[ "$(audio "$work/painted.mp4")" = "$(audio "$work/film.mp4")" ] || fail "audio differs"
[ "$(ls "$work"/painted.mp4.chunks/chunk-*-of-0003.mp4 | wc -l)" = 3 ] || fail "not 3 chunks"
echo "PASSED: 3 array tasks and the join on a localhost Slurm cluster"
