#!/usr/bin/env bash
# faststyle's shipped styles against lengstrom/fast-style-transfer's trained models of the
# same paintings, on the same photos, scored by `faststyle eval` with the training's own
# definitions (content: block4_conv2 feature MSE against the photo; style: Gram MSE over
# block1..5_conv1 against the painting at 512; ratio: stylized / unstylized style loss).
# Prints one table row per system and style, and how many photos each side wins on.
#
#   benches/peers/quality.sh --peers DIR --paintings DIR --images DIR [--out DIR]
#       [--max-size N] [--scale S] [STYLE ...]
#
# --peers is the folder holding lengstrom/{scream,wave,wreck}/ (the raw float32 port of
# its weights, see that folder's README); the peer runs in onnxruntime (lengstrom_peer.py,
# installed into benches/peers/.venv on first use). --scale S resizes the photos by S
# first (e.g. 2 for the sizes of HD video), for both systems. Default styles: every style
# in styles/; those with a lengstrom model of their painting get a peer row too.
# --out keeps both systems' pictures and the JSON reports (default: a temporary folder);
# a peer folder there that already has a picture for every photo is reused, not redone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peers="" paintings="" images="" out="" max_size=100000 scale=1
styles=()
while [ $# -gt 0 ]; do
    case "$1" in
        --peers) peers="$2"; shift 2 ;;
        --paintings) paintings="$2"; shift 2 ;;
        --images) images="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --max-size) max_size="$2"; shift 2 ;;
        --scale) scale="$2"; shift 2 ;;
        -*) echo "quality: unknown option $1" >&2; exit 2 ;;
        *) styles+=("$1"); shift ;;
    esac
done
if [ -z "$peers" ] || [ -z "$paintings" ] || [ -z "$images" ]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
bin="$root/target/release/faststyle"
[ -x "$bin" ] || { echo "build first: cargo build --release --locked" >&2; exit 1; }
venv="$here/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import onnxruntime, onnx, PIL' 2>/dev/null ||
    "$venv/bin/pip" install --quiet onnxruntime==1.32.0 onnx==1.23.2 numpy pillow
kept="$out"
if [ -z "$out" ]; then
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
if [ ${#styles[@]} -eq 0 ]; then
    for f in "$root"/styles/*.safetensors; do styles+=("$(basename "$f" .safetensors)"); done
fi

# The photos both systems see, as PNG (so that faststyle's outputs are PNG too, like the
# peer's), resized by --scale if asked.
photos="$out/photos-x$scale"
mkdir -p "$photos"
"$venv/bin/python" - "$images" "$photos" "$scale" <<'PY'
import os, sys
from PIL import Image
src, dst, s = sys.argv[1], sys.argv[2], float(sys.argv[3])
for p in sorted(os.listdir(src)):
    if os.path.splitext(p)[1].lower() in {".jpg", ".jpeg", ".png", ".webp"}:
        img = Image.open(os.path.join(src, p)).convert("RGB")
        if s != 1:
            img = img.resize((round(img.width * s), round(img.height * s)), Image.BICUBIC)
        img.save(os.path.join(dst, os.path.splitext(p)[0] + ".png"))
PY

# style name -> painting file and lengstrom model (empty: no peer model of that painting)
painting_of() {
    case "$1" in
        the-scream*) echo the_scream.jpg ;; great-wave*) echo wave.jpg ;;
        shipwreck*) echo shipwreck.jpg ;; starry-night*) echo starry_night.jpg ;;
        composition-vii*) echo composition_vii.jpg ;; *) echo "" ;;
    esac
}
peer_of() {
    case "$1" in
        the-scream*) echo scream ;; great-wave*) echo wave ;; shipwreck*) echo wreck ;; *) echo "" ;;
    esac
}

score() { # name, painting: scores the pictures in $out/NAME/ into $out/NAME.json
    "$bin" eval --json --per-photo --images "$photos" --max-size "$max_size" \
        --stylized "$out/$1" --style-image "$2" > "$out/$1.json"
}

done_peers=" "
for s in "${styles[@]}"; do
    painting="$(painting_of "$s")"
    [ -n "$painting" ] || { echo "quality: no painting known for $s" >&2; exit 2; }
    echo "quality: $s" >&2
    # Both systems are scored from the 8-bit pictures they write, as a user gets them.
    "$bin" image "$photos" --style "$s" --max-size "$max_size" --out-dir "$out/$s" \
        --overwrite > /dev/null
    score "$s" "$paintings/$painting"
    peer="$(peer_of "$s")"
    if [ -n "$peer" ] && [[ "$done_peers" != *" $peer "* ]]; then
        echo "quality: lengstrom $peer" >&2
        made="$out/lengstrom-$peer"
        if [ "$(ls "$made" 2>/dev/null | wc -l)" != "$(ls "$photos" | wc -l)" ]; then
            "$venv/bin/python" "$here/lengstrom_peer.py" --weights "$peers/lengstrom/$peer" \
                --images "$photos" --out "$made"
        fi
        score "lengstrom-$peer" "$paintings/$painting"
        done_peers="$done_peers$peer "
    fi
done

"$venv/bin/python" - "$out" "$kept" "${styles[@]}" <<'PY'
import json, os, sys
out, styles = sys.argv[1], sys.argv[3:]
peer_of = {"the-scream": "scream", "great-wave": "wave", "shipwreck": "wreck"}

def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)

print(f"{'system':<28} {'photos':>6} {'content':>10} {'style':>10} {'ratio':>7}  vs peer")
for s in styles:
    ours = load(s)
    base = next((p for k, p in peer_of.items() if s.startswith(k)), None)
    peer = load("lengstrom-" + base) if base else None
    for name, r in [("faststyle " + s, ours)] + ([("lengstrom " + base, peer)] if peer else []):
        note = ""
        if r is ours and peer:
            a, b = ours["per_photo"], peer["per_photo"]
            style_wins = sum(x["stylized"]["style"] <= y["stylized"]["style"] for x, y in zip(a, b))
            content_wins = sum(x["stylized"]["content"] <= y["stylized"]["content"] for x, y in zip(a, b))
            dominates = (ours["style_ratio"] <= peer["style_ratio"]
                         and ours["stylized"]["content"] <= peer["stylized"]["content"])
            note = (f"style lower on {style_wins}/{len(a)}, content lower on {content_wins}/{len(a)}; "
                    f"{'dominates' if dominates else 'does not dominate'}")
        print(f"{name:<28} {r['photos']:>6} {r['stylized']['content']:>10.3e} "
              f"{r['stylized']['style']:>10.3e} {r['style_ratio']:>7.3f}  {note}")
print(f"both systems' pictures are in {out}: look at them" if sys.argv[2]
      else "pass --out DIR to keep both systems' pictures and look at them")
PY
