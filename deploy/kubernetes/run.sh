#!/usr/bin/env bash
# Runs the chunk Job, waits for every index, then runs the join Job.
#   deploy/kubernetes/run.sh [NAMESPACE]
# The volume claim faststyle-data must exist and hold input.mp4; edit chunks-job.yaml for
# the number of chunks, the style and the image.
set -euo pipefail
here=$(dirname "$0")
ns=(--namespace "${1:-default}")
kubectl "${ns[@]}" apply -f "$here/chunks-job.yaml"
kubectl "${ns[@]}" wait --for=condition=complete --timeout=48h job/faststyle-chunks
kubectl "${ns[@]}" apply -f "$here/join-job.yaml"
kubectl "${ns[@]}" wait --for=condition=complete --timeout=2h job/faststyle-join
echo "done: output.mp4 on the faststyle-data volume"
