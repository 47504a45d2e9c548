"""One faststyle training step in PyTorch: the same transformer (random weights of the
same shapes) and the same VGG19 perceptual loss (to block5_conv1: content at block4_conv2,
Gram style at block1..5_conv1, total variation), forward, backward and Adam, timed on
synthetic photos. The peer that `compare.sh --train` (CPU) and `scripts/gpu-check.sh`
(CUDA) measure `faststyle bench --train` against. Prints one JSON object.

    python torch_train_peer.py --size 256x256 --batch 4 --steps 3 [--width 1.0] [--threads N]
        [--device cuda] [--amp off|f16|bf16] [--channels-last]

--amp runs the forward passes under autocast (f32 master weights; f16 with a gradient
scaler), as mixed-precision training does.

VGG19's weights are random here: they do not change the work, and the file is not needed.
"""

import argparse
import json
import os
import time

import torch
from torch import nn
import torch.nn.functional as F


class ConvLayer(nn.Module):
    """Reflection padding by k/2, then an unpadded convolution: as faststyle does."""

    def __init__(self, c_in, c_out, k, stride=1, upsample=False):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv = nn.Conv2d(c_in, c_out, k, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(self.pad(x))


def block(c_in, c_out, k, stride=1, upsample=False, relu=True):
    layers = [ConvLayer(c_in, c_out, k, stride, upsample), nn.InstanceNorm2d(c_out, affine=True)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(block(c, c, 3), block(c, c, 3, relu=False))

    def forward(self, x):
        return x + self.body(x)


class Transformer(nn.Module):
    def __init__(self, width=1.0, residual_blocks=5):
        super().__init__()
        c1, c2, c3 = (max(1, round(c * width)) for c in (32, 64, 128))
        self.net = nn.Sequential(
            block(3, c1, 9),
            block(c1, c2, 3, 2),
            block(c2, c3, 3, 2),
            *[Residual(c3) for _ in range(residual_blocks)],
            block(c3, c2, 3, upsample=True),
            block(c2, c1, 3, upsample=True),
            ConvLayer(c1, 3, 9),
        )

    def forward(self, x):
        # 0..255 in and out, as faststyle's network.
        return (torch.tanh(self.net(x / 127.5 - 1.0)) + 1.0) * 127.5


# VGG19 up to block5_conv1: (name, output channels); "M" is a 2x2 max pool.
VGG19 = [
    ("block1_conv1", 64), ("block1_conv2", 64), "M",
    ("block2_conv1", 128), ("block2_conv2", 128), "M",
    ("block3_conv1", 256), ("block3_conv2", 256), ("block3_conv3", 256), ("block3_conv4", 256), "M",
    ("block4_conv1", 512), ("block4_conv2", 512), ("block4_conv3", 512), ("block4_conv4", 512), "M",
    ("block5_conv1", 512),
]
CONTENT = "block4_conv2"
STYLE = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CAFFE_MEAN = [103.939, 116.779, 123.68]


class Vgg(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList()
        self.names = []
        c = 3
        for item in VGG19:
            if item == "M":
                self.layers.append(nn.MaxPool2d(2))
                self.names.append(None)
            else:
                name, c_out = item
                self.layers.append(nn.Conv2d(c, c_out, 3, padding=1))
                self.names.append(name)
                c = c_out
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, rgb, upto="block5_conv1"):
        mean = torch.tensor(CAFFE_MEAN, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
        x = rgb.flip(1) - mean  # Caffe: BGR, 0..255, mean subtracted
        out = {}
        for layer, name in zip(self.layers, self.names):
            x = layer(x)
            if name is not None:
                x = F.relu(x)
                out[name] = x
                if name == upto:
                    break
        return out


def gram(f):
    n, c, h, w = f.shape
    # In f32 under autocast too: an f16 sum over a 256x256 crop overflows.
    with torch.autocast(f.device.type, enabled=False):
        f = f.float().reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256x256")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=["off", "f16", "bf16"], default="off")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    w, h = (int(v) for v in args.size.split("x"))
    memory = torch.channels_last if args.channels_last else torch.contiguous_format

    model = Transformer(args.width).to(device, memory_format=memory)
    vgg = Vgg().eval().to(device, memory_format=memory)
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    photos = (torch.arange(args.batch * 3 * h * w) * 7919 % 251).float().reshape(args.batch, 3, h, w)
    photos = photos.to(device, memory_format=memory)
    amp = {"f16": torch.float16, "bf16": torch.bfloat16}.get(args.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp == "f16")
    with torch.no_grad():
        painting = vgg(torch.rand(1, 3, 256, 256, device=device) * 255)
        style_targets = [gram(painting[n]) for n in STYLE]

    def step():
        optim.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            with torch.no_grad():
                content_target = vgg(photos, upto=CONTENT)[CONTENT]
            y = model(photos)
            feats = vgg(y)
            content = F.mse_loss(feats[CONTENT].float(), content_target.float())
            style = sum(F.mse_loss(gram(feats[n]), t.expand(args.batch, -1, -1))
                        for n, t in zip(STYLE, style_targets))
            y = y.float()
            tv = (y[:, :, 1:, :] - y[:, :, :-1, :]).pow(2).mean() + (y[:, :, :, 1:] - y[:, :, :, :-1]).pow(2).mean()
            loss = content + 10.0 * style + 1e-2 * tv
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
        return loss.item()  # waits for the GPU

    step()  # warm-up: allocations, oneDNN primitives, cuDNN autotuning
    step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "peer": f"pytorch {torch.__version__}", "device": str(device), "amp": args.amp,
        "channels_last": args.channels_last,
        "width": w, "height": h, "batch": args.batch, "steps": args.steps,
        "network_width": args.width, "threads": args.threads,
        "ms_per_step": 1e3 * seconds / args.steps, "steps_per_s": args.steps / seconds,
    }))


if __name__ == "__main__":
    main()
