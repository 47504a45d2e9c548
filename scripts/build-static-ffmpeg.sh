#!/usr/bin/env bash
# Builds a minimal FFmpeg as static libraries, from the Debian source package of the FFmpeg
# this machine has (the same version its headers and tests use), for a faststyle binary
# that carries its own FFmpeg: `--features static-ffmpeg`. Such a binary runs video on a
# machine with no FFmpeg at all (the GPU machines: a driver and PyTorch, nothing else).
#
#   scripts/build-static-ffmpeg.sh [PREFIX]      # default PREFIX: target/static-ffmpeg
#   PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cargo build --release --features static-ffmpeg
#
# What it holds: H.264, HEVC, VP8, VP9, MPEG-4, MPEG-2, MJPEG and ProRes decoding; libx264
# (Debian's static libx264.a, copied beside the libraries so that it links statically),
# MPEG-4 and MJPEG encoding; MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV and NUT demuxing and
# muxing; the audio parsers that stream copy needs. No network, no hardware decoders, no
# other system library (--disable-autodetect), so the binary needs only glibc.
# Needs root or sudo for nasm, libx264-dev and the build tools if they are missing; about
# 10 minutes on 2 cores. Safe to re-run: an existing PREFIX/lib/libavcodec.a is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-target/static-ffmpeg}"
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
if [ -f "$prefix/lib/libavcodec.a" ] && [ -f "$prefix/lib/libx264.a" ]; then
    echo "build-static-ffmpeg: $prefix already holds the libraries"
    exit 0
fi

source scripts/lib/apt.sh
ensure_packages build-static-ffmpeg nasm libx264-dev make gcc pkg-config dpkg-dev xz-utils

# The source of the installed libavcodec, from the distribution's own source lists (a
# private copy of them with deb-src, so the machine's apt setup is left as it was).
version=$(dpkg-query -W -f='${Version}' libavcodec-dev 2>/dev/null || true)
work="$prefix/src"
mkdir -p "$work/apt/lists/partial"
if [ -z "$(ls -d "$work"/ffmpeg-*/ 2>/dev/null)" ]; then
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && sed 's/^Types: deb$/Types: deb-src/' "$f" > "$work/apt/$(basename "$f")"
    done
    if [ -f /etc/apt/sources.list ]; then
        sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$work/apt/sources.list"
    fi
    apt_opts=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts="$work/apt"
        -o Dir::State::Lists="$work/apt/lists" -o APT::Sandbox::User=root)
    touch "$work/apt/sources.list"
    apt-get "${apt_opts[@]}" update -qq
    spec=ffmpeg
    [ -n "$version" ] && spec="ffmpeg=$version"
    (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "$spec" -qq)
    tar -xf "$work"/ffmpeg_*.orig.tar.xz -C "$work"
fi
src=$(ls -d "$work"/ffmpeg-*/ | head -1)

mkdir -p "$prefix/lib/pkgconfig"
cp "$(dpkg -L libx264-dev | grep '/libx264\.a$')" "$prefix/lib/"
cat > "$prefix/lib/pkgconfig/x264.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=/usr/include
Name: x264
Description: H.264 (MPEG4 AVC) encoder library (Debian's static libx264.a)
Version: $(pkg-config --modversion x264)
Libs: -L\${libdir} -lx264
Libs.private: -lpthread -lm -ldl
Cflags: -I\${includedir} -I\${includedir}/x86_64-linux-gnu
EOF

cd "$src"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" ./configure \
    --prefix="$prefix" --enable-static --disable-shared --enable-pic \
    --disable-programs --disable-doc --disable-network --disable-autodetect \
    --disable-everything --enable-gpl --enable-libx264 \
    --pkg-config-flags=--static \
    --enable-protocol=file,pipe \
    --enable-decoder=h264,hevc,vp8,vp9,mpeg4,mpeg2video,mpeg1video,mjpeg,prores,rawvideo \
    --enable-encoder=libx264,mpeg4,mjpeg,rawvideo \
    --enable-demuxer=mov,matroska,avi,mpegts,flv,nut,h264,hevc,rawvideo,aac,mp3,wav \
    --enable-muxer=mp4,mov,matroska,webm,avi,mpegts,flv,nut,null \
    --enable-parser=h264,hevc,vp8,vp9,mpeg4video,mpegvideo,mjpeg,aac,aac_latm,ac3,mpegaudio,opus,vorbis,flac,dca \
    --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,aac_adtstoasc,extract_extradata,vp9_superframe \
    --enable-swscale --enable-swresample --enable-avfilter --enable-avdevice \
    --enable-filter=scale,format,null,anull \
    > "$prefix/configure.log"
make -j"$(nproc)" > "$prefix/make.log" 2>&1
make install > "$prefix/install.log" 2>&1
echo "build-static-ffmpeg: static libavcodec $(sed -n 's/^Version: //p' "$prefix/lib/pkgconfig/libavcodec.pc") libraries in $prefix/lib"
