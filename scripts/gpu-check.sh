#!/usr/bin/env bash
# GPU checks, for a machine with an NVIDIA GPU: builds with CUDA, runs the whole test suite
# with the GPU as the default device (plus the CUDA-only tests, output shown), and
# benchmarks the network at 1280x720 and 1920x1080 in batches of 1, 4 and 8. Results go to
# the folder given as the argument:
#   nvidia-smi.txt, tests.log, bench-WxH-bN.json, summary.txt
#
#   scripts/gpu-check.sh OUT_DIR
#
# f16 inference is not implemented yet: every figure is f32 (summary.txt says so).
set -uo pipefail
out="${1:?usage: scripts/gpu-check.sh OUT_DIR}"
mkdir -p "$out"
cd "$(dirname "$0")/.."

nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed: no NVIDIA driver?" | tee -a "$out/nvidia-smi.txt"

if ! cargo build --release --locked --features cuda --all-targets > "$out/build.log" 2>&1; then
    echo "build with --features cuda failed; see $out/build.log" | tee "$out/summary.txt"
    exit 1
fi
bin=target/release/faststyle

cargo test --release --locked --features cuda -- --nocapture > "$out/tests.log" 2>&1
tests_rc=$?

: > "$out/summary.txt"
echo "tests (--features cuda, GPU default): exit $tests_rc; $(grep -c '^test .* ok$' "$out/tests.log") ok, $(grep -c 'SKIPPED' "$out/tests.log") skipped for want of CUDA" >> "$out/summary.txt"
echo "precision: f32 (f16 not implemented)" >> "$out/summary.txt"
for size in 1280x720 1920x1080; do
    for batch in 1 4 8; do
        json="$out/bench-$size-b$batch.json"
        if "$bin" bench --device cuda --size "$size" --batch "$batch" --frames 32 --json > "$json" 2> "$json.err"; then
            python3 - "$json" "$size" "$batch" >> "$out/summary.txt" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))["network"]
print(f"bench {sys.argv[2]} batch {sys.argv[3]}: {n['fps']:.1f} fps, {n['ms_per_frame']:.2f} ms/frame, {n['gflops']:.0f} GFLOP/s")
PY
        else
            echo "bench $size batch $batch: failed ($(tail -1 "$json.err"))" >> "$out/summary.txt"
        fi
    done
done
cat "$out/summary.txt"
exit $tests_rc
