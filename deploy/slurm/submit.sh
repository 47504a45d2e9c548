#!/usr/bin/env bash
# Stylizes one video on a Slurm cluster: an array of N chunk tasks (one GPU each) and a
# join step that waits for all of them.
#
#   deploy/slurm/submit.sh INPUT STYLE OUTPUT N [sbatch options...]
#
# INPUT, STYLE and OUTPUT must be on storage every node sees; the chunks go to
# OUTPUT.chunks/. Environment: FASTSTYLE (the binary, default `faststyle` on PATH),
# FASTSTYLE_ARGS (more `video` options, e.g. "--crf 20 --batch 8"), GPUS_PER_TASK
# (default 1; 0 for CPU nodes), MAX_PARALLEL (at most this many chunk tasks at once).
# Extra arguments go to both sbatch calls (--partition, --account, --time, ...).
# Prints the two job ids. Resubmitting resumes: finished chunks are skipped.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
input=$(realpath "$1") style=$2 output=$(realpath -m "$3") chunks=$4
shift 4
here=$(dirname "$(realpath "$0")")
case "$style" in */*) style=$(realpath "$style") ;; esac
chunk_dir="$output.chunks"
mkdir -p "$chunk_dir"
array="0-$((chunks - 1))${MAX_PARALLEL:+%$MAX_PARALLEL}"
gpus=()
if [ "${GPUS_PER_TASK:-1}" != 0 ]; then
  gpus=(--gpus-per-task="${GPUS_PER_TASK:-1}")
fi
export INPUT="$input" STYLE="$style" CHUNKS="$chunks" CHUNK_DIR="$chunk_dir" OUTPUT="$output"
cd "$chunk_dir"
array_job=$(sbatch --parsable --array="$array" --ntasks=1 "${gpus[@]}" --export=ALL "$@" \
  "$here/chunk.sbatch")
array_job=${array_job%%;*}
join_job=$(sbatch --parsable --dependency=afterok:"$array_job" --kill-on-invalid-dep=yes \
  --export=ALL "$@" "$here/join.sbatch")
echo "chunks: job $array_job (array $array), join: job ${join_job%%;*}; logs in $chunk_dir"
