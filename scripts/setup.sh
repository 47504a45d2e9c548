#!/usr/bin/env bash
# Installs everything faststyle needs on a fresh Debian or Ubuntu machine:
#   1. system packages (FFmpeg libraries and CLI, clang, pkg-config, Python for the weights,
#      the X11 libraries of `faststyle live`'s window, Xvfb + xdotool for its tests,
#      Slurm's daemons and client for the localhost cluster of deploy/slurm's test, and
#      Mesa's software Vulkan (lavapipe) on which the GPU kernels' tests run without a GPU),
#   2. the VGG19 weights that training uses (verified by md5), into the cache folder,
#   3. the release build (binary, tests, benches, examples).
# Needs a Rust toolchain (rustup) and root or sudo for the packages. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  ffmpeg pkg-config clang
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev
  python3 python3-pip fonts-dejavu-core
  libx11-6 libxcursor1 xvfb xdotool
  slurmctld slurmd slurm-client
  mesa-vulkan-drivers libvulkan1
)
source scripts/lib/apt.sh
ensure_packages setup "${packages[@]}"

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust first (https://rustup.rs), then re-run" >&2
  exit 1
fi

scripts/fetch-vgg19.sh

echo "setup: building (release)"
cargo build --release --locked --all-targets
echo "setup: done; the binary is target/release/faststyle"
