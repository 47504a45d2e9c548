#!/usr/bin/env bash
# faststyle's network against onnxruntime running the same network (same layers, random
# weights of the same shapes), same sizes, same machine, one after the other in one run.
# Prints ms per frame for both and faststyle's time / onnxruntime's time.
# With --train, the training step instead (transformer + VGG19 loss, batch 4, 256x256)
# against PyTorch on the CPU: ms per step for both and their ratio.
#
#   benches/peers/compare.sh [--frames N] [--width W] [--out DIR]
#   benches/peers/compare.sh --train [--steps N] [--width W] [--out DIR]
#
# --same-malloc runs the peer with the glibc setting faststyle applies to itself
# (src/allocator.rs: no mmap, no trimming, so freed buffers are reused); PyTorch's step
# gains from it too. Without it the peer runs as installed.
#
# Installs onnxruntime (or, for --train, PyTorch: a large download, its PyPI wheel brings
# the CUDA libraries) into benches/peers/.venv on first use. Needs the release binary and,
# for --train, the VGG19 weights (README set-up).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
frames=8
steps=3
train=0
width=1.0
out=""
export_malloc=0
while [ $# -gt 0 ]; do
    case "$1" in
        --frames) frames="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --train) train=1; shift ;;
        --width) width="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --same-malloc) export_malloc=1; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

peer_env=()
if [ "$export_malloc" = 1 ]; then
    peer_env=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000)
    echo "the peer runs with ${peer_env[*]}"
fi
venv="$here/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if [ "$train" = 1 ]; then
    "$venv/bin/python" -c 'import torch' 2>/dev/null ||
        "$venv/bin/pip" install --quiet torch==2.15.0 numpy
else
    "$venv/bin/python" -c 'import onnxruntime, onnx' 2>/dev/null ||
        "$venv/bin/pip" install --quiet onnxruntime==1.32.0 onnx==1.23.2 numpy
fi
bin="$root/target/release/faststyle"
[ -x "$bin" ] || { echo "build first: cargo build --release --locked" >&2; exit 1; }

[ -n "$out" ] && mkdir -p "$out"
if [ "$train" = 1 ]; then
    printf '%-14s %14s %14s %8s\n' "training step" "faststyle ms" "pytorch ms" "ratio"
    ours=$("$bin" bench --device cpu --train --size 256x256 --batch 4 --steps "$steps" --width "$width" --json)
    peer=$(env "${peer_env[@]}" "$venv/bin/python" "$here/torch_train_peer.py" --size 256x256 --batch 4 --steps "$steps" --width "$width")
    "$venv/bin/python" - "$ours" "$peer" "$out" <<'PY'
import json, os, sys
ours, peer, out = json.loads(sys.argv[1])["train"], json.loads(sys.argv[2]), sys.argv[3]
a, b = ours["ms_per_step"], peer["ms_per_step"]
print(f"{'256x256 x4':<14} {a:>14.0f} {b:>14.0f} {a / b:>8.2f}")
print(f"faststyle {ours['gflops']:.0f} GFLOP/s ({ours['gflop_per_step']:.0f} GFLOP a step); {peer['peer']}")
if out:
    with open(os.path.join(out, "train.jsonl"), "a") as f:
        f.write(json.dumps({"faststyle": ours, "pytorch": peer, "ratio": a / b}) + "\n")
PY
    exit 0
fi
printf '%-14s %14s %14s %8s\n' "size x batch" "faststyle ms" "onnxrt ms" "ratio"
for case in 256x256:1 256x256:4 640x360:1; do
    size="${case%%:*}"; batch="${case##*:}"
    ours=$("$bin" bench --device cpu --size "$size" --batch "$batch" --frames "$frames" --width "$width" --json)
    peer=$(env "${peer_env[@]}" "$venv/bin/python" "$here/onnx_peer.py" --size "$size" --batch "$batch" --frames "$frames" --width "$width")
    "$venv/bin/python" - "$case" "$ours" "$peer" "$out" <<'PY'
import json, os, sys
case, ours, peer, out = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
a, b = ours["network"]["ms_per_frame"], peer["ms_per_frame"]
print(f"{case.replace(':', ' x'):<14} {a:>14.1f} {b:>14.1f} {a / b:>8.2f}")
if out:
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write(json.dumps({"case": case, "faststyle": ours["network"], "onnxruntime": peer, "ratio": a / b}) + "\n")
PY
done
