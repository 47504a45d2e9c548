#!/usr/bin/env bash
# Packs what a rented GPU machine needs for scripts/gpu-session.sh into one folder that
# fits the 64 MiB such a machine can be sent (it has the NVIDIA driver and a Python with
# PyTorch, but no Rust, no FFmpeg, no internet):
#   faststyle.xz         the binary, xz-compressed: build it with FFmpeg linked in
#                        statically (there is none there), after
#                        scripts/build-static-ffmpeg.sh, with
#                        `PKG_CONFIG_PATH=$PWD/target/static-ffmpeg/lib/pkgconfig cargo build
#                        --release --no-default-features --features cuda,static-ffmpeg`, or
#                        without video: `--no-default-features --features cuda`
#   clip-1080p.mp4       10 s of 1920x1080 H.264 and AAC made from samples/clip.mp4, for
#                        the end-to-end video figure (with a video binary only)
#   vgg19.safetensors    VGG19 to block5_conv1, int8 weights with a scale per output
#                        channel (13 MB; examples/export_vgg19 --int8): on five photos its
#                        content and style losses were within 0.3% of the Keras file's
#   photos/              N training photos, longest side 384, JPEG (ffmpeg -q:v 6)
#   paintings/           the paintings of the shipped styles
#
#   scripts/pack-gpu-carry.sh DEST --binary PATH --paintings DIR [--photos N] DATASET...
#
# The photos are taken evenly from the datasets' sorted files (N in all, default 300, fewer
# where they would not fit).
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
if "$bin" video --help > /dev/null 2>&1; then
    if ldd "$bin" | grep -E 'libav|libsw|libx264'; then
        echo "pack-gpu-carry: $bin loads the FFmpeg libraries above, which the GPU machine lacks; build it with --features static-ffmpeg" >&2
        exit 1
    fi
    ffmpeg -v error -y -stream_loop 2 -i samples/clip.mp4 -t 10 -vf scale=1920:1080:flags=bicubic \
        -c:v libx264 -preset fast -crf 36 -pix_fmt yuv420p -c:a copy "$dest/clip-1080p.mp4"
fi

mapfile -t all < <(find "${datasets[@]}" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort)
total=${#all[@]}
[ "$total" -gt 0 ] || { echo "pack-gpu-carry: no photos in ${datasets[*]}" >&2; exit 1; }
[ "$count" -gt "$total" ] && count=$total
for ((i = 0; i < count; i++)); do
    src="${all[$(( i * total / count ))]}"
    ffmpeg -v error -y -i "$src" -vf "scale='min(384,iw)':'min(384,ih)':force_original_aspect_ratio=decrease" \
        -q:v 6 "$dest/photos/$(printf '%04d' "$i").jpg"
done
bytes() { du -sb "$@" | awk '{s += $1} END {print s}'; }
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
limit=$(( 64 * 1048576 - 512 * 1024 ))
# Fewer photos where the rest leaves no room for them (a binary with video and the clip
# take about 4 MiB more than one without): keep an evenly spread subset of those made.
photos=$(bytes "$dest/photos")
room=$(( limit - tree - $(bytes "$dest") + photos ))
if [ "$photos" -gt "$room" ]; then
    fit=$(( count * room / photos ))
    [ "$fit" -ge 50 ] || { echo "pack-gpu-carry: room for only $fit photos under 64 MiB" >&2; exit 1; }
    echo "pack-gpu-carry: $count photos do not fit in 64 MiB; keeping $fit"
    keep=()
    for ((i = 0; i < fit; i++)); do keep[$(( i * count / fit ))]=1; done
    for ((i = 0; i < count; i++)); do
        [ -n "${keep[$i]:-}" ] || rm "$dest/photos/$(printf '%04d' "$i").jpg"
    done
    count=$fit
fi

size=$(bytes "$dest")
mib() { echo "$(( $1 / 1048576 )).$(( $1 % 1048576 * 10 / 1048576 ))"; }
echo "pack-gpu-carry: $dest holds $count photos, the paintings, VGG19, the binary$([ -f "$dest/clip-1080p.mp4" ] && echo " (with video) and a 1080p clip"): $(mib "$size") MiB; with the working tree ($(mib "$tree") MiB): $(mib $((size + tree))) MiB"
if [ $((size + tree)) -ge $(( 64 * 1048576 )) ]; then
    echo "pack-gpu-carry: over the 64 MiB a GPU machine can be sent; use fewer --photos" >&2
    exit 1
fi
