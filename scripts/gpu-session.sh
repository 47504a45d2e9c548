#!/usr/bin/env bash
# One rented-GPU session in one command: the checks and figures of scripts/gpu-check.sh,
# then training styles with the minutes left, on a machine that has the NVIDIA driver and
# a Python with PyTorch but no Rust, no FFmpeg and no internet. CARRY is the folder
# scripts/pack-gpu-carry.sh made here (binary, VGG19, photos, paintings, and a 1080p clip
# for the end-to-end figure when the binary has its own FFmpeg).
#
#   scripts/gpu-session.sh CARRY OUT [--minutes M] [--train-flags "FLAGS"] [NAME ...]
#
# OUT receives few files (such machines send back at most 8): check-summary.txt,
# check.tar.xz (every log and JSON of the check), NAME.safetensors for each style trained
# (exported at the step it reached), and train-logs.tar.xz. NAMEs are recipes of
# scripts/train-styles.sh (default: the-scream great-wave shipwreck); --minutes is the
# training time (default 4). --device cpu runs the same on the CPU, to try the script.
set -uo pipefail
carry="${1:?usage: scripts/gpu-session.sh CARRY OUT [--minutes M] [NAME ...]}"
out="${2:?usage: scripts/gpu-session.sh CARRY OUT [--minutes M] [NAME ...]}"
shift 2
minutes=4 device=cuda flags=""
names=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --train-flags) flags="$2"; shift 2 ;;
        *) names+=("$1"); shift ;;
    esac
done
[ ${#names[@]} -gt 0 ] || names=(the-scream great-wave shipwreck)
cd "$(dirname "$0")/.."
carry=$(cd "$carry" && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)
work=$(mktemp -d)

# The binary, unpacked with Python's lzma (xz itself may be missing there).
bin="$work/faststyle"
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$carry/faststyle.xz" "$bin" && chmod +x "$bin" || { echo "gpu-session: cannot unpack the binary" >&2; exit 1; }

if [ "$device" = cuda ]; then
    clip=()
    [ -f "$carry/clip-1080p.mp4" ] && clip=(--clip "$carry/clip-1080p.mp4")
    scripts/gpu-check.sh "$work/check" --binary "$bin" "${clip[@]}" > "$work/check.log" 2>&1
    cp "$work/check/summary.txt" "$out/check-summary.txt"
    tar -C "$work" -cJf "$out/check.tar.xz" check check.log
    cat "$out/check-summary.txt"
fi

export FASTSTYLE_VGG19="$carry/vgg19.safetensors"
scripts/train-styles.sh --bin "$bin" --device "$device" --paintings "$carry/paintings" \
    --dataset "$carry/photos" --out "$work/train" --minutes "$minutes" --checkpoint-every 200 \
    --train-flags "$flags" "${names[@]}" > "$work/train.log" 2>&1
for name in "${names[@]}"; do
    [ -f "$work/train/$name.safetensors" ] && cp "$work/train/$name.safetensors" "$out/"
    echo "$name: $(grep '^step' "$work/train/$name.log" 2>/dev/null | tail -1)"
done
(cd "$work" && tar -cJf "$out/train-logs.tar.xz" train.log train/*.log train/*.train/losses.csv train/*.train/preview-*.png 2>/dev/null)
ls -la "$out"
