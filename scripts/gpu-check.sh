#!/usr/bin/env bash
# GPU checks and figures, for a machine with an NVIDIA GPU. Everything goes to the folder
# given as the argument; summary.txt holds the results and ratios.
#
#   scripts/gpu-check.sh OUT_DIR                   # with a Rust toolchain
#   scripts/gpu-check.sh OUT_DIR --binary PATH     # with a faststyle built elsewhere
#                                                  # (--features cuda), no toolchain
#   ... --clip CLIP.mp4                            # also the end-to-end video figure
#                                                  # (a 1080p clip)
#
# For a machine with no Rust and no FFmpeg, scripts/pack-gpu-carry.sh packs a binary with
# its own static FFmpeg and a 1080p clip, and scripts/gpu-session.sh runs this script.
#
# 1. With a toolchain: builds with CUDA and runs the whole test suite with the GPU as the
#    default device, plus the CUDA-only tests (output shown).
# 2. Self-check, either way: the sample picture on the CPU and on the GPU in f32 must agree
#    within rounding, and the GPU's f16 within 1 level of its f32 (the CUDA training step of
#    part 4 is the other half).
# 3. The network: faststyle at 1280x720 and 1920x1080 in batches of 1, 4, 8 and 16 in f16
#    (its default on a GPU; f32 and bf16 at batch 4), and
#    PyTorch (cuDNN) on the same layers with random weights at its best: f32, TF32, f16
#    and bf16 autocast, the network in f16, channels_last, cudnn.benchmark, torch.compile
#    (benches/peers/torch_infer_peer.py). Prints faststyle's best fps / PyTorch's best, and
#    faststyle with its CubeCL kernels / with burn's composition of the same layers, and
#    frames as 8-bit 4:2:0 planes converted on the device (`bench --yuv`, the video road)
#    / as f32 RGB pictures.
# 4. The training step at 256x256, batch 4 and 8: faststyle (VGG19 with random weights,
#    the same work, so no weights file is needed) against PyTorch in f32 and with AMP
#    (bf16 and f16 autocast, channels_last; benches/peers/torch_train_peer.py). Prints
#    faststyle's ms per step / PyTorch AMP's best.
# 5. End to end, with --clip and a binary with video: the clip decoded, stylized on the GPU
#    (f16, frames as 4:2:0 planes, batch 8) and encoded with libx264, against the network
#    alone and the encoder's own pace (`bench --video`: each stage's fps when busy).
# PyTorch parts need a python3 with torch (and numpy, Pillow for the picture check); each
# part has a time limit, so that the whole run stays under 8 minutes.
set -uo pipefail
usage="usage: scripts/gpu-check.sh OUT_DIR [--binary PATH] [--clip CLIP.mp4]"
out="${1:?$usage}"
shift
bin="" clip=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) bin="${2:?--binary needs a path}"; shift 2 ;;
        --clip) clip="${2:?--clip needs a path}"; shift 2 ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -n "$bin" ] && bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -n "$clip" ] && clip=$(cd "$(dirname "$clip")" && pwd)/$(basename "$clip")
cd "$(dirname "$0")/.."
peers=benches/peers
python=${PYTHON:-python3}
started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started )) s"; }

nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed: no NVIDIA driver?" >> "$out/nvidia-smi.txt"
: > "$out/summary.txt"
note() { echo "$*" >> "$out/summary.txt"; }

tests_rc=0
if [ -z "$bin" ]; then
    if ! cargo build --release --locked --features cuda --all-targets > "$out/build.log" 2>&1; then
        note "build with --features cuda failed; see $out/build.log"
        exit 1
    fi
    bin=target/release/faststyle
    cargo test --release --locked --features cuda -- --nocapture > "$out/tests.log" 2>&1
    tests_rc=$?
    note "tests (--features cuda, GPU default): exit $tests_rc; $(grep -c '^test .* ok$' "$out/tests.log") ok, $(grep -c 'SKIPPED' "$out/tests.log") skipped for want of CUDA"
else
    note "tests: not run (prebuilt binary, no toolchain)"
fi

# 2. Self-check: the same picture through the CPU kernels and the GPU in f32, then the
#    GPU's default f16 against its f32.
run_image() { # NAME DEVICE PRECISION
    timeout 120 "$bin" image samples/still.png --device "$2" --precision "$3" -o "$out/image-$1.png" \
        --overwrite > "$out/image-$1.log" 2>&1 || note "image $1: failed ($(tail -1 "$out/image-$1.log"))"
}
run_image cpu cpu f32
run_image cuda-f32 cuda f32
run_image cuda-f16 cuda f16
compare_images() { # A B LABEL MAX_LEVELS
    [ -f "$out/image-$1.png" ] && [ -f "$out/image-$2.png" ] || return 0
    $python - "$out/image-$1.png" "$out/image-$2.png" "$3" "$4" >> "$out/summary.txt" 2>&1 <<'PY' ||
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in sys.argv[1:3])
d = np.abs(a - b)
off = (d > 1).mean()
verdict = "agree" if d.max() <= int(sys.argv[4]) or off <= 0.001 else "DIFFER"
print(f"{sys.argv[3]}: {verdict}: max difference {d.max()} levels, mean {d.mean():.3f}, "
      f"{off * 100:.3f}% of values off by more than 1")
