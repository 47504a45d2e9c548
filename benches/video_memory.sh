#!/usr/bin/env bash
# Peak memory and throughput of `faststyle video` on a short and a long clip of the same
# content: with bounded queues the peak must not grow with the length.
#   benches/video_memory.sh [STYLE_FILE] [SIZE] [SHORT_S] [LONG_S]
# Without a style file an untrained width-0.25 network is used (speed, not looks, matter).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/faststyle
SIZE="${2:-160x120}"
SHORT="${3:-5}"
LONG="${4:-60}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

style="${1:-}"
if [ -z "$style" ]; then
  style="$work/random.safetensors"
  cargo run --quiet --release --example random_style -- "$style" 0.25
fi
for seconds in "$SHORT" "$LONG"; do
  ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=$SIZE:rate=25" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -ac 2 -t "$seconds" \
    -c:v libx264 -c:a aac "$work/clip-$seconds.mp4"
  /usr/bin/time -v "$BIN" video "$work/clip-$seconds.mp4" --style "$style" \
    -o "$work/out-$seconds.mp4" 2> "$work/log-$seconds.txt" || { cat "$work/log-$seconds.txt"; exit 1; }
  rss_kb=$(grep "Maximum resident set size" "$work/log-$seconds.txt" | awk '{print $NF}')
  summary=$(grep "^wrote" "$work/log-$seconds.txt")
  echo "clip ${seconds}s $SIZE: peak RSS $((rss_kb / 1024)) MiB; $summary"
  grep -E "^  (decode|stylize|encode)" "$work/log-$seconds.txt"
done
