#!/usr/bin/env bash
# Packs what a rented GPU machine needs for scripts/gpu-session.sh into one folder that
# fits the 64 MiB such a machine can be sent (it has the NVIDIA driver and a Python with
# PyTorch, but no Rust, no FFmpeg, no internet):
#   faststyle.xz         the binary, xz-compressed: build it with
#                        `cargo build --release --no-default-features --features cuda`
#                        (no FFmpeg libraries there, so no video feature)
#   vgg19.safetensors    VGG19 to block5_conv1, int8 weights with a scale per output
#                        channel (13 MB; examples/export_vgg19 --int8): on five photos its
#                        content and style losses were within 0.3% of the Keras file's
#   photos/              N training photos, longest side 384, JPEG quality 85
#   paintings/           the paintings of the shipped styles
#
#   scripts/pack-gpu-carry.sh DEST --binary PATH --paintings DIR [--photos N] DATASET...
#
# The photos are taken evenly from the datasets' sorted files (N in all, default 300).
# The project's scripts, benches and styles travel with the working tree itself, which
# counts towards the same 64 MiB: the script checks the sum.
set -euo pipefail
dest="" bin="" paintings="" count=300
datasets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) bin="$2"; shift 2 ;;
        --paintings) paintings="$2"; shift 2 ;;
        --photos) count="$2"; shift 2 ;;
        -*) echo "pack-gpu-carry: unknown option $1" >&2; exit 2 ;;
        *) if [ -z "$dest" ]; then dest="$1"; else datasets+=("$1"); fi; shift ;;
    esac
done
if [ -z "$dest" ] || [ -z "$bin" ] || [ -z "$paintings" ] || [ ${#datasets[@]} = 0 ]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
cd "$(dirname "$0")/.."
rm -rf "$dest" && mkdir -p "$dest/photos" "$dest/paintings"

# Symbols are a fifth of the binary and no use there.
strip -o "$dest/faststyle" "$bin" && xz -9 -T0 "$dest/faststyle"
cargo run --release --quiet --example export_vgg19 -- "$dest/vgg19.safetensors" --int8 > /dev/null
cp "$paintings"/*.jpg "$dest/paintings/"

mapfile -t all < <(find "${datasets[@]}" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort)
total=${#all[@]}
[ "$total" -gt 0 ] || { echo "pack-gpu-carry: no photos in ${datasets[*]}" >&2; exit 1; }
[ "$count" -gt "$total" ] && count=$total
for ((i = 0; i < count; i++)); do
    src="${all[$(( i * total / count ))]}"
    ffmpeg -v error -y -i "$src" -vf "scale='min(384,iw)':'min(384,ih)':force_original_aspect_ratio=decrease" \
        -q:v 4 "$dest/photos/$(printf '%04d' "$i").jpg"
done

size=$(( $(du -sb "$dest" | cut -f1) / 1048576 ))
tree=$(( $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) / 1048576 ))
echo "pack-gpu-carry: $dest holds $count photos, the paintings, VGG19 and the binary: $size MiB; with the working tree ($tree MiB): $((size + tree)) MiB"
if [ $((size + tree)) -ge 64 ]; then
    echo "pack-gpu-carry: over the 64 MiB a GPU machine can be sent; use fewer --photos" >&2
    exit 1
fi
