#!/usr/bin/env bash
# faststyle's network against onnxruntime running the same network (same layers, random
# weights of the same shapes), same sizes, same machine, one after the other in one run.
# Prints ms per frame for both and faststyle's time / onnxruntime's time.
#
#   benches/peers/compare.sh [--frames N] [--width W] [--out DIR]
#
# Installs onnxruntime into benches/peers/.venv on first use (PyPI). Needs the release
# binary (README set-up).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
frames=8
width=1.0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --frames) frames="$2"; shift 2 ;;
        --width) width="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet onnxruntime==1.32.0 onnx==1.23.2 numpy
fi
bin="$root/target/release/faststyle"
[ -x "$bin" ] || { echo "build first: cargo build --release --locked" >&2; exit 1; }

[ -n "$out" ] && mkdir -p "$out"
printf '%-14s %14s %14s %8s\n' "size x batch" "faststyle ms" "onnxrt ms" "ratio"
for case in 256x256:1 256x256:4 640x360:1; do
    size="${case%%:*}"; batch="${case##*:}"
    ours=$("$bin" bench --device cpu --size "$size" --batch "$batch" --frames "$frames" --width "$width" --json)
    peer=$("$venv/bin/python" "$here/onnx_peer.py" --size "$size" --batch "$batch" --frames "$frames" --width "$width")
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
