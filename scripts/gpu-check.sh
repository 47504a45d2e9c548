#!/usr/bin/env bash
# GPU checks, for a machine with an NVIDIA GPU. Results go to the folder given as the
# argument: nvidia-smi.txt, tests.log, image-*.png, bench-WxH-bN.json, summary.txt
#
#   scripts/gpu-check.sh OUT_DIR                   # with a Rust toolchain
#   scripts/gpu-check.sh OUT_DIR --binary PATH     # with a faststyle built elsewhere
#                                                  # (--features cuda), no toolchain
#
# With a toolchain it builds with CUDA and runs the whole test suite with the GPU as the
# default device, plus the CUDA-only tests (output shown). Either way it stylizes the sample
# picture on the CPU and on the GPU and compares the two (the network is the same, so the
# pictures must agree within rounding), and benchmarks the network at 1280x720 and
# 1920x1080 in batches of 1, 4 and 8. f16 inference is not implemented: every figure is f32.
set -uo pipefail
out="${1:?usage: scripts/gpu-check.sh OUT_DIR [--binary PATH]}"
bin=""
[ "${2:-}" = "--binary" ] && bin="${3:?--binary needs a path}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -n "$bin" ] && bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
cd "$(dirname "$0")/.."

nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed: no NVIDIA driver?" | tee -a "$out/nvidia-smi.txt"
: > "$out/summary.txt"

tests_rc=0
if [ -z "$bin" ]; then
    if ! cargo build --release --locked --features cuda --all-targets > "$out/build.log" 2>&1; then
        echo "build with --features cuda failed; see $out/build.log" | tee "$out/summary.txt"
        exit 1
    fi
    bin=target/release/faststyle
    cargo test --release --locked --features cuda -- --nocapture > "$out/tests.log" 2>&1
    tests_rc=$?
    echo "tests (--features cuda, GPU default): exit $tests_rc; $(grep -c '^test .* ok$' "$out/tests.log") ok, $(grep -c 'SKIPPED' "$out/tests.log") skipped for want of CUDA" >> "$out/summary.txt"
else
    echo "tests: not run (prebuilt binary, no toolchain)" >> "$out/summary.txt"
fi
echo "precision: f32 (f16 not implemented)" >> "$out/summary.txt"

# The same picture through the CPU kernels and the GPU.
for d in cpu cuda; do
    "$bin" image samples/still.png --device "$d" -o "$out/image-$d.png" --overwrite \
        > "$out/image-$d.log" 2>&1 || echo "image on $d: failed ($(tail -1 "$out/image-$d.log"))" >> "$out/summary.txt"
done
if [ -f "$out/image-cpu.png" ] && [ -f "$out/image-cuda.png" ]; then
    python3 - "$out/image-cpu.png" "$out/image-cuda.png" >> "$out/summary.txt" 2>&1 <<'PY' ||
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in sys.argv[1:3])
d = np.abs(a - b)
verdict = "agree" if d.max() <= 2 else "DIFFER"
print(f"image cpu vs cuda: {verdict}: max difference {d.max()} levels, mean {d.mean():.3f}, "
      f"{(d > 1).mean() * 100:.3f}% of values off by more than 1")
PY
        echo "image cpu vs cuda: not compared (needs python3 with numpy and Pillow)" >> "$out/summary.txt"
fi

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