PY
        note "$3: not compared (needs python3 with numpy and Pillow)"
}
compare_images cpu cuda-f32 "image cpu vs cuda, f32" 2
compare_images cuda-f32 cuda-f16 "image cuda f32 vs f16" 1
note "self-check done at $(elapsed)"

# 3. The network: faststyle, then PyTorch.
# f16 (the default) at every batch, f32 and bf16 at batch 4.
for size in 1280x720 1920x1080; do
    for run in f16:1 f16:4 f16:8 f16:16 f32:4 bf16:4; do
        precision=${run%:*} batch=${run#*:}
        json="$out/bench-$size-$precision-b$batch.json"
        if timeout 90 "$bin" bench --device cuda --precision "$precision" --size "$size" --batch "$batch" \
            --frames 32 --json > "$json" 2> "$json.err"; then
            $python - "$json" "$size" "$batch" >> "$out/summary.txt" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))["network"]
print(f"faststyle {sys.argv[2]} batch {sys.argv[3]} {n['precision']}: {n['fps']:.1f} fps, {n['ms_per_frame']:.2f} ms/frame, {n['gflops']:.0f} GFLOP/s")
PY
        else
            note "faststyle $size batch $batch $precision: failed ($(tail -1 "$json.err"))"
        fi
    done
done
# This crate's CubeCL kernels (instance norm, upsampling as four 2x2 convolutions) against
# burn's composition of the same layers (FASTSTYLE_REFERENCE_KERNELS=1), same batch.
for ref in 0 1; do
    FASTSTYLE_REFERENCE_KERNELS=$ref timeout 90 "$bin" bench --device cuda --precision f32 --size 1920x1080 \
        --batch 4 --frames 32 --json > "$out/bench-kernels-ref$ref.json" 2> "$out/bench-kernels-ref$ref.err" \
        || note "faststyle kernels A/B (reference $ref): failed ($(tail -1 "$out/bench-kernels-ref$ref.err"))"
done
$python - "$out/bench-kernels-ref0.json" "$out/bench-kernels-ref1.json" >> "$out/summary.txt" 2>/dev/null <<'PY' || true
import json, sys
own, ref = (json.load(open(f))["network"]["fps"] for f in sys.argv[1:3])
print(f"RATIO own kernels 1920x1080 batch 4 f32: {own:.1f} fps / burn's composition {ref:.1f} fps = {own / ref:.3f}")
PY
# The video road: 8-bit 4:2:0 frames up and down, converted on the device (--yuv), against
# f32 RGB pictures (the figures above), f16 at 1920x1080.
for batch in 4 8; do
    json="$out/bench-1920x1080-f16-b$batch-yuv.json"
    timeout 90 "$bin" bench --device cuda --precision f16 --size 1920x1080 --batch "$batch" --frames 32 \
        --yuv --json > "$json" 2> "$json.err" || note "faststyle --yuv batch $batch: failed ($(tail -1 "$json.err"))"
    $python - "$json" "$out/bench-1920x1080-f16-b$batch.json" "$batch" >> "$out/summary.txt" 2>/dev/null <<'PY' || true
import json, sys
yuv, rgb = (json.load(open(f))["network"]["fps"] for f in sys.argv[1:3])
print(f"RATIO 1920x1080 batch {sys.argv[3]} f16, frames as 8-bit 4:2:0 {yuv:.1f} fps / as f32 RGB {rgb:.1f} fps = {yuv / rgb:.3f}")
PY
done
note "faststyle network done at $(elapsed)"
torch=0
$python -c 'import torch; assert torch.cuda.is_available()' 2> "$out/torch.err" && torch=1
if [ $torch = 1 ]; then
    timeout 240 $python "$peers/torch_infer_peer.py" --device cuda --frames 32 --compile \
        > "$out/torch-infer.jsonl" 2> "$out/torch-infer.err" ||
        note "PyTorch network: stopped ($(tail -1 "$out/torch-infer.err"))"
    $python - "$out" >> "$out/summary.txt" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "torch-infer.jsonl")) if l.strip()]
