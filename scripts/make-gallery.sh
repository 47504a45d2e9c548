#!/usr/bin/env bash
# The README's gallery, made by faststyle from the project's own samples: for every style
# in styles/, samples/still.png and one frame of samples/clip.mp4 stylized at their own size
# (640x360), then shown as small JPEGs in docs/gallery/, beside the two inputs; prints the
# Markdown table the README shows.
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
ffmpeg -v error -y -ss "$frame_at" -i samples/clip.mp4 -frames:v 1 "$tmp/frame.png"
small samples/still.png "$out/input-still.jpg"
small "$tmp/frame.png" "$out/input-clip.jpg"

echo "| style | still | clip frame |"
echo "|---|---|---|"
echo "| (input) | ![input](docs/gallery/input-still.jpg) | ![input](docs/gallery/input-clip.jpg) |"
for file in styles/*.safetensors; do
    name=$(basename "$file" .safetensors)
    "$bin" image samples/still.png --style "$file" -o "$tmp/still.png" -y > /dev/null 2> "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
    "$bin" image "$tmp/frame.png" --style "$file" -o "$tmp/clip.png" -y > /dev/null 2> "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
    small "$tmp/still.png" "$out/$name-still.jpg"
    small "$tmp/clip.png" "$out/$name-clip.jpg"
    echo "| $name | ![$name](docs/gallery/$name-still.jpg) | ![$name](docs/gallery/$name-clip.jpg) |"
done
