"""lengstrom/fast-style-transfer's trained network (2016, TensorFlow), rebuilt layer for
layer in ONNX from the raw float32 port of its weights (reiinakano's, see
../shared/peers/README.md) and run with onnxruntime on the CPU. Stylizes every photo of a
folder into PNGs of the same names, for `faststyle eval --stylized` to score.

    python lengstrom_peer.py --weights DIR --images DIR --out DIR [--scale S] [--threads N]

The network: 9x9 conv 32, stride-2 3x3 convs to 64 and 128, five residual blocks, two
stride-2 3x3 transposed convs, 9x9 conv to 3; no conv biases; TensorFlow SAME zero padding
(the odd pixel of a strided conv's padding at the bottom/right); instance norm over H and W
with eps 1e-3, biased variance, then scale and shift; output tanh(x)*150 + 127.5, clipped to
0..255. Sides that are not multiples of 4 are padded (reflect) and cropped back.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}


def load_weights(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    weights = {}
    for name, entry in manifest.items():
        data = np.fromfile(os.path.join(folder, entry["filename"]), dtype="<f4")
        weights[name] = data.reshape(entry["shape"])
    return weights


def build(weights):
    nodes, inits = [], []
    counter = [0]

    def var(i):
        return weights["Variable" if i == 0 else f"Variable_{i}"]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def const(array, prefix):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), n))
        return n

    def same_pads(k, stride):
        # TF SAME for even input sides (always so here: the input is padded to a multiple of
        # 4): total padding max(k - stride, 0), the odd pixel after.
        total = max(k - stride, 0)
        before = total // 2
        return [before, before, total - before, total - before]

    def conv(x, i, k, stride):
        w = const(var(i).transpose(3, 2, 0, 1), "w")  # (kh, kw, in, out) -> (out, in, kh, kw)
        y = name("conv")
        nodes.append(helper.make_node("Conv", [x, w], [y], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=same_pads(k, stride)))
        return y

    def conv_transpose(x, i, k, stride):
        # TF conv2d_transpose with SAME and output 2H x 2W is the gradient of a stride-2 SAME
        # conv (padding 0 before, 1 after): the full (2H + 1) output with its last row and
        # column dropped. Its kernel is (kh, kw, out, in); ONNX wants (in, out, kh, kw).
        w = const(var(i).transpose(3, 2, 0, 1), "wt")
        y = name("convt")
        nodes.append(helper.make_node("ConvTranspose", [x, w], [y], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[0, 0, 1, 1]))
        return y

    def norm(x, i, relu):
        # Variables i (the conv), i+1 shift, i+2 scale.
        shift, scale = var(i + 1), var(i + 2)
        y = name("in")
        nodes.append(helper.make_node("InstanceNormalization",
                                      [x, const(scale, "scale"), const(shift, "shift")], [y],
                                      epsilon=1e-3))
        if relu:
            r = name("relu")
            nodes.append(helper.make_node("Relu", [y], [r]))
            return r
        return y

    x = norm(conv("input", 0, 9, 1), 0, True)
    x = norm(conv(x, 3, 3, 2), 3, True)
    x = norm(conv(x, 6, 3, 2), 6, True)
    for block in range(5):
        i = 9 + 6 * block
        y = norm(conv(x, i, 3, 1), i, True)
        y = norm(conv(y, i + 3, 3, 1), i + 3, False)
        s = name("res")
        nodes.append(helper.make_node("Add", [x, y], [s]))
        x = s
    x = norm(conv_transpose(x, 39, 3, 2), 39, True)
    x = norm(conv_transpose(x, 42, 3, 2), 42, True)
    x = norm(conv(x, 45, 9, 1), 45, False)
    t = name("tanh")
    nodes.append(helper.make_node("Tanh", [x], [t]))
    scaled = name("scaled")
    nodes.append(helper.make_node("Mul", [t, const(np.array(150.0), "k")], [scaled]))
    shifted = name("shifted")
    nodes.append(helper.make_node("Add", [scaled, const(np.array(127.5), "c")], [shifted]))
    nodes.append(helper.make_node("Clip", [shifted, const(np.array(0.0), "lo"),
                                           const(np.array(255.0), "hi")], ["output"]))
    graph = helper.make_graph(
        nodes,
        "lengstrom",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def stylize(session, rgb):
    """rgb: HxWx3 uint8 -> HxWx3 uint8, padded (reflect) to a multiple of 4 and cropped back."""
    h, w, _ = rgb.shape
    ph, pw = -h % 4, -w % 4
    top, left = ph // 2, pw // 2
    x = np.pad(rgb.astype(np.float32), ((top, ph - top), (left, pw - left), (0, 0)), mode="reflect")
    y = session.run(None, {"input": x.transpose(2, 0, 1)[None]})[0][0]
    y = y.transpose(1, 2, 0)[top:top + h, left:left + w]
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True, help="a folder of the port: manifest.json + variables")
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="resize the photos by this first (bicubic)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    session = ort.InferenceSession(build(load_weights(args.weights)).SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    os.makedirs(args.out, exist_ok=True)
    photos = sorted(p for p in os.listdir(args.images)
                    if os.path.splitext(p)[1].lower() in PHOTO_EXTENSIONS)
    for i, p in enumerate(photos):
        img = Image.open(os.path.join(args.images, p)).convert("RGB")
        if args.scale != 1.0:
            img = img.resize((round(img.width * args.scale), round(img.height * args.scale)), Image.BICUBIC)
        out = stylize(session, np.asarray(img))
        Image.fromarray(out).save(os.path.join(args.out, os.path.splitext(p)[0] + ".png"))
        print(f"\r{i + 1}/{len(photos)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
