"""faststyle's network in PyTorch at its best, for `scripts/gpu-check.sh` to hold faststyle's
CUDA figures against in the same run: the same layers (torch_train_peer.Transformer) with
random weights of the same shapes, frames in batches, timed after cuDNN's autotuning.

Each configuration is one JSON line: size, batch, how it ran (precision, channels_last,
torch.compile) and frames per second. Precisions: f32 (TF32 off, as faststyle's f32),
tf32, f16 and bf16 by autocast, and f16h, the whole network and its input in half
precision (no casts at all). The last line ("best") names the fastest configuration of
each size.

    python torch_infer_peer.py [--device cuda] [--sizes 1280x720,1920x1080]
        [--batches 1,4,8,16] [--precisions f32,tf32,f16,bf16,f16h] [--frames 64]
        [--compile]

--compile adds a torch.compile run of the fastest eager configuration of each size (its
compilation is not timed; a failure is reported, not fatal). On a machine without CUDA
it runs on the CPU at whatever sizes it is given, which is how it is tested.
"""

import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train_peer import Transformer  # noqa: E402

AUTOCAST = {"f16": torch.float16, "bf16": torch.bfloat16}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model, device, w, h, batch, precision, frames, channels_last):
    """Frames per second of `model` on random frames, after a warm-up."""
    memory = torch.channels_last if channels_last else torch.contiguous_format
    dtype = torch.float16 if precision == "f16h" else torch.float32
    x = (torch.rand(batch, 3, h, w, device=device) * 255).to(dtype=dtype, memory_format=memory)
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    runs = max(2, math.ceil(frames / batch))

    def run():
        with torch.inference_mode():
            if precision in AUTOCAST:
                with torch.autocast(device.type, dtype=AUTOCAST[precision]):
                    return model(x)
            return model(x)

    for _ in range(3):  # cuDNN autotuning, allocations, compilation
        run()
    sync(device)
    start = time.perf_counter()
    for _ in range(runs):
        y = run()
    sync(device)
    seconds = time.perf_counter() - start
    assert y.shape == (batch, 3, h, w)
    return runs * batch / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--batches", default="1,4,8,16")
    ap.add_argument("--precisions", default="f32,tf32,f16,bf16,f16h")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    base = Transformer().to(device).eval()
    models = {}

    def model_for(precision, channels_last):
        key = (precision == "f16h", channels_last)
        if key not in models:
            m = Transformer().to(device).eval()
            m.load_state_dict(base.state_dict())
            if channels_last:
                m = m.to(memory_format=torch.channels_last)
            if precision == "f16h":
                m = m.half()
            models[key] = m
        return models[key]

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    best = {}
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        for batch in (int(b) for b in args.batches.split(",")):
            for precision in args.precisions.split(","):
                # NCHW too where PyTorch might prefer it; the rest is fastest channels_last.
                for channels_last in (True, False) if precision in ("f32", "f16h") else (True,):
                    row = {"size": size, "batch": batch, "precision": precision,
                           "channels_last": channels_last, "compiled": False}
                    try:
                        fps = measure(model_for(precision, channels_last), device, w, h,
                                      batch, precision, args.frames, channels_last)
                        row["fps"] = round(fps, 2)
                    except Exception as e:  # e.g. out of memory at a large batch
                        row["error"] = str(e).splitlines()[0][:200]
                        if device.type == "cuda":
                            torch.cuda.empty_cache()
                    print(json.dumps(row), flush=True)
                    if row.get("fps", 0) > best.get(size, {}).get("fps", 0):
                        best[size] = row
        if args.compile and size in best:
            row = dict(best[size], compiled=True)
            try:
                eager = model_for(row["precision"], row["channels_last"])
                compiled = torch.compile(eager)
                row["fps"] = round(measure(compiled, device, w, h, row["batch"], row["precision"],
                                           args.frames, row["channels_last"]), 2)
            except Exception as e:
                row.pop("fps")
                row["error"] = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            print(json.dumps(row), flush=True)
            if row.get("fps", 0) > best[size]["fps"]:
                best[size] = row
    print(json.dumps({"best": best, "peer": f"pytorch {torch.__version__}", "device": name,
                      "cudnn": torch.backends.cudnn.version()}))


if __name__ == "__main__":
    main()