best = {}
for r in rows:
    if "fps" in r and r["fps"] > best.get(r["size"], {}).get("fps", 0):
        best[r["size"]] = r
ours = {}
for f in glob.glob(os.path.join(out, "bench-*-b*.json")):
    try:
        n = json.load(open(f))["network"]
    except Exception:
        continue
    size = f"{n['width']}x{n['height']}"
    if n["fps"] > ours.get(size, (0, 0, ""))[0]:
        ours[size] = (n["fps"], n["batch"], n["precision"])
for size in sorted(set(best) | set(ours)):
    p, o = best.get(size), ours.get(size)
    if p:
        how = f"{p['precision']}{', channels_last' if p['channels_last'] else ''}{', compiled' if p['compiled'] else ''}"
        print(f"PyTorch {size}: best {p['fps']:.1f} fps (batch {p['batch']}, {how})")
    if p and o:
        print(f"RATIO network {size}: faststyle {o[0]:.1f} fps (batch {o[1]}, {o[2]}) / PyTorch best {p['fps']:.1f} fps = {o[0] / p['fps']:.3f}")
PY
else
    note "PyTorch: not run (no torch with CUDA: $(tail -1 "$out/torch.err"))"
fi
note "network comparison done at $(elapsed)"

# 4. The training step.
for batch in 4 8; do
    json="$out/train-b$batch.json"
    timeout 120 "$bin" bench --train --device cuda --random-vgg --size 256x256 --batch "$batch" --steps 5 --json \
        > "$json" 2> "$json.err" || note "faststyle training step batch $batch: failed ($(tail -1 "$json.err"))"
    if [ $torch = 1 ]; then
        for amp in off bf16 f16; do
            timeout 90 $python "$peers/torch_train_peer.py" --device cuda --amp "$amp" --channels-last \
                --size 256x256 --batch "$batch" --steps 10 > "$out/torch-train-b$batch-$amp.json" \
                2> "$out/torch-train-b$batch-$amp.err" ||
                note "PyTorch training step batch $batch amp $amp: failed ($(tail -1 "$out/torch-train-b$batch-$amp.err"))"
        done
    fi
    $python - "$out" "$batch" >> "$out/summary.txt" <<'PY'
import json, os, sys
out, batch = sys.argv[1], sys.argv[2]
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception:
        return None
ours = load(f"train-b{batch}.json")
if ours:
    t = ours["train"]
    print(f"faststyle training step batch {batch}: {t['ms_per_step']:.1f} ms/step ({t['precision']}, random VGG19)")
peer = {amp: load(f"torch-train-b{batch}-{amp}.json") for amp in ("off", "bf16", "f16")}
for amp, p in peer.items():
    if p:
        print(f"PyTorch training step batch {batch}, amp {amp}: {p['ms_per_step']:.1f} ms/step")
amps = [p["ms_per_step"] for a, p in peer.items() if p and a != "off"]
if ours and amps:
    print(f"RATIO training batch {batch}: faststyle {t['ms_per_step']:.1f} ms / PyTorch AMP best {min(amps):.1f} ms = {t['ms_per_step'] / min(amps):.3f} (under 1: faster)")
PY
done
note "training comparison done at $(elapsed)"

# 5. End to end.
if [ -z "$clip" ]; then
    note "end to end: SKIPPED (no --clip given)"
elif ! "$bin" video --help > /dev/null 2>&1; then
    note "end to end: SKIPPED (this binary has no video: build it with --features static-ffmpeg, README)"
else
    # The network alone is timed at 1080p, the size of gpu-bundle's clip.
    json="$out/bench-video.json"
    if timeout 150 "$bin" bench --device cuda --precision f16 --size 1920x1080 --batch 8 \
        --frames 32 --yuv --style the-scream --video "$clip" --json > "$json" 2> "$json.err"; then
        $python - "$json" >> "$out/summary.txt" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
n, v = f["network"], f["video"]
slower = min(n["fps"], v["encode_fps"])
print(f"end to end {v['file']}: {v['frames']} frames in {v['seconds']:.1f} s = {v['fps']:.1f} fps; "
      f"decode {v['decode_fps']:.1f}, stylize {v['stylize_fps']:.1f}, encode {v['encode_fps']:.1f} fps when busy; "
      f"network alone {n['fps']:.1f} fps ({n['width']}x{n['height']} batch {n['batch']} {n['precision']}, frames as {n['frames_as']})")
print(f"RATIO end to end {v['fps']:.1f} fps / the slower of network alone and encoder {slower:.1f} fps = {v['fps'] / slower:.3f}")
PY
    else
        note "end to end: failed ($(tail -1 "$json.err"))"
    fi
fi
note "end to end done at $(elapsed)"
cat "$out/summary.txt"
exit $tests_rc
