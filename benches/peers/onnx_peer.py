"""The faststyle network, built layer for layer in ONNX with random weights of the same
shapes, timed with onnxruntime on the CPU: the peer that `compare.sh` measures faststyle
against. Prints one JSON object per size.

    python onnx_peer.py --size 640x360 --frames 8 [--width 1.0] [--threads N]
"""

import argparse
import json
import os
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def build(width: float, residual_blocks: int = 5) -> onnx.ModelProto:
    c1, c2, c3 = (max(1, round(c * width)) for c in (32, 64, 128))
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def const(array, prefix):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def conv(x, c_in, c_out, k, stride):
        # Reflection padding by k/2, then an unpadded convolution: as faststyle does.
        p = k // 2
        pads = const(np.array([0, 0, p, p, 0, 0, p, p], dtype=np.int64), "pads")
        padded = name("pad")
        nodes.append(helper.make_node("Pad", [x, pads], [padded], mode="reflect"))
        bound = 1.0 / np.sqrt(c_in * k * k)
        w = const(rng.uniform(-bound, bound, (c_out, c_in, k, k)).astype(np.float32), "w")
        b = const(rng.uniform(-bound, bound, c_out).astype(np.float32), "b")
        y = name("conv")
        nodes.append(helper.make_node("Conv", [padded, w, b], [y], kernel_shape=[k, k], strides=[stride, stride]))
        return y

    def norm(x, c, relu):
        scale = const(np.ones(c, dtype=np.float32), "scale")
        shift = const(np.zeros(c, dtype=np.float32), "shift")
        y = name("in")
        nodes.append(helper.make_node("InstanceNormalization", [x, scale, shift], [y], epsilon=1e-5))
        if relu:
            r = name("relu")
            nodes.append(helper.make_node("Relu", [y], [r]))
            return r
        return y

    def upsample(x):
        scales = const(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
        y = name("up")
        nodes.append(helper.make_node("Resize", [x, "", scales], [y], mode="nearest"))
        return y

    x = norm(conv("input", 3, c1, 9, 1), c1, True)
    x = norm(conv(x, c1, c2, 3, 2), c2, True)
    x = norm(conv(x, c2, c3, 3, 2), c3, True)
    for _ in range(residual_blocks):
        y = norm(conv(x, c3, c3, 3, 1), c3, True)
        y = norm(conv(y, c3, c3, 3, 1), c3, False)
        s = name("res")
        nodes.append(helper.make_node("Add", [x, y], [s]))
        x = s
    x = norm(conv(upsample(x), c3, c2, 3, 1), c2, True)
    x = norm(conv(upsample(x), c2, c1, 3, 1), c1, True)
    x = conv(x, c1, 3, 9, 1)
    t = name("tanh")
    nodes.append(helper.make_node("Tanh", [x], [t]))
    one = const(np.array(1.0, dtype=np.float32), "one")
    half = const(np.array(127.5, dtype=np.float32), "half")
    s = name("plus")
    nodes.append(helper.make_node("Add", [t, one], [s]))
    nodes.append(helper.make_node("Mul", [s, half], ["output"]))
    graph = helper.make_graph(
        nodes,
        "faststyle",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(build(args.width).SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = (np.arange(args.batch * 3 * h * w) * 7919 % 251).astype(np.float32).reshape(args.batch, 3, h, w)
    session.run(None, {"input": x})  # warm-up
    runs = -(-args.frames // args.batch)
    start = time.perf_counter()
    for _ in range(runs):
        session.run(None, {"input": x})
    seconds = time.perf_counter() - start
    frames = runs * args.batch
    print(json.dumps({
        "peer": f"onnxruntime {ort.__version__}",
        "width": w, "height": h, "batch": args.batch, "frames": frames,
        "network_width": args.width, "threads": args.threads,
        "ms_per_frame": 1e3 * seconds / frames, "fps": frames / seconds,
    }))


if __name__ == "__main__":
    main()
