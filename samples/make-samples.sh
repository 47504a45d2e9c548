#!/usr/bin/env bash
# Regenerates the project's own sample media from FFmpeg's synthetic sources (no outside
# footage): a 4-second 640x360 clip with a stereo audio track, and a still frame of it.
#   samples/clip.mp4   H.264 + AAC, 25 fps (used by the README's first example)
#   samples/still.png  frame 50 of the clip
set -euo pipefail
cd "$(dirname "$0")"

# A slowly zooming Mandelbrot set (smooth colour fields and fine detail, like a photo has)
# with a moving test card inset; a two-tone chord for audio.
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "mandelbrot=size=640x360:rate=25:start_scale=2.5:end_scale=0.8:end_pts=200:outer=normalized_iteration_count" \
  -f lavfi -i "testsrc2=size=160x90:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -f lavfi -i "sine=frequency=659:sample_rate=48000" \
  -filter_complex "[0:v][1:v]overlay=x='20+t*100':y=250,format=yuv420p[v];[2:a][3:a]join=inputs=2:channel_layout=stereo,volume=0.3[a]" \
  -map "[v]" -map "[a]" -t 4 \
  -c:v libx264 -preset slow -crf 26 -pix_fmt yuv420p -movflags +faststart \
  -c:a aac -b:a 96k \
  -metadata title="faststyle sample clip" \
  clip.mp4

ffmpeg -hide_banner -loglevel error -y -i clip.mp4 -vf "select=eq(n\,50)" -frames:v 1 still.png
ls -l clip.mp4 still.png
