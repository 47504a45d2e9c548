#!/usr/bin/env bash
# The README's gallery, made by faststyle from the project's own samples: for every style
# in styles/, samples/still.png and one frame of samples/clip.mp4 stylized at their own size
# (640x360), then shown as small JPEGs in docs/gallery/, beside the two inputs; then the real
# photographs in samples/photos/ (sources and licences in SOURCES.md there) stylized by every
# style at their own size and kept at that size, so the strokes show when a picture is opened.
# Prints the two Markdown tables the README shows.
#
#   scripts/make-gallery.sh [FASTSTYLE]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/faststyle}"
out=docs/gallery
frame_at=0.5 # seconds into the clip (the still is at 2.0)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

small() { ffmpeg -v error -y -i "$1" -vf scale=320:-2 -q:v 3 "$2"; }
# stylize INPUT STYLE OUTPUT: faststyle's log only when it fails.
stylize() { "$bin" image "$1" --style "$2" -o "$3" -y > /dev/null 2> "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }; }
ffmpeg -v error -y -ss "$frame_at" -i samples/clip.mp4 -frames:v 1 "$tmp/frame.png"
small samples/still.png "$out/input-still.jpg"
small "$tmp/frame.png" "$out/input-clip.jpg"

echo "| style | still | clip frame |"
echo "|---|---|---|"
echo "| (input) | ![input](docs/gallery/input-still.jpg) | ![input](docs/gallery/input-clip.jpg) |"
for file in styles/*.safetensors; do
    name=$(basename "$file" .safetensors)
    stylize samples/still.png "$file" "$tmp/still.png"
    stylize "$tmp/frame.png" "$file" "$tmp/clip.png"
    small "$tmp/still.png" "$out/$name-still.jpg"
    small "$tmp/clip.png" "$out/$name-clip.jpg"
    echo "| $name | ![$name](docs/gallery/$name-still.jpg) | ![$name](docs/gallery/$name-clip.jpg) |"
done

photos=()
for path in samples/photos/*.jpg; do photos+=("$(basename "$path" .jpg)"); done
header="| style |"; rule="|---|"; inputs="| (photo) |"
for photo in "${photos[@]}"; do
    header+=" $photo |"; rule+="---|"
    ffmpeg -v error -y -i "samples/photos/$photo.jpg" -q:v 3 "$out/photo-$photo.jpg"
    inputs+=" ![$photo](docs/gallery/photo-$photo.jpg) |"
done
echo
echo "$header"
echo "$rule"
echo "$inputs"
for file in styles/*.safetensors; do
    name=$(basename "$file" .safetensors)
    row="| $name |"
    for photo in "${photos[@]}"; do
        stylize "samples/photos/$photo.jpg" "$file" "$tmp/$photo.png"
        ffmpeg -v error -y -i "$tmp/$photo.png" -q:v 3 "$out/$name-$photo.jpg"
        row+=" ![$name on $photo](docs/gallery/$name-$photo.jpg) |"
    done
    echo "$row"
done
